"""The multilayer perceptron of chapter 3, as the later chapters build it: one line instead of a loop."""

from collections.abc import Callable, Sequence

import torch
from torch import nn


class MLP(nn.Sequential):
    """Flatten, then Linear layers of ``sizes``; each hidden layer is Linear, [norm], activation, [dropout].

    x: (batch, ...) with ``sizes[0]`` values per example -> (batch, sizes[-1]); the last layer is a
    Linear alone (logits). ``norm`` builds a normalization layer from a width, e.g. ``nn.BatchNorm1d``.
    The layers are numbered as in the ``nn.Sequential`` one would write by hand, so state_dicts match.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: Callable[[], nn.Module] = nn.ReLU,
        norm: Callable[[int], nn.Module] | None = None,
        dropout: float = 0.0,
    ):
        sizes = list(sizes)
        if len(sizes) < 2 or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in sizes):
            raise ValueError(
                f"sizes must be two or more positive ints, inputs first, e.g. [784, 128, 10]; got {sizes}."
            )
        if isinstance(activation, nn.Module):
            raise TypeError(f"activation must build a layer, e.g. nn.ReLU (the class), not the layer {activation}.")
        if not isinstance(dropout, int | float) or isinstance(dropout, bool) or not 0 <= dropout < 1:
            raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}.")
        layers: list[nn.Module] = [nn.Flatten()]
        for n_in, n_out in zip(sizes[:-2], sizes[1:-1], strict=True):
            layers.append(nn.Linear(n_in, n_out))
            if norm is not None:
                layers.append(norm(n_out))
            layers.append(activation())
            if dropout:
                layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(sizes[-2], sizes[-1]))
        super().__init__(*layers)
        self.sizes = sizes

    def __getitem__(self, index):
        """One layer, or a slice of them as a plain nn.Sequential (e.g. ``mlp[:3]``, the first hidden layer)."""
        if isinstance(index, slice):
            return nn.Sequential(*list(self)[index])
        return super().__getitem__(index)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, ...) with sizes[0] values per example -> logits (batch, sizes[-1])."""
        if x.ndim < 2 or x[0].numel() != self.sizes[0]:
            raise ValueError(
                f"MLP({self.sizes}) needs x: (batch, ...) with {self.sizes[0]} values per example, "
                f"got {tuple(x.shape)}."
            )
        return super().forward(x)
