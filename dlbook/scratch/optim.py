"""Optimizers for the numpy engine: SGD (momentum, Nesterov), RMSProp, Adam and AdamW.

Each updates ``.data`` of its parameters in place from their ``.grad`` (numpy arrays, as in
``dlbook.scratch.Tensor``) and skips a parameter whose ``.grad`` is None. They follow the
same formulas as their ``torch.optim`` twins, step for step. Hyperparameters are checked with
:mod:`dlbook.checks` (the same checks as ``dlbook.optim``) and kept as plain Python floats.
"""

from collections.abc import Iterable, Iterator

import numpy as np

from dlbook.checks import check_number, check_pair


class Optimizer:
    """Holds the parameters and the learning rate; ``zero_grad()`` forgets the gradients."""

    def __init__(self, params: Iterable, lr: float):
        self.params = list(params)
        if not self.params:
            raise ValueError("the optimizer got no parameters; pass model.parameters().")
        for p in self.params:
            if not isinstance(getattr(p, "data", None), np.ndarray) or not hasattr(p, "grad"):
                raise TypeError(
                    f"a parameter needs .data and .grad numpy arrays (a dlbook.scratch.Tensor), "
                    f"got {type(p).__name__}."
                )
        self.lr = check_number("lr", lr)

    def zero_grad(self) -> None:
        """Set every ``.grad`` to None: backward() adds to it, so call this before each backward()."""
        for p in self.params:
            p.grad = None

    def gradients(self) -> Iterator[tuple[int, object, np.ndarray]]:
        """(index, parameter, gradient) for each parameter that has a gradient."""
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            if np.shape(p.grad) != p.data.shape:
                raise ValueError(
                    f"parameter {i} has data of shape {p.data.shape} but a gradient of shape "
                    f"{np.shape(p.grad)}; a gradient must have the shape of its parameter."
                )
            yield i, p, p.grad


class SGD(Optimizer):
    """p -= lr * g, with optional momentum (v = momentum * v + g), Nesterov momentum and L2 decay."""

    def __init__(self, params: Iterable, lr: float, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0):
        super().__init__(params, lr)
        momentum = check_number("momentum", momentum, 0, 1)
        weight_decay = check_number("weight_decay", weight_decay)
        if nesterov and momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0.")
        self.momentum, self.nesterov, self.weight_decay = momentum, nesterov, weight_decay
        self.velocity = [np.zeros_like(p.data) for p in self.params]

    def step(self) -> None:
        """Move every parameter that has a gradient one step downhill."""
        for i, p, g in self.gradients():
            g = g + self.weight_decay * p.data  # the gradient of the L2 penalty wd/2 * |p|^2
            if self.momentum:
                self.velocity[i] = self.momentum * self.velocity[i] + g
                g = g + self.momentum * self.velocity[i] if self.nesterov else self.velocity[i]
            p.data -= self.lr * g


class RMSProp(Optimizer):
    """Divide each gradient by the root of a running mean of its squares: p -= lr * g / (sqrt(s) + eps)."""

    def __init__(self, params: Iterable, lr: float, alpha: float = 0.99, eps: float = 1e-8):
        super().__init__(params, lr)
        self.alpha = check_number("alpha", alpha, 0, 1, high_inclusive=False, hint="The usual value is 0.99.")
        self.eps = check_number("eps", eps)
        self.square_avg = [np.zeros_like(p.data) for p in self.params]

    def step(self) -> None:
        """Move every parameter that has a gradient one step downhill."""
        for i, p, g in self.gradients():
            self.square_avg[i] = self.alpha * self.square_avg[i] + (1 - self.alpha) * g * g
            p.data -= self.lr * g / (np.sqrt(self.square_avg[i]) + self.eps)


class Adam(Optimizer):
    """Momentum (m) and RMSProp (v) together, both corrected for starting at zero; L2 decay in g."""

    decoupled_weight_decay = False

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(params, lr)
        self.betas = check_pair("betas", betas, 0, 1, high_inclusive=False, example=(0.9, 0.999))
        self.eps, self.weight_decay = check_number("eps", eps), check_number("weight_decay", weight_decay)
        self.m = [np.zeros_like(p.data) for p in self.params]
        self.v = [np.zeros_like(p.data) for p in self.params]
        self.steps = [0 for _ in self.params]  # per parameter, as a parameter may miss a step

    def step(self) -> None:
        """Move every parameter that has a gradient one step downhill."""
        beta1, beta2 = self.betas
        for i, p, g in self.gradients():
            self.steps[i] += 1
            t = self.steps[i]
            if self.decoupled_weight_decay:
                p.data *= 1 - self.lr * self.weight_decay  # AdamW: shrink the weights directly
            else:
                g = g + self.weight_decay * p.data  # Adam: the L2 penalty's gradient
            self.m[i] = beta1 * self.m[i] + (1 - beta1) * g
            self.v[i] = beta2 * self.v[i] + (1 - beta2) * g * g
            m_hat = self.m[i] / (1 - beta1**t)  # m and v start at 0: undo that bias
            v_hat = self.v[i] / (1 - beta2**t)
            p.data -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


class AdamW(Adam):
    """Adam with decoupled weight decay: ``p *= 1 - lr * weight_decay``, then the Adam step."""

    decoupled_weight_decay = True

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2):
        super().__init__(params, lr, betas, eps, weight_decay)
