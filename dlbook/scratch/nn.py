"""Layers for the Tensor engine, shaped like torch.nn so weights copy across in both directions."""

from __future__ import annotations

import numpy as np

from dlbook.scratch.tensor import Tensor


class Module:
    """Base of every layer: finds its parameters, zeroes their gradients, calls ``forward``."""

    training = True

    def forward(self, x: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must define forward(x).")

    def __call__(self, x: Tensor) -> Tensor:
        return self.forward(x)

    def parameters(self) -> list[Tensor]:
        """Every Tensor with requires_grad=True held here, in attributes, lists or sub-modules."""
        found, stack = {}, list(reversed(vars(self).values()))
        while stack:
            item = stack.pop()
            if isinstance(item, Tensor) and item.requires_grad:
                found[id(item)] = item  # a shared weight counts once
            elif isinstance(item, Module):
                stack.extend(reversed(vars(item).values()))
            elif isinstance(item, (list, tuple)):
                stack.extend(reversed(item))
        return list(found.values())

    def zero_grad(self) -> None:
        """Forget the gradients: backward() adds to ``.grad``, so call this before each one."""
        for p in self.parameters():
            p.grad = None

    def train(self, mode: bool = True) -> Module:
        """Set the training flag here and in every sub-module (layers such as dropout read it)."""
        stack = [self]
        while stack:
            module = stack.pop()
            module.training = mode
            for item in vars(module).values():
                items = item if isinstance(item, (list, tuple)) else [item]
                stack.extend(m for m in items if isinstance(m, Module))
        return self

    def eval(self) -> Module:
        """Switch to evaluation mode: ``train(False)``."""
        return self.train(False)


class Linear(Module):
    """y = x @ weight.T + bias: x (..., in_features) -> y (..., out_features).

    ``weight`` has shape (out_features, in_features) and both weight and bias start uniform
    in ±1/sqrt(in_features), as in torch.nn.Linear. ``rng`` is a numpy Generator or a seed.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        rng: np.random.Generator | int | None = None,
        dtype=np.float32,
    ):
        rng = np.random.default_rng(rng)
        bound = 1 / np.sqrt(in_features)
        self.in_features, self.out_features = in_features, out_features
        self.weight = Tensor(rng.uniform(-bound, bound, (out_features, in_features)).astype(dtype), True)
        self.bias = Tensor(rng.uniform(-bound, bound, out_features).astype(dtype), True) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"Linear({self.in_features}, {self.out_features}) expects inputs with {self.in_features} "
                f"features on the last axis, got shape {x.shape}."
            )
        y = x @ self.weight.T
        return y if self.bias is None else y + self.bias

    def __repr__(self) -> str:
        return f"Linear({self.in_features}, {self.out_features}, bias={self.bias is not None})"


class ReLU(Module):
    """max(x, 0), elementwise."""

    def forward(self, x: Tensor) -> Tensor:
        return x.relu()

    def __repr__(self) -> str:
        return "ReLU()"


class Tanh(Module):
    """tanh(x), elementwise."""

    def forward(self, x: Tensor) -> Tensor:
        return x.tanh()

    def __repr__(self) -> str:
        return "Tanh()"


class Sequential(Module):
    """Layers applied one after another."""

    def __init__(self, *layers: Module):
        self.layers = list(layers)

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return x

    def __getitem__(self, i: int) -> Module:
        return self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)

    def __repr__(self) -> str:
        inner = "".join(f"\n  ({i}): {layer!r}" for i, layer in enumerate(self.layers))
        return f"{type(self).__name__}({inner}\n)"


ACTIVATIONS = {"relu": ReLU, "tanh": Tanh}


class MLP(Sequential):
    """Linear layers of the given ``sizes`` with an activation between them, none after the last.

    ``MLP([784, 256, 10])``: x (batch, 784) -> logits (batch, 10).
    """

    def __init__(
        self,
        sizes: list[int],
        activation: str = "relu",
        rng: np.random.Generator | int | None = None,
        dtype=np.float32,
    ):
        if len(sizes) < 2:
            raise ValueError(f"MLP needs at least an input and an output size, got sizes={sizes}.")
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; use one of {sorted(ACTIVATIONS)}.")
        rng = np.random.default_rng(rng)
        layers = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [Linear(n_in, n_out, rng=rng, dtype=dtype), ACTIVATIONS[activation]()]
        super().__init__(*layers[:-1])
