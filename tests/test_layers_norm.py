"""dlbook.layers.BatchNorm1d and LayerNorm against their torch.nn twins: outputs, gradients, running stats,
state_dicts both ways, eval mode and bad input."""

import copy

import pytest
import torch
from torch import nn

from dlbook.layers import BatchNorm1d, LayerNorm

TOL = {"rtol": 1e-5, "atol": 1e-5}


def random_affine(*modules):
    """Give every twin the same non-trivial weight and bias, so the affine part is tested too."""
    g = torch.Generator().manual_seed(1)
    shape = modules[0].weight.shape
    weight, bias = 1 + 0.5 * torch.randn(shape, generator=g), 0.3 * torch.randn(shape, generator=g)
    with torch.no_grad():
        for module in modules:
            module.weight.copy_(weight)
            module.bias.copy_(bias)


def assert_same_state(ours: nn.Module, theirs: nn.Module):
    a, b = ours.state_dict(), theirs.state_dict()
    assert list(a) == list(b)
    for name in a:
        assert a[name].shape == b[name].shape and a[name].dtype == b[name].dtype, name
        torch.testing.assert_close(a[name], b[name], **TOL)


# BatchNorm1d


@pytest.mark.parametrize("shape", [(16, 5), (8, 5, 7)])
@pytest.mark.parametrize("momentum", [0.1, 0.3, None])
def test_batchnorm_train_steps_match_torch(shape, momentum):
    """Several training steps: outputs, input and parameter gradients, and the running statistics."""
    ours, theirs = BatchNorm1d(5, momentum=momentum), nn.BatchNorm1d(5, momentum=momentum)
    random_affine(ours, theirs)
    g = torch.Generator().manual_seed(0)
    for step in range(4):
        x = 3 * torch.randn(shape, generator=g) + step  # the batch statistics drift from step to step
        upstream = torch.randn(shape, generator=g)
        x_ours, x_theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
        y_ours, y_theirs = ours(x_ours), theirs(x_theirs)
        torch.testing.assert_close(y_ours, y_theirs, **TOL)
        (y_ours * upstream).sum().backward()
        (y_theirs * upstream).sum().backward()
        torch.testing.assert_close(x_ours.grad, x_theirs.grad, **TOL)
        assert_same_state(ours, theirs)
    torch.testing.assert_close(ours.weight.grad, theirs.weight.grad, **TOL)
    torch.testing.assert_close(ours.bias.grad, theirs.bias.grad, **TOL)
    assert ours.num_batches_tracked.item() == 4


def test_batchnorm_running_var_is_the_unbiased_variance():
    """After one step with momentum 1 the running statistics are this batch's mean and unbiased variance."""
    x = torch.randn(6, 3, 4)
    layer = BatchNorm1d(3, momentum=1.0)
    layer(x)
    torch.testing.assert_close(layer.running_mean, x.mean((0, 2)))
    torch.testing.assert_close(layer.running_var, x.transpose(0, 1).reshape(3, -1).var(1, unbiased=True))


@pytest.mark.parametrize("shape", [(12, 4), (3, 4, 6)])
def test_batchnorm_eval_uses_running_stats(shape):
    ours, theirs = BatchNorm1d(4), nn.BatchNorm1d(4)
    random_affine(ours, theirs)
    for _ in range(3):
        x = torch.randn(shape) * 2 + 1
        ours(x), theirs(x)
    ours.eval(), theirs.eval()
    x = torch.randn(shape).requires_grad_()
    y = ours(x)
    torch.testing.assert_close(y, theirs(x), **TOL)
    # by hand: the running statistics replace the batch's
    view = (1, -1) if len(shape) == 2 else (1, -1, 1)
    expected = (x - ours.running_mean.view(view)) / torch.sqrt(ours.running_var.view(view) + ours.eps)
    torch.testing.assert_close(y, expected * ours.weight.view(view) + ours.bias.view(view), **TOL)
    tracked = ours.num_batches_tracked.clone()
    ours(torch.randn(1, *shape[1:]))  # one example is fine in eval mode, and changes nothing
    assert ours.num_batches_tracked == tracked


@pytest.mark.parametrize(
    "options", [{"affine": False}, {"track_running_stats": False}, {"bias": False}, {"eps": 0.1}]
)
def test_batchnorm_options_match_torch(options):
    ours, theirs = BatchNorm1d(3, **options), nn.BatchNorm1d(3, **options)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert repr(ours).split("(", 1)[1] == repr(theirs).split("(", 1)[1]
    x = torch.randn(10, 3)
    for mode in (True, False):
        ours.train(mode), theirs.train(mode)
        torch.testing.assert_close(ours(x), theirs(x), **TOL)


def test_batchnorm_state_dict_loads_both_ways():
    trained = nn.BatchNorm1d(6)
    random_affine(trained)
    for _ in range(3):
        trained(torch.randn(9, 6) * 4 - 2)
    ours = BatchNorm1d(6)
    ours.load_state_dict(trained.state_dict())  # strict: same names and shapes
    assert_same_state(ours, trained)
    ours(torch.randn(9, 6))
    back = nn.BatchNorm1d(6)
    back.load_state_dict(ours.state_dict())
    assert_same_state(back, ours)
    back.eval(), ours.eval()
    x = torch.randn(5, 6)
    torch.testing.assert_close(ours(x), back(x), **TOL)


def test_batchnorm_bad_input():
    layer = BatchNorm1d(4)
    with pytest.raises(ValueError, match=r"\(batch, 4\).*got \(4,\)"):
        layer(torch.randn(4))
    with pytest.raises(ValueError, match=r"got \(2, 4, 3, 3\)"):
        layer(torch.randn(2, 4, 3, 3))
    with pytest.raises(ValueError, match=r"BatchNorm1d\(4\).*got \(8, 5\)"):
        layer(torch.randn(8, 5))
    with pytest.raises(ValueError, match=r"more than one value.*model\.eval\(\)"):
        layer(torch.randn(1, 4))
    with pytest.raises(ValueError, match="more than one value"):
        BatchNorm1d(4, track_running_stats=False).eval()(torch.randn(1, 4))  # batch statistics even in eval
    assert layer.num_batches_tracked == 0 and torch.equal(layer.running_mean, torch.zeros(4))
    layer(torch.randn(1, 4, 2))  # one example of length 2 still gives two values per feature
    for bad in (0, 2.0, "4"):
        with pytest.raises(ValueError, match="num_features"):
            BatchNorm1d(bad)


@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("empty", [(0, 3), (0, 3, 4), (2, 3, 0)])
def test_batchnorm_empty_batch_changes_nothing_like_torch(empty, momentum):
    """An empty batch in training gives an empty output and leaves the running statistics as they were
    (torch counts it in num_batches_tracked, so the cumulative averages of momentum=None agree too)."""
    ours, theirs = BatchNorm1d(3, momentum=momentum), nn.BatchNorm1d(3, momentum=momentum)
    random_affine(ours, theirs)
    g = torch.Generator().manual_seed(0)
    for x in (torch.randn(8, 3, generator=g) + 2, torch.zeros(empty), torch.randn(8, 3, generator=g) - 1):
        x_ours = x.clone().requires_grad_()
        y = ours(x_ours)
        assert y.shape == x.shape
        torch.testing.assert_close(y, theirs(x), **TOL)
        y.sum().backward()
        assert_same_state(ours, theirs)
        assert torch.isfinite(ours.running_mean).all() and torch.isfinite(ours.running_var).all()
    ours.eval()
    assert torch.isfinite(ours(torch.randn(4, 3))).all()


# LayerNorm


@pytest.mark.parametrize(("normalized_shape", "shape"), [(6, (4, 6)), (6, (2, 3, 6)), ((3, 6), (2, 3, 6))])
def test_layernorm_matches_torch(normalized_shape, shape):
    ours, theirs = LayerNorm(normalized_shape), nn.LayerNorm(normalized_shape)
    random_affine(ours, theirs)
    x = (2 * torch.randn(shape) + 1).requires_grad_()
    x_theirs = x.detach().clone().requires_grad_()
    upstream = torch.randn(shape)
    y = ours(x)
    torch.testing.assert_close(y, theirs(x_theirs), **TOL)
    (y * upstream).sum().backward()
    (theirs(x_theirs) * upstream).sum().backward()
    torch.testing.assert_close(x.grad, x_theirs.grad, **TOL)
    torch.testing.assert_close(ours.weight.grad, theirs.weight.grad, **TOL)
    torch.testing.assert_close(ours.bias.grad, theirs.bias.grad, **TOL)
    ours.eval()
    torch.testing.assert_close(ours(x), y)  # no batch statistics: eval mode computes the same


def test_layernorm_normalizes_each_example_alone():
    """Each row comes out with mean 0 and (biased) variance 1, whatever the other rows hold."""
    layer = LayerNorm(8)
    x = torch.randn(5, 8) * torch.arange(1.0, 6.0).unsqueeze(1) + 10
    y = layer(x)
    torch.testing.assert_close(y.mean(1), torch.zeros(5), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.var(1, unbiased=False), torch.ones(5), atol=1e-3, rtol=0)
    torch.testing.assert_close(layer(x[2:3]), y[2:3])  # a batch of one is fine


@pytest.mark.parametrize("options", [{"elementwise_affine": False}, {"bias": False}, {"eps": 0.5}])
def test_layernorm_options_and_state_dict(options):
    ours, theirs = LayerNorm((2, 4), **options), nn.LayerNorm((2, 4), **options)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert repr(ours) == repr(theirs)
    x = torch.randn(3, 2, 4)
    torch.testing.assert_close(ours(x), theirs(x), **TOL)
    if ours.weight is not None:
        with torch.no_grad():
            theirs.weight.mul_(3)
        ours.load_state_dict(theirs.state_dict())
        torch.testing.assert_close(ours(x), theirs(x), **TOL)
        theirs.load_state_dict(LayerNorm((2, 4), **options).state_dict())
        assert torch.equal(theirs.weight, torch.ones(2, 4))


def test_layernorm_bad_input():
    with pytest.raises(ValueError, match=r"last 1 dimension\(s\) are \(6,\), got \(4, 5\)"):
        LayerNorm(6)(torch.randn(4, 5))
    with pytest.raises(ValueError, match=r"last 2 dimension\(s\).*got \(4,\)"):
        LayerNorm((2, 4))(torch.randn(4))
    for bad in (0, (), (3, -1), 2.5):
        with pytest.raises(ValueError, match="normalized_shape"):
            LayerNorm(bad)


# Low precision: statistics in float32, as torch computes them


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("params_dtype", ["float32", "low"])  # float32 weights under autocast; .to(dtype)
@pytest.mark.parametrize("make", [lambda: (LayerNorm(256), nn.LayerNorm(256)),
                                  lambda: (BatchNorm1d(256), nn.BatchNorm1d(256))])
def test_low_precision_input_is_as_accurate_as_torch(make, params_dtype, dtype):
    """A bf16/fp16 input far from zero: the error against a float64 reference is no worse than torch's own,
    the output keeps the input's dtype, and running statistics stay float32 with torch's values."""
    ours, theirs = make()
    reference = copy.deepcopy(theirs).double()
    if params_dtype == "low":
        ours, theirs = ours.to(dtype), theirs.to(dtype)
    x = (torch.randn(64, 256, generator=torch.Generator().manual_seed(0)) + 30).to(dtype)
    y_ours, y_theirs, y_ref = ours(x), theirs(x), reference(x.double())
    assert y_ours.dtype == y_theirs.dtype == dtype
    error, torch_error = (y_ours.double() - y_ref).abs().max(), (y_theirs.double() - y_ref).abs().max()
    assert error <= 1.5 * torch_error, (error, torch_error)
    if isinstance(ours, BatchNorm1d):
        for name in ("running_mean", "running_var"):
            ours_stat, theirs_stat, exact = (getattr(m, name) for m in (ours, theirs, reference))
            assert ours_stat.dtype == theirs_stat.dtype
            error, torch_error = ((s.double() - exact).abs().max() for s in (ours_stat, theirs_stat))
            assert error <= max(1.5 * torch_error, 1e-5), (name, error, torch_error)
    x_grad = x.clone().requires_grad_()
    ours(x_grad).float().pow(2).sum().backward()
    assert x_grad.grad.dtype == dtype and torch.isfinite(x_grad.grad).all()
