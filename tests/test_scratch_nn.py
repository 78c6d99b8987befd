"""dlbook.scratch.nn: the MLP against a torch MLP with copied weights, initialization, Module plumbing."""

import numpy as np
import pytest
import torch

from dlbook.scratch import Tensor, nn
from dlbook.scratch.functional import cross_entropy


def torch_twin(model: nn.MLP, activation: str, dtype=torch.float64) -> torch.nn.Sequential:
    """A torch.nn MLP holding copies of ``model``'s weights."""
    act = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh}[activation]
    layers = []
    for layer in model.layers:
        if isinstance(layer, nn.Linear):
            twin = torch.nn.Linear(layer.in_features, layer.out_features, dtype=dtype)
            with torch.no_grad():
                twin.weight.copy_(torch.from_numpy(layer.weight.data))
                twin.bias.copy_(torch.from_numpy(layer.bias.data))
            layers.append(twin)
        else:
            layers.append(act())
    return torch.nn.Sequential(*layers)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_mlp_forward_and_backward_match_torch(activation, dtype):
    model = nn.MLP([7, 16, 12, 5], activation=activation, rng=0, dtype=dtype)
    twin = torch_twin(model, activation, dtype=torch.float64 if dtype == np.float64 else torch.float32)
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((9, 7)).astype(dtype), rng.integers(0, 5, 9)

    out = model(Tensor(x))
    loss = cross_entropy(out, y)
    loss.backward()
    ref = twin(torch.from_numpy(x))
    torch.nn.functional.cross_entropy(ref, torch.from_numpy(y)).backward()

    tol = {"rtol": 1e-10, "atol": 1e-12} if dtype == np.float64 else {"rtol": 1e-4, "atol": 1e-6}
    np.testing.assert_allclose(out.data, ref.detach().numpy(), **tol)
    assert out.dtype == dtype
    for ours, theirs in zip(model.parameters(), twin.parameters(), strict=True):
        assert ours.shape == tuple(theirs.shape) and ours.grad.dtype == dtype
        np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), **tol)


def test_sgd_steps_follow_torch():
    """Five plain SGD steps from the same weights give the same losses in both engines."""
    model = nn.MLP([10, 8, 3], rng=2, dtype=np.float64)
    twin = torch_twin(model, "relu")
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((16, 10)), rng.integers(0, 3, 16)
    ours, theirs = [], []
    for _ in range(5):
        model.zero_grad()
        loss = cross_entropy(model(x), y)
        loss.backward()
        for p in model.parameters():
            p.data -= 0.5 * p.grad
        ours.append(loss.item())

        twin.zero_grad()
        ref = torch.nn.functional.cross_entropy(twin(torch.from_numpy(x)), torch.from_numpy(y))
        ref.backward()
        with torch.no_grad():
            for p in twin.parameters():
                p -= 0.5 * p.grad
        theirs.append(ref.item())
    np.testing.assert_allclose(ours, theirs, rtol=1e-10)
    assert ours[-1] < ours[0]


def test_linear_initialization_matches_torch_nn_linear():
    layer = nn.Linear(400, 300, rng=0)
    reference = torch.nn.Linear(400, 300)
    assert layer.weight.shape == tuple(reference.weight.shape) == (300, 400)
    assert layer.bias.shape == tuple(reference.bias.shape)
    assert layer.weight.dtype == np.float32
    for ours, theirs in [(layer.weight.data, reference.weight), (layer.bias.data, reference.bias)]:
        theirs = theirs.detach().numpy()
        bound = 1 / np.sqrt(400)
        assert np.abs(ours).max() <= bound and np.abs(ours).max() > 0.95 * bound
        assert ours.std() == pytest.approx(theirs.std(), rel=0.1)  # both uniform on ±bound
        assert abs(ours.mean()) < 0.1 * bound


def test_linear_seeds_and_options():
    same = nn.Linear(3, 2, rng=5), nn.Linear(3, 2, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(same[0].weight.data, same[1].weight.data)
    assert not np.array_equal(nn.Linear(3, 2, rng=6).weight.data, same[0].weight.data)
    no_bias = nn.Linear(3, 2, bias=False, rng=0)
    assert no_bias.bias is None and len(no_bias.parameters()) == 1
    x = np.ones((4, 3))
    np.testing.assert_allclose(no_bias(x).data, x @ no_bias.weight.data.T)


def test_weight_gradient_is_laid_out_like_the_weight():
    """x @ W.T must not leave W with a transposed gradient (an SGD update on one is ~10x slower)."""
    layer = nn.Linear(6, 4, rng=0)
    layer(np.ones((3, 6), dtype=np.float32)).sum().backward()
    assert layer.weight.grad.flags.c_contiguous


class Block(nn.Module):
    """A module with parameters in an attribute, a list and a sub-module, one weight shared."""

    def __init__(self):
        self.inner = nn.Linear(3, 3, rng=0)
        self.heads = [nn.Linear(3, 2, rng=1), nn.Linear(3, 2, rng=2)]
        self.scale = Tensor(np.ones(3), requires_grad=True)
        self.tied = self.inner.weight
        self.constant = Tensor(np.zeros(3))

    def forward(self, x):
        h = self.inner(x * self.scale).relu()
        return self.heads[0](h) + self.heads[1](h)


def test_parameters_zero_grad_and_train_eval():
    block = Block()
    params = block.parameters()
    expected = [block.inner.weight, block.inner.bias] + [p for h in block.heads for p in (h.weight, h.bias)]
    assert len(params) == 7 and all(any(p is q for p in params) for q in expected + [block.scale])
    block(np.ones((2, 3))).sum().backward()
    assert all(p.grad is not None for p in params)
    block.zero_grad()
    assert all(p.grad is None for p in params)
    assert block.eval() is block and not block.training
    assert not block.inner.training and not block.heads[1].training
    block.train()
    assert block.training and block.heads[0].training


def test_sequential_and_mlp_structure():
    model = nn.MLP([4, 5, 6, 2], activation="tanh", rng=0)
    assert len(model) == 5 and isinstance(model[1], nn.Tanh) and isinstance(model[-1], nn.Linear)
    assert [p.shape for p in model.parameters()] == [(5, 4), (5,), (6, 5), (6,), (2, 6), (2,)]
    assert "Linear(4, 5, bias=True)" in repr(model)


def test_bad_input_raises():
    with pytest.raises(ValueError, match=r"expects inputs with 4 features.*shape \(2, 3\)"):
        nn.MLP([4, 2], rng=0)(np.ones((2, 3)))
    with pytest.raises(ValueError, match="unknown activation"):
        nn.MLP([4, 2], activation="gelu")
    with pytest.raises(ValueError, match="at least an input and an output"):
        nn.MLP([4])
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(np.ones(2))
