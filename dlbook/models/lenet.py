"""LeNet-5 (LeCun et al., 1998) for 28x28 images: two convolutions with pooling, then three linear layers."""

import torch
from torch import nn


class LeNet(nn.Module):
    """LeNet-5 for 28x28 images: x: (batch, in_channels, 28, 28) -> logits (batch, num_classes).

    The first convolution pads by 2, so a 28x28 image plays the 32x32 input of the original. ReLU and max
    pooling stand where the 1998 network had scaled tanh units and trainable average subsampling.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        self.in_channels = in_channels
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5, padding=2),  # -> (6, 28, 28)
            nn.ReLU(),
            nn.MaxPool2d(2),  # -> (6, 14, 14)
            nn.Conv2d(6, 16, kernel_size=5),  # -> (16, 10, 10)
            nn.ReLU(),
            nn.MaxPool2d(2),  # -> (16, 5, 5)
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, in_channels, 28, 28) -> (batch, num_classes)."""
        if x.ndim != 4 or x.shape[1:] != (self.in_channels, 28, 28):
            raise ValueError(
                f"LeNet needs x: (batch, {self.in_channels}, 28, 28), got {tuple(x.shape)}; its linear "
                "layers are sized for 28x28 inputs (ResNetMini takes any size)."
            )
        return self.classifier(self.features(x))
