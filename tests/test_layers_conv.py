"""dlbook.layers.conv against torch: conv2d_loop, conv2d_unfold, max_pool2d, Conv2d and MaxPool2d."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from dlbook.layers import Conv2d, MaxPool2d, conv2d_loop, conv2d_unfold, conv_output_size, max_pool2d

CONFIGS = [  # (kernel, stride, padding, dilation)
    ((3, 3), 1, 0, 1),
    ((3, 3), 1, 1, 1),
    ((3, 2), 2, 1, 1),
    ((1, 1), 1, 0, 1),
    ((3, 3), (2, 1), (1, 0), (2, 1)),
    ((2, 3), 3, 2, 2),
]
CONVS = [conv2d_loop, conv2d_unfold]


def inputs(kernel, bias=True, batch=2, in_channels=3, out_channels=4, size=(9, 8), seed=0):
    """Random float64 x: (batch, in, h, w), weight: (out, in, kh, kw), bias: (out,), all requiring grad."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, in_channels, *size, generator=g, dtype=torch.float64)
    w = torch.randn(out_channels, in_channels, *kernel, generator=g, dtype=torch.float64)
    b = torch.randn(out_channels, generator=g, dtype=torch.float64) if bias else None
    return [t.requires_grad_() if t is not None else None for t in (x, w, b)]


def outputs_and_grads(fn, tensors, **kwargs):
    """fn's output and the gradients of a random weighting of it with respect to every input tensor."""
    out = fn(*tensors, **kwargs)
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(1), dtype=out.dtype)
    present = [t for t in tensors if t is not None]
    return out, torch.autograd.grad((out * weights).sum(), present)


@pytest.mark.parametrize("conv", CONVS)
@pytest.mark.parametrize("kernel, stride, padding, dilation", CONFIGS)
@pytest.mark.parametrize("bias", [True, False])
def test_conv_matches_torch_values_and_gradients(conv, kernel, stride, padding, dilation, bias):
    tensors = inputs(kernel, bias)
    kwargs = dict(stride=stride, padding=padding, dilation=dilation)
    ours, our_grads = outputs_and_grads(conv, tensors, **kwargs)
    ref, ref_grads = outputs_and_grads(F.conv2d, tensors, **kwargs)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    for a, b in zip(our_grads, ref_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_conv_unfold_passes_gradcheck():
    """Finite differences, independent of any torch convolution kernel."""
    x, w, b = inputs((2, 3), size=(5, 6), batch=1, in_channels=2, out_channels=2)
    assert torch.autograd.gradcheck(conv2d_unfold, (x, w, b, 2, 1, (1, 2)))  # stride, padding, dilation


@settings(max_examples=25, deadline=None)
@given(
    size=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    dilation=st.tuples(st.integers(1, 3), st.integers(1, 3)),
)
def test_output_size_formula_and_random_shapes(size, kernel, stride, padding, dilation):
    axes = list(zip(size, kernel, stride, padding, dilation, strict=True))
    fits = all(d * (k - 1) + 1 <= n + 2 * p for n, k, _, p, d in axes)
    x, w, b = inputs(kernel, size=size, batch=1, in_channels=2, out_channels=3)
    kwargs = dict(stride=stride, padding=padding, dilation=dilation)
    if not fits:
        with pytest.raises(RuntimeError):
            F.conv2d(x, w, b, **kwargs)
        for conv in CONVS:
            with pytest.raises(ValueError, match="kernel spans"):
                conv(x, w, b, **kwargs)
        return
    ref = F.conv2d(x, w, b, **kwargs)
    expected = tuple(conv_output_size(*axis) for axis in axes)
    assert ref.shape[-2:] == expected
    for conv in CONVS:
        torch.testing.assert_close(conv(x, w, b, **kwargs), ref, rtol=1e-12, atol=1e-12)


def test_conv_rejects_bad_inputs():
    x, w, b = inputs((3, 3))
    with pytest.raises(ValueError, match="match the weight's 3 input channels"):
        conv2d_unfold(x[:, :2], w, b)
    with pytest.raises(ValueError, match=r"needs x: \(batch, 3, height, width\)"):
        conv2d_loop(x[0], w, b)
    with pytest.raises(ValueError, match="needs weight"):
        conv2d_unfold(x, w[0], b)
    with pytest.raises(TypeError, match="x.float()"):
        conv2d_unfold(x.long(), w.long())
    with pytest.raises(ValueError, match="padding must be an int >= 0"):
        conv2d_unfold(x, w, b, padding=-1)
    with pytest.raises(ValueError, match="stride must be an int >= 1"):
        conv2d_loop(x, w, b, stride=0)
    with pytest.raises(ValueError, match="kernel spans 7 pixels of height"):
        conv2d_unfold(x[:, :, :6], w, b, dilation=3)


def twins(seed=0, **kwargs):
    """dlbook's Conv2d and torch's, each built right after seeding the global generator with ``seed``."""
    torch.manual_seed(seed)
    ours = Conv2d(**kwargs)
    torch.manual_seed(seed)
    return ours, nn.Conv2d(**kwargs)


@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_layer_has_torch_parameters_and_initialization(bias):
    kwargs = dict(in_channels=3, out_channels=5, kernel_size=(3, 2), stride=2, padding=1, bias=bias)
    ours, ref = twins(**kwargs)
    shapes = [(name, p.shape) for name, p in ours.named_parameters()]
    assert shapes == [(name, p.shape) for name, p in ref.named_parameters()]
    for a, b in zip(ours.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)  # the same draws from the same generator state
    bound = 1 / (3 * 3 * 2) ** 0.5  # +-1/sqrt(fan_in), fan_in = in_channels * kh * kw
    assert all(p.abs().max() <= bound for p in ours.parameters())


def test_conv2d_layer_state_dicts_load_both_ways_and_agree():
    kwargs = dict(in_channels=2, out_channels=4, kernel_size=3, stride=(1, 2), padding=(2, 1))
    kwargs["dilation"] = (2, 1)
    ours, ref = twins(seed=1, **kwargs)
    ref.load_state_dict(twins(seed=2, **kwargs)[0].state_dict())  # ours -> torch
    ours.load_state_dict(ref.state_dict())  # torch -> ours
    x = torch.randn(3, 2, 11, 10, requires_grad=True)
    out, ref_out = ours(x), ref(x)
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-5)
    g = torch.randn(out.shape)
    ours_grads = torch.autograd.grad((out * g).sum(), [x, *ours.parameters()])
    ref_grads = torch.autograd.grad((ref_out * g).sum(), [x, *ref.parameters()])
    for a, b in zip(ours_grads, ref_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_conv2d_layer_takes_unbatched_and_channels_last_inputs():
    ours, ref = twins(in_channels=3, out_channels=4, kernel_size=3, padding=1)
    x = torch.randn(2, 3, 7, 6)
    torch.testing.assert_close(ours(x[0]), ref(x[0]), rtol=1e-5, atol=1e-5)
    assert ours(x[0]).shape == (4, 7, 6)
    channels_last = x.to(memory_format=torch.channels_last)
    torch.testing.assert_close(ours(channels_last), ref(x), rtol=1e-5, atol=1e-5)


def test_conv2d_layer_errors_say_what_is_wrong():
    layer = Conv2d(3, 4, 5)
    with pytest.raises(ValueError, match=r"needs x: \(batch, 3, height, width\).*got shape \(7, 7\)"):
        layer(torch.randn(7, 7))
    with pytest.raises(ValueError, match=r"got shape \(1, 1, 3, 7, 7\)"):
        layer(torch.randn(1, 1, 3, 7, 7))
    with pytest.raises(ValueError, match=r"got shape \(2, 1, 7, 7\)"):
        layer(torch.randn(2, 1, 7, 7))  # one channel where the layer expects three
    with pytest.raises(ValueError, match="kernel spans 5 pixels of width"):
        layer(torch.randn(2, 3, 7, 4))
    for bad in [dict(kernel_size=0), dict(kernel_size=(3, 3, 3)), dict(padding="same"), dict(stride=1.5)]:
        with pytest.raises(ValueError, match="must be an int"):
            Conv2d(3, 4, **{"kernel_size": 3, **bad})
    with pytest.raises(ValueError, match="in_channels must be a positive int"):
        Conv2d(0, 4, 3)


POOLS = [  # (kernel, stride, padding, dilation)
    (2, None, 0, 1),
    (3, 2, 1, 1),
    ((3, 2), (1, 2), (1, 0), 1),
    (2, 1, 1, 2),
    (3, None, 0, (1, 2)),
]


@pytest.mark.parametrize("kernel, stride, padding, dilation", POOLS)
def test_max_pool_matches_torch_values_and_gradients(kernel, stride, padding, dilation):
    x = torch.randn(2, 3, 9, 10, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x.requires_grad_()
    ours = MaxPool2d(kernel, stride, padding, dilation)
    ref = nn.MaxPool2d(kernel, stride, padding, dilation)
    out, out_grads = outputs_and_grads(ours, [x])
    expected, expected_grads = outputs_and_grads(ref, [x])
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    # overlapping windows add their gradients in another order than torch does
    torch.testing.assert_close(out_grads[0], expected_grads[0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours(x[0]), ref(x[0]))  # unbatched


def test_max_pool_errors():
    with pytest.raises(ValueError, match="at most half the kernel size"):
        max_pool2d(torch.randn(1, 1, 8, 8), 3, padding=2)
    with pytest.raises(ValueError, match=r"got shape \(8, 8\)"):
        MaxPool2d(2)(torch.randn(8, 8))
    with pytest.raises(ValueError, match="kernel spans 5 pixels of height"):
        MaxPool2d(5)(torch.randn(1, 1, 4, 8))
    assert not list(MaxPool2d(2).state_dict()), "max pooling has nothing to learn"
