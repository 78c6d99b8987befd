"""The optimizers of chapter 6, written out by hand: SGD (momentum, Nesterov), RMSprop, Adam and AdamW.

Each is a ``torch.optim.Optimizer`` with the constructor arguments and defaults of its
``torch.optim`` twin and matches it step for step. Param groups, ``zero_grad()``,
``state_dict()`` and ``load_state_dict()`` come from the base class; the state keys
(``momentum_buffer``, ``square_avg``, ``exp_avg``, ``exp_avg_sq``, ...) are torch's.
Hyperparameters are checked at least as strictly as torch.optim checks them (with :mod:`dlbook.checks`,
the same checks as the numpy optimizers) and kept as plain Python floats.
"""

import math
from collections.abc import Callable, Iterable, Iterator

import torch
from torch.optim import Optimizer

from dlbook.checks import check_number, check_pair


def _evaluate(closure: Callable[[], torch.Tensor] | None) -> torch.Tensor | None:
    """Run the closure (it recomputes the loss and its gradients) with autograd on."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


def _gradients(optimizer: Optimizer, group: dict) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(parameter, gradient) for each parameter of ``group`` that has a gradient."""
    for p in group["params"]:
        if p.grad is None:
            continue
        if p.grad.is_sparse:
            raise RuntimeError(
                f"{type(optimizer).__name__} does not support sparse gradients; use a dense layer "
                "(e.g. nn.Embedding(..., sparse=False)) or torch.optim.SparseAdam."
            )
        if p.is_complex():
            raise TypeError(f"{type(optimizer).__name__} supports real parameters only, got {p.dtype}.")
        yield p, p.grad


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, dampening, Nesterov momentum and L2 decay."""

    def __init__(self, params: Iterable, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False):
        lr, weight_decay = check_number("lr", lr), check_number("weight_decay", weight_decay)
        momentum = check_number("momentum", momentum, 0, 1)
        dampening = check_number("dampening", dampening, 0, 1)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("nesterov=True needs momentum > 0 and dampening=0.")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        """Update every parameter that has a gradient; return the closure's loss (None without one)."""
        loss = _evaluate(closure)
        for group in self.param_groups:
            lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
            for p, grad in _gradients(self, group):
                if group["weight_decay"]:
                    grad = grad + group["weight_decay"] * p              # g += wd * p  (L2 penalty)
                if momentum:
                    state = self.state[p]
                    if "momentum_buffer" not in state:
                        buf = state["momentum_buffer"] = grad.clone()    # first step: b = g
                    else:
                        buf = state["momentum_buffer"]
                        buf.mul_(momentum).add_((1 - dampening) * grad)  # b = m*b + (1-d)*g
                    grad = grad + momentum * buf if group["nesterov"] else buf
                p.sub_(lr * grad)                                        # p -= lr * g
        return loss


class RMSprop(Optimizer):
    """Divide each gradient by a running root mean square of its recent values (Hinton, 2012)."""

    def __init__(self, params: Iterable, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False):
        lr, eps = check_number("lr", lr), check_number("eps", eps)
        weight_decay = check_number("weight_decay", weight_decay)
        alpha = check_number("alpha", alpha, 0, 1, high_inclusive=False, hint="The usual value is 0.99.")
        momentum = check_number("momentum", momentum, 0, 1)
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        """Update every parameter that has a gradient; return the closure's loss (None without one)."""
        loss = _evaluate(closure)
        for group in self.param_groups:
            lr, alpha, eps, momentum = group["lr"], group["alpha"], group["eps"], group["momentum"]
            for p, grad in _gradients(self, group):
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["square_avg"] = torch.zeros_like(p)
                    if momentum:
                        state["momentum_buffer"] = torch.zeros_like(p)
                    if group["centered"]:
                        state["grad_avg"] = torch.zeros_like(p)
                state["step"] += 1
                if group["weight_decay"]:
                    grad = grad + group["weight_decay"] * p                  # g += wd * p
                square_avg = state["square_avg"]
                square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)  # s = a*s + (1-a)*g^2
                if group["centered"]:
                    grad_avg = state["grad_avg"]
                    grad_avg.mul_(alpha).add_((1 - alpha) * grad)             # gbar = a*gbar + (1-a)*g
                    rms = (square_avg - grad_avg * grad_avg).sqrt_().add_(eps)  # sqrt(s - gbar^2) + eps
                else:
                    rms = square_avg.sqrt().add_(eps)                         # sqrt(s) + eps
                if momentum:
                    buf = state["momentum_buffer"]
                    buf.mul_(momentum).addcdiv_(grad, rms)                    # b = m*b + g/rms
                    p.sub_(lr * buf)                                          # p -= lr * b
                else:
                    p.addcdiv_(grad, rms, value=-lr)                          # p -= lr * g/rms
        return loss


class Adam(Optimizer):
    """Momentum plus RMSprop with bias correction (Kingma and Ba, 2015); L2 decay in the gradient.

    ``decoupled_weight_decay=True`` shrinks the weights directly instead, which is AdamW.
    """

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, *,
                 decoupled_weight_decay: bool = False):
        lr, eps = check_number("lr", lr), check_number("eps", eps)
        weight_decay = check_number("weight_decay", weight_decay)
        betas = check_pair("betas", betas, 0, 1, high_inclusive=False, example=(0.9, 0.999))
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        """Update every parameter that has a gradient; return the closure's loss (None without one)."""
        loss = _evaluate(closure)
        for group in self.param_groups:
            lr, (beta1, beta2), eps, decay = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p, grad in _gradients(self, group):
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                    if group["amsgrad"]:
                        state["max_exp_avg_sq"] = torch.zeros_like(p)
                step = state["step"] = int(state["step"]) + 1    # int(): torch.optim keeps a tensor here
                if decay and group["decoupled_weight_decay"]:
                    p.mul_(1 - lr * decay)                       # AdamW: p -= lr * wd * p
                elif decay:
                    grad = grad + decay * p                      # Adam: g += wd * p  (L2 penalty)
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                exp_avg.mul_(beta1).add_((1 - beta1) * grad)                  # m = b1*m + (1-b1)*g
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)  # v = b2*v + (1-b2)*g^2
                if group["amsgrad"]:
                    torch.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
                    exp_avg_sq = state["max_exp_avg_sq"]                      # v = max of all v so far
                bias1, bias2 = 1 - beta1**step, 1 - beta2**step
                denom = (exp_avg_sq.sqrt() / math.sqrt(bias2)).add_(eps)      # sqrt(v / bias2) + eps
                p.addcdiv_(exp_avg, denom, value=-lr / bias1)                 # p -= lr * (m / bias1) / denom
        return loss


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter, 2019): the weights shrink directly."""

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, decoupled_weight_decay=True)
