"""dlbook.optim against torch.optim: the same trajectory step for step, for every option."""

import copy
import inspect
import itertools

import pytest
import torch
from torch import nn

from dlbook import optim

STEPS = 50
X = torch.randn(32, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
Y = torch.sin(X.sum(1, keepdim=True))
PAIRS = [(optim.SGD, torch.optim.SGD), (optim.RMSprop, torch.optim.RMSprop),
         (optim.Adam, torch.optim.Adam), (optim.AdamW, torch.optim.AdamW)]


def make_model() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    model.unused = nn.Parameter(torch.ones(3, dtype=torch.float64))  # never gets a gradient
    return model


def loss_of(model: nn.Module) -> torch.Tensor:
    return nn.functional.mse_loss(model(X), Y)


def param_groups(model: nn.Module, lr: float, split: dict | None):
    """All parameters in one group, or (``split``) the first layer in a group of its own."""
    if split is None:
        return model.parameters()
    return [{"params": model[0].parameters(), "lr": lr / 3, **split},
            {"params": [*model[2].parameters(), model.unused]}]


def train(model: nn.Module, opt: torch.optim.Optimizer) -> None:
    opt.zero_grad()
    loss_of(model).backward()
    opt.step()


def flat(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def assert_same_trajectory(ours, ref, kwargs: dict, split: dict | None = None) -> None:
    a, b = make_model(), make_model()
    opt_a = ours(param_groups(a, kwargs["lr"], split), **kwargs)
    opt_b = ref(param_groups(b, kwargs["lr"], split), **kwargs)
    start = loss_of(a).item()
    for step in range(STEPS):
        train(a, opt_a)
        train(b, opt_b)
        torch.testing.assert_close(flat(a), flat(b), rtol=1e-10, atol=1e-12, msg=lambda m, s=step: f"step {s}: {m}")
    assert loss_of(a).item() < 0.9 * start, "the optimizer should make progress on this problem"
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert set(opt_a.state[pa]) == set(opt_b.state[pb]), "state keys must be torch's"
    assert torch.equal(a.unused, torch.ones(3, dtype=torch.float64))


def options(**choices):
    return [dict(zip(choices, values, strict=True)) for values in itertools.product(*choices.values())]


SGD_OPTIONS = [o for o in options(momentum=[0, 0.9], dampening=[0, 0.3], nesterov=[False, True],
                                  weight_decay=[0, 0.01])
               if not o["nesterov"] or (o["momentum"] and not o["dampening"])]
RMSPROP_OPTIONS = options(momentum=[0, 0.9], centered=[False, True], weight_decay=[0, 0.01], alpha=[0.99, 0.9])
ADAM_OPTIONS = options(amsgrad=[False, True], weight_decay=[0, 0.1], betas=[(0.9, 0.999), (0.8, 0.99)])


@pytest.mark.parametrize("kwargs", SGD_OPTIONS, ids=str)
def test_sgd_matches_torch(kwargs):
    assert_same_trajectory(optim.SGD, torch.optim.SGD, dict(lr=0.05, **kwargs))


@pytest.mark.parametrize("kwargs", RMSPROP_OPTIONS, ids=str)
def test_rmsprop_matches_torch(kwargs):
    assert_same_trajectory(optim.RMSprop, torch.optim.RMSprop, dict(lr=0.003, **kwargs))


@pytest.mark.parametrize("kwargs", ADAM_OPTIONS, ids=str)
@pytest.mark.parametrize("ours, ref", [(optim.Adam, torch.optim.Adam), (optim.AdamW, torch.optim.AdamW)])
def test_adam_and_adamw_match_torch(ours, ref, kwargs):
    assert_same_trajectory(ours, ref, dict(lr=0.01, **kwargs))


@pytest.mark.parametrize("ours, ref, kwargs, first_group", [
    (optim.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9), dict(nesterov=True, weight_decay=0.01)),
    (optim.RMSprop, torch.optim.RMSprop, dict(lr=0.003), dict(momentum=0.5, centered=True)),
    (optim.Adam, torch.optim.Adam, dict(lr=0.01), dict(amsgrad=True, betas=(0.8, 0.99))),
    (optim.AdamW, torch.optim.AdamW, dict(lr=0.01), dict(weight_decay=0.5, eps=1e-3)),
], ids=["SGD", "RMSprop", "Adam", "AdamW"])
def test_param_groups_with_their_own_settings_match_torch(ours, ref, kwargs, first_group):
    assert_same_trajectory(ours, ref, kwargs, split=first_group)


@pytest.mark.parametrize("ours, ref", PAIRS)
def test_defaults_are_torchs(ours, ref):
    theirs = inspect.signature(ref).parameters
    mine = {name: p.default for name, p in inspect.signature(ours).parameters.items()
            if name not in ("params", "decoupled_weight_decay")}
    assert mine == {name: theirs[name].default for name in mine}


@pytest.mark.parametrize("ours, ref", PAIRS)
def test_closure_is_evaluated_with_grad_and_its_loss_returned(ours, ref):
    a, b = make_model(), make_model()
    opt_a, opt_b = ours(a.parameters(), lr=0.01), ref(b.parameters(), lr=0.01)

    def closure(model, opt):
        opt.zero_grad()
        loss = loss_of(model)
        loss.backward()
        return loss

    with torch.no_grad():  # the closure still needs autograd
        for _ in range(5):
            loss_a, loss_b = opt_a.step(lambda: closure(a, opt_a)), opt_b.step(lambda: closure(b, opt_b))
            torch.testing.assert_close(loss_a, loss_b, rtol=1e-10, atol=0)
    torch.testing.assert_close(flat(a), flat(b), rtol=1e-10, atol=1e-12)
    assert opt_a.step() is None


STATEFUL = [(optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True)),
            (optim.RMSprop, dict(lr=0.003, momentum=0.5, centered=True)),
            (optim.Adam, dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
            (optim.AdamW, dict(lr=0.01, amsgrad=True))]


@pytest.mark.parametrize("cls, kwargs", STATEFUL)
def test_state_dict_round_trip_continues_identically(cls, kwargs):
    a = make_model()
    opt_a = cls(param_groups(a, kwargs["lr"], split={}), **kwargs)
    for _ in range(10):
        train(a, opt_a)
    b = copy.deepcopy(a)
    opt_b = cls(param_groups(b, 1.0, split={}), **{**kwargs, "lr": 1.0})  # lr too comes from the state
    opt_b.load_state_dict(copy.deepcopy(opt_a.state_dict()))
    for _ in range(10):
        train(a, opt_a)
        train(b, opt_b)
    assert torch.equal(flat(a), flat(b))


@pytest.mark.parametrize("direction", ["torch-to-dlbook", "dlbook-to-torch"])
@pytest.mark.parametrize("cls, kwargs", STATEFUL)
def test_state_dict_is_interchangeable_with_torch(cls, kwargs, direction):
    ref = dict(PAIRS)[cls]
    first, second = (ref, cls) if direction == "torch-to-dlbook" else (cls, ref)
    a = make_model()
    opt_a = first(a.parameters(), **kwargs)
    for _ in range(10):
        train(a, opt_a)
    b = copy.deepcopy(a)
    opt_b = second(b.parameters(), **kwargs)
    opt_b.load_state_dict(copy.deepcopy(opt_a.state_dict()))
    for _ in range(10):
        train(a, opt_a)
        train(b, opt_b)
    torch.testing.assert_close(flat(a), flat(b), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("make, match", [
    (lambda p: optim.SGD(p, lr=-0.1), "lr"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=-0.9), "momentum"),
    (lambda p: optim.SGD(p, lr=0.1, weight_decay=-1), "weight_decay"),
    (lambda p: optim.SGD(p, lr=0.1, nesterov=True), "nesterov"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "dampening"),
    (lambda p: optim.RMSprop(p, alpha=-0.5), "alpha"),
    (lambda p: optim.RMSprop(p, eps=-1e-8), "eps"),
    (lambda p: optim.RMSprop(p, lr=float("nan")), "lr"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.999)), r"betas\[0\]"),
    (lambda p: optim.Adam(p, betas=(0.9, -0.1)), r"betas\[1\]"),
    (lambda p: optim.AdamW(p, weight_decay=-0.01), "weight_decay"),
    (lambda p: optim.AdamW(p, lr=-1e-3), "lr"),
])
def test_bad_arguments_raise_clear_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make(make_model().parameters())


@pytest.mark.parametrize("ours, ref", PAIRS)
def test_sparse_gradients_are_refused(ours, ref):
    embedding = nn.Embedding(10, 3, sparse=True)
    opt = ours(embedding.parameters(), lr=0.1)
    embedding(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(RuntimeError, match="sparse"):
        opt.step()


@pytest.mark.parametrize("make, error, match", [
    (lambda p: optim.SGD(p, lr=0.1, momentum=1.5), ValueError, r"momentum must be in \[0, 1\]"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, dampening=2), ValueError, r"dampening must be in \[0, 1\]"),
    (lambda p: optim.SGD(p, lr=True), TypeError, "lr must be a real number.*bool"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=True), TypeError, "momentum must be a real number.*bool"),
    (lambda p: optim.SGD(p, lr="0.1"), TypeError, "lr must be a real number.*str"),
    (lambda p: optim.SGD(p, lr=float("inf")), ValueError, "lr must be finite"),
    (lambda p: optim.RMSprop(p, alpha=1.0), ValueError, r"alpha must be in \[0, 1\)"),
    (lambda p: optim.RMSprop(p, alpha=1.5), ValueError, r"alpha must be in \[0, 1\)"),
    (lambda p: optim.RMSprop(p, momentum=1.5), ValueError, r"momentum must be in \[0, 1\]"),
    (lambda p: optim.Adam(p, betas=0.9), TypeError, r"betas must be a pair.*\(0\.9, 0\.999\).*float"),
    (lambda p: optim.Adam(p, betas=(0.9, 0.99, 0.1)), TypeError, "betas must be a pair.*3 values"),
    (lambda p: optim.Adam(p, betas="ab"), TypeError, "betas must be a pair"),
    (lambda p: optim.AdamW(p, betas=(True, 0.999)), TypeError, r"betas\[0\] must be a real number.*bool"),
])
def test_arguments_torch_accepts_or_fumbles_get_clear_errors(make, error, match):
    with pytest.raises(error, match=match):
        make(make_model().parameters())


def test_numpy_numbers_are_accepted_and_stored_as_python_numbers(tmp_path):
    """np.float32 hyperparameters work, and the state_dict holds plain floats that weights_only loads."""
    import numpy as np

    for opt in (optim.SGD(make_model().parameters(), lr=np.float32(0.1), momentum=np.float64(0.9)),
                optim.RMSprop(make_model().parameters(), lr=np.float32(0.01), alpha=np.float32(0.9)),
                optim.Adam(make_model().parameters(), lr=np.int64(1), betas=np.array([0.9, 0.99]))):
        group = opt.state_dict()["param_groups"][0]
        values = [v for k, v in group.items() if k != "params"]
        assert all(type(v) in (bool, float, tuple, type(None)) for v in values), group
        torch.save(opt.state_dict(), tmp_path / "opt.pt")
        torch.load(tmp_path / "opt.pt", weights_only=True)
