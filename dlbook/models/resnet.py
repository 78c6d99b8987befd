"""A small ResNet (He et al., 2016): residual blocks with batch norm, in stages of doubling width."""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class ResidualBlock(nn.Module):
    """relu(shortcut(x) + bn(conv(relu(bn(conv(x)))))): x: (batch, in, h, w) -> (batch, out, h/s, w/s).

    Two 3x3 convolutions with batch norm; when ``stride`` or the channel count changes, the shortcut is a
    1x1 convolution with batch norm, so that it has the block's output shape. ``residual=False`` drops
    the shortcut, relu(bn(conv(relu(bn(conv(x)))))): the same layers as a plain network, for comparison.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, residual: bool = True):
        super().__init__()
        self.residual = residual
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Identity()
        if residual and (stride != 1 or in_channels != out_channels):
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, in_channels, h, w) -> (batch, out_channels, ceil(h / stride), ceil(w / stride))."""
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x)) if self.residual else F.relu(out)

    def extra_repr(self) -> str:
        return "" if self.residual else "residual=False"


class ResNetMini(nn.Module):
    """A ResNet for small images: x: (batch, in_channels, h, w) -> logits (batch, num_classes).

    A 3x3 stem with ``width`` channels, then one stage per entry of ``blocks`` (that many residual
    blocks); each stage after the first halves the resolution and doubles the channels. Global average
    pooling and one linear layer give the logits, so any image size works. ``stem_stride=2`` halves the
    resolution in the stem, which makes the network about four times cheaper (for a CPU). Only
    convolutions, batch norm, ReLU and pooling: it runs in channels-last memory format
    (``model.to(memory_format=torch.channels_last)``) and in bfloat16 autocast without changes.
    ``residual=False`` builds the same network without shortcuts: a plain deep network.
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        width: int = 16,
        blocks: Sequence[int] = (1, 1, 1),
        stem_stride: int = 1,
        residual: bool = True,
    ):
        super().__init__()
        if not isinstance(width, int) or width < 1 or not blocks or any(n < 1 for n in blocks):
            raise ValueError(f"width must be an int >= 1 and blocks counts >= 1, got {width!r}, {blocks!r}.")
        self.in_channels = in_channels
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, stride=stem_stride, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
        )
        stages, channels = [], width
        for i, count in enumerate(blocks):
            out = width * 2**i
            first = ResidualBlock(channels, out, stride=1 if i == 0 else 2, residual=residual)
            rest = (ResidualBlock(out, out, residual=residual) for _ in range(count - 1))
            stages.append(nn.Sequential(first, *rest))
            channels = out
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, in_channels, h, w) -> (batch, num_classes)."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"ResNetMini needs x: (batch, {self.in_channels}, h, w), got {tuple(x.shape)}.")
        return self.head(self.stages(self.stem(x)))
