"""Convolution and max pooling from tensor primitives: a loop to read, and im2col (unfold + matmul) to use.

``Conv2d`` and ``MaxPool2d`` take torch.nn's constructor arguments and keep its parameter names and
shapes (``weight: (out_channels, in_channels, kh, kw)``, ``bias: (out_channels,)``), so a state_dict
moves between them and ``torch.nn.Conv2d`` in both directions. Like torch, they take a batch
``(batch, channels, height, width)`` or one unbatched image ``(channels, height, width)``.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

IntPair = int | tuple[int, int]


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output length along one axis: floor((size + 2 padding - dilation (kernel - 1) - 1) / stride) + 1."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def conv2d_loop(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
) -> torch.Tensor:
    """Convolution one output pixel at a time (slow, for reading and small inputs).

    x: (batch, in_channels, h, w), weight: (out_channels, in_channels, kh, kw), bias: (out_channels,)
    -> (batch, out_channels, out_h, out_w).
    """
    (sh, sw), (dh, dw) = _pair(stride, "stride"), _pair(dilation, "dilation")
    ph, pw = _pair(padding, "padding", minimum=0)
    out_h, out_w = _check(x, weight, (sh, sw), (ph, pw), (dh, dw), "conv2d_loop")
    x = F.pad(x, (pw, pw, ph, ph))  # zeros around the image: (left, right, top, bottom)
    kh, kw = weight.shape[-2:]
    rows = []
    for i in range(out_h):
        row = []
        for j in range(out_w):
            top, left = i * sh, j * sw
            # the pixels this output pixel sees, every dilation-th one: (batch, in_channels, kh, kw)
            window = x[:, :, top : top + dh * (kh - 1) + 1 : dh, left : left + dw * (kw - 1) + 1 : dw]
            # one dot product per output channel: (batch, 1, in, kh, kw) * (out, in, kh, kw) -> (batch, out)
            row.append((window.unsqueeze(1) * weight).sum(dim=(2, 3, 4)))
        rows.append(torch.stack(row, dim=-1))  # (batch, out, out_w)
    out = torch.stack(rows, dim=-2)  # (batch, out, out_h, out_w)
    return out if bias is None else out + bias.view(1, -1, 1, 1)


def conv2d_unfold(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
) -> torch.Tensor:
    """Convolution as one matrix multiply (im2col): every input window becomes a column.

    x: (batch, in_channels, h, w), weight: (out_channels, in_channels, kh, kw), bias: (out_channels,)
    -> (batch, out_channels, out_h, out_w).
    """
    stride, dilation = _pair(stride, "stride"), _pair(dilation, "dilation")
    padding = _pair(padding, "padding", minimum=0)
    out_h, out_w = _check(x, weight, stride, padding, dilation, "conv2d_unfold")
    # columns: (batch, in_channels * kh * kw, out_h * out_w), one column per window
    columns = F.unfold(x, weight.shape[-2:], dilation=dilation, padding=padding, stride=stride)
    out = weight.flatten(1) @ columns  # (out, in * kh * kw) @ columns -> (batch, out, out_h * out_w)
    if bias is not None:
        out = out + bias.view(1, -1, 1)
    return out.view(x.shape[0], weight.shape[0], out_h, out_w)


def max_pool2d(
    x: torch.Tensor,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    dilation: IntPair = 1,
) -> torch.Tensor:
    """The largest value of each window, channel by channel: x: (batch, c, h, w) -> (batch, c, out_h, out_w).

    ``stride`` defaults to ``kernel_size`` (windows side by side); padding is -inf, so never the maximum.
    """
    kernel = _pair(kernel_size, "kernel_size")
    stride = kernel if stride is None else _pair(stride, "stride")
    padding, dilation = _pair(padding, "padding", minimum=0), _pair(dilation, "dilation")
    if x.ndim != 4:
        raise ValueError(f"max_pool2d needs x: (batch, channels, height, width), got shape {tuple(x.shape)}.")
    if any(p > k // 2 for p, k in zip(padding, kernel, strict=True)):
        raise ValueError(f"padding {padding} must be at most half the kernel size {kernel}, as in torch.")
    out_h, out_w = _output_size(x, kernel, stride, padding, dilation, "max_pool2d")
    batch, channels = x.shape[:2]
    x = F.pad(x, (padding[1], padding[1], padding[0], padding[0]), value=-math.inf)
    # each channel as an image of its own, so that a window holds the kh * kw values of one channel
    windows = F.unfold(x.reshape(batch * channels, 1, *x.shape[2:]), kernel, dilation=dilation, stride=stride)
    return windows.max(dim=1).values.view(batch, channels, out_h, out_w)


class Conv2d(nn.Module):
    """2-d convolution with torch.nn.Conv2d's arguments, parameters and initialization, computed by im2col.

    x: (batch, in_channels, h, w) -> (batch, out_channels, out_h, out_w), or unbatched (in_channels, h, w)
    -> (out_channels, out_h, out_w); out_h = conv_output_size(h, kh, stride, padding, dilation).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntPair,
        stride: IntPair = 1,
        padding: IntPair = 0,
        dilation: IntPair = 1,
        bias: bool = True,
    ):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}.")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = _pair(kernel_size, "kernel_size"), _pair(stride, "stride")
        self.padding, self.dilation = _pair(padding, "padding", minimum=0), _pair(dilation, "dilation")
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, *self.kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """torch's default: weight and bias uniform in +-1/sqrt(fan_in), fan_in = in_channels * kh * kw."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # the very draw torch.nn.Conv2d makes
        if self.bias is not None:
            bound = 1 / math.sqrt(self.weight[0].numel())
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, in_channels, h, w) -> (batch, out_channels, out_h, out_w), or unbatched (in, h, w)."""
        if x.ndim not in (3, 4) or x.shape[-3] != self.in_channels:
            raise ValueError(
                f"{self} needs x: (batch, {self.in_channels}, height, width), or ({self.in_channels}, "
                f"height, width) for one image; got shape {tuple(x.shape)}. A grey image (h, w) needs "
                "x[None, None]; channels-last data (batch, h, w, channels) needs x.permute(0, 3, 1, 2)."
            )
        unbatched = x.ndim == 3
        batch = x[None] if unbatched else x
        out = conv2d_unfold(batch, self.weight, self.bias, self.stride, self.padding, self.dilation)
        return out[0] if unbatched else out

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, dilation={self.dilation}, bias={self.bias is not None}"
        )


class MaxPool2d(nn.Module):
    """Max pooling with torch.nn.MaxPool2d's arguments: x: (batch, channels, h, w) or (channels, h, w)."""

    def __init__(
        self, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0, dilation: IntPair = 1
    ):
        super().__init__()
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else _pair(stride, "stride")
        self.padding, self.dilation = _pair(padding, "padding", minimum=0), _pair(dilation, "dilation")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, channels, h, w) -> (batch, channels, out_h, out_w), or unbatched (channels, h, w)."""
        if x.ndim not in (3, 4):
            raise ValueError(
                f"MaxPool2d needs x: (batch, channels, height, width) or (channels, height, width), "
                f"got shape {tuple(x.shape)}."
            )
        unbatched = x.ndim == 3
        batch = x[None] if unbatched else x
        out = max_pool2d(batch, self.kernel_size, self.stride, self.padding, self.dilation)
        return out[0] if unbatched else out

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}"
        )


def _pair(value: IntPair, name: str, minimum: int = 1) -> tuple[int, int]:
    """``3`` -> ``(3, 3)``; ``(3, 5)`` stays; anything else, or a value below ``minimum``, is an error."""
    pair = (value, value) if type(value) is int else tuple(value) if isinstance(value, tuple | list) else ()
    if len(pair) != 2 or not all(type(v) is int and v >= minimum for v in pair):  # a bool is no size
        raise ValueError(f"{name} must be an int >= {minimum} or a pair of them (height, width): {value!r}.")
    return pair


def _output_size(x: torch.Tensor, kernel, stride, padding, dilation, who: str) -> tuple[int, int]:
    """(out_h, out_w) for x: (batch, c, h, w), or a clear error when the (dilated) kernel does not fit."""
    sizes = []
    for axis, name in enumerate(("height", "width")):
        size = x.shape[2 + axis]
        span = dilation[axis] * (kernel[axis] - 1) + 1
        if span > size + 2 * padding[axis]:
            raise ValueError(
                f"{who}: the kernel spans {span} pixels of {name} (kernel {kernel[axis]}, dilation "
                f"{dilation[axis]}) but the input has only {size} plus {2 * padding[axis]} of padding; use a "
                "smaller kernel or dilation, more padding, or a larger input."
            )
        sizes.append(conv_output_size(size, kernel[axis], stride[axis], padding[axis], dilation[axis]))
    return sizes[0], sizes[1]


def _check(x: torch.Tensor, weight: torch.Tensor, stride, padding, dilation, who: str) -> tuple[int, int]:
    """Check x: (batch, in, h, w) against weight: (out, in, kh, kw); return (out_h, out_w)."""
    if weight.ndim != 4:
        shape = tuple(weight.shape)
        raise ValueError(f"{who} needs weight: (out_channels, in_channels, kh, kw), got shape {shape}.")
    if x.ndim != 4 or x.shape[1] != weight.shape[1]:
        raise ValueError(
            f"{who} needs x: (batch, {weight.shape[1]}, height, width) to match the weight's "
            f"{weight.shape[1]} input channels, got x of shape {tuple(x.shape)}."
        )
    if not x.is_floating_point():
        raise TypeError(f"{who} needs floating-point images, got {x.dtype}: convert them with x.float().")
    return _output_size(x, weight.shape[-2:], stride, padding, dilation, who)
