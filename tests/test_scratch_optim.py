"""dlbook.scratch.optim against torch.optim on a quadratic, with gradients worked out by hand in numpy."""

import numpy as np
import pytest
import torch

from dlbook.scratch import optim

STEPS = 50
rng = np.random.default_rng(0)
Q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
A = Q @ np.diag([1.0, 10.0, 50.0]) @ Q.T  # ill-conditioned: curvatures 1 to 50
B = rng.normal(size=3)
C = rng.normal(size=(2, 2))
START = [rng.normal(size=3), rng.normal(size=(2, 2))]


class Param:
    """The smallest parameter an optimizer accepts: a ``.data`` array and a ``.grad``."""

    def __init__(self, data):
        self.data = np.array(data, dtype=np.float64)
        self.grad = None


def hand_gradients(x: Param, w: Param) -> None:
    """f = x.A.x / 2 - b.x + 2 |w - c|^2, so df/dx = A x - b and df/dw = 4 (w - c)."""
    x.grad = A @ x.data - B
    w.grad = 4 * (w.data - C)


def torch_loss(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    a, b, c = (torch.from_numpy(v) for v in (A, B, C))
    return x @ a @ x / 2 - b @ x + 2 * ((w - c) ** 2).sum()


def assert_same_trajectory(ours, ref, kwargs: dict, skip_w_every_other_step: bool = False) -> None:
    mine = [Param(s) for s in START]
    theirs = [torch.tensor(s, requires_grad=True) for s in START]
    opt, opt_ref = ours(mine, **kwargs), ref(theirs, **kwargs)
    for step in range(STEPS):
        opt.zero_grad()
        hand_gradients(*mine)
        opt_ref.zero_grad()
        torch_loss(*theirs).backward()
        if skip_w_every_other_step and step % 2:
            mine[1].grad = theirs[1].grad = None
        opt.step()
        opt_ref.step()
        for p, q in zip(mine, theirs, strict=True):
            np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=f"step {step}")
    moved = np.abs(mine[0].data - START[0]).max()
    assert moved > 1e-3, "the optimizer should move the parameters"


@pytest.mark.parametrize("kwargs", [
    dict(), dict(weight_decay=0.1), dict(momentum=0.9), dict(momentum=0.9, weight_decay=0.1),
    dict(momentum=0.9, nesterov=True), dict(momentum=0.5, nesterov=True, weight_decay=0.1),
], ids=str)
def test_sgd_matches_torch(kwargs):
    assert_same_trajectory(optim.SGD, torch.optim.SGD, dict(lr=0.01, **kwargs))


@pytest.mark.parametrize("kwargs", [dict(), dict(alpha=0.9), dict(alpha=0.9, eps=1e-3)], ids=str)
def test_rmsprop_matches_torch(kwargs):
    assert_same_trajectory(optim.RMSProp, torch.optim.RMSprop, dict(lr=0.01, **kwargs))


@pytest.mark.parametrize("kwargs", [
    dict(), dict(betas=(0.8, 0.99)), dict(weight_decay=0.1), dict(betas=(0.5, 0.9), eps=1e-3, weight_decay=0.3),
], ids=str)
@pytest.mark.parametrize("ours, ref", [(optim.Adam, torch.optim.Adam), (optim.AdamW, torch.optim.AdamW)])
def test_adam_and_adamw_match_torch(ours, ref, kwargs):
    assert_same_trajectory(ours, ref, dict(lr=0.05, **kwargs))


@pytest.mark.parametrize("ours, ref, kwargs", [
    (optim.SGD, torch.optim.SGD, dict(lr=0.01, momentum=0.9)),
    (optim.RMSProp, torch.optim.RMSprop, dict(lr=0.01)),
    (optim.Adam, torch.optim.Adam, dict(lr=0.05)),
    (optim.AdamW, torch.optim.AdamW, dict(lr=0.05)),
])
def test_parameters_without_a_gradient_are_skipped_like_torch(ours, ref, kwargs):
    assert_same_trajectory(ours, ref, kwargs, skip_w_every_other_step=True)


def test_zero_grad_forgets_gradients_and_float32_stays_float32():
    p = Param(np.ones(3))
    p.data = p.data.astype(np.float32)
    opt = optim.Adam([p], lr=0.1)
    p.grad = np.ones(3, dtype=np.float32)
    opt.step()
    assert p.data.dtype == np.float32
    np.testing.assert_allclose(p.data, 0.9, rtol=1e-6)  # Adam's first step is lr * sign(g)
    opt.zero_grad()
    assert p.grad is None


@pytest.mark.parametrize("make, error, match", [
    (lambda p: optim.SGD([], lr=0.1), ValueError, "no parameters"),
    (lambda p: optim.SGD([np.ones(3)], lr=0.1), TypeError, r"\.data and \.grad"),
    (lambda p: optim.SGD(p, lr=-0.1), ValueError, "lr"),
    (lambda p: optim.SGD(p, lr=0.1, nesterov=True), ValueError, "nesterov"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=-1), ValueError, "momentum"),
    (lambda p: optim.RMSProp(p, lr=0.1, alpha=1.5), ValueError, "alpha"),
    (lambda p: optim.Adam(p, betas=(0.9, 1.0)), ValueError, r"betas\[1\]"),
    (lambda p: optim.AdamW(p, weight_decay=-1), ValueError, "weight_decay"),
])
def test_bad_arguments_raise_clear_errors(make, error, match):
    with pytest.raises(error, match=match):
        make([Param(np.ones(3))])


def test_a_gradient_of_the_wrong_shape_is_refused():
    p = Param(np.ones(3))
    p.grad = np.ones(1)  # would broadcast silently
    with pytest.raises(ValueError, match=r"shape \(3,\).*shape \(1,\)"):
        optim.SGD([p], lr=0.1).step()


def test_trains_a_scratch_mlp_like_torch():
    from dlbook.scratch import functional, nn

    data = np.random.default_rng(1)
    x, y = data.normal(size=(16, 4)), data.integers(0, 3, size=16)
    model = nn.MLP([4, 8, 3], activation="tanh", rng=0, dtype=np.float64)
    twin = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)).double()
    with torch.no_grad():
        for mine, theirs in zip(model.parameters(), twin.parameters(), strict=True):
            theirs.copy_(torch.from_numpy(mine.data))
    opt, opt_ref = optim.Adam(model.parameters(), lr=0.01), torch.optim.Adam(twin.parameters(), lr=0.01)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        opt_ref.zero_grad()
        torch.nn.functional.cross_entropy(twin(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        opt_ref.step()
    assert losses[-1] < 0.8 * losses[0]
    for mine, theirs in zip(model.parameters(), twin.parameters(), strict=True):
        np.testing.assert_allclose(mine.data, theirs.detach().numpy(), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("make, error, match", [
    (lambda p: optim.SGD(p, lr=0.1, momentum=1.5), ValueError, r"momentum must be in \[0, 1\]"),
    (lambda p: optim.SGD(p, lr=True), TypeError, "lr must be a real number.*bool"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=True), TypeError, "momentum must be a real number.*bool"),
    (lambda p: optim.SGD(p, lr=None), TypeError, "lr must be a real number.*NoneType"),
    (lambda p: optim.SGD(p, lr=float("nan")), ValueError, "lr must be finite"),
    (lambda p: optim.RMSProp(p, lr=0.1, alpha=1.0), ValueError, r"alpha must be in \[0, 1\)"),
    (lambda p: optim.Adam(p, betas=0.9), TypeError, r"betas must be a pair.*\(0\.9, 0\.999\).*float"),
    (lambda p: optim.Adam(p, betas=(0.9, 0.99, 0.1)), TypeError, "betas must be a pair.*3 values"),
    (lambda p: optim.AdamW(p, betas=(0.9, False)), TypeError, r"betas\[1\] must be a real number.*bool"),
])
def test_arguments_that_were_accepted_or_fumbled_get_clear_errors(make, error, match):
    with pytest.raises(error, match=match):
        make([Param(np.ones(3))])


def test_numpy_numbers_are_accepted_as_hyperparameters():
    p = Param(np.ones(3))
    opt = optim.SGD([p], lr=np.float32(0.5), momentum=np.float64(0.5))
    assert type(opt.lr) is float and type(opt.momentum) is float
    adam = optim.Adam([p], lr=np.int64(1), betas=np.array([0.9, 0.99]))
    assert adam.betas == (0.9, 0.99) and all(type(b) is float for b in adam.betas)
    p.grad = np.ones(3)
    opt.step()
    np.testing.assert_allclose(p.data, 0.5)
