"""Data augmentation as a layer: random shifts and flips of a batch, on whatever device the batch is on."""

import torch
import torch.nn.functional as F
from torch import nn


class RandomCropFlip(nn.Module):
    """In training mode, shift each image by up to ``padding`` pixels and mirror half of them; else identity.

    x: (batch, channels, h, w) -> the same shape. The shift is torchvision's RandomCrop(h, padding):
    pad with zeros, crop back at a random offset. Put it first in a model, e.g.
    ``nn.Sequential(RandomCropFlip(2), ResNetMini())``: it draws from torch's generator on the batch's device.
    """

    def __init__(self, padding: int = 2, flip: bool = True):
        super().__init__()
        if not isinstance(padding, int) or padding < 0:
            raise ValueError(f"padding must be an int >= 0, got {padding!r}.")
        self.padding, self.flip = padding, flip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, channels, h, w) -> (batch, channels, h, w)."""
        if x.ndim != 4:
            raise ValueError(f"RandomCropFlip needs x: (batch, channels, h, w), got {tuple(x.shape)}.")
        if not self.training:
            return x
        batch, channels, h, w = x.shape
        p = self.padding
        padded = F.pad(x, (p, p, p, p))  # (batch, channels, h + 2p, w + 2p)
        # the rows and the columns of the padded image that each output image takes: (batch, h), (batch, w)
        rows = torch.randint(0, 2 * p + 1, (batch, 1), device=x.device) + torch.arange(h, device=x.device)
        cols = torch.randint(0, 2 * p + 1, (batch, 1), device=x.device) + torch.arange(w, device=x.device)
        out = padded.gather(2, rows[:, None, :, None].expand(batch, channels, h, w + 2 * p))
        out = out.gather(3, cols[:, None, None, :].expand(batch, channels, h, w))
        if self.flip:
            mirror = torch.rand(batch, device=x.device) < 0.5
            out = torch.where(mirror.view(-1, 1, 1, 1), out.flip(-1), out)
        return out

    def extra_repr(self) -> str:
        return f"padding={self.padding}, flip={self.flip}"
