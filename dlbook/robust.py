"""Robustness (chapter 14): adversarial examples and corrupted inputs.

:func:`fgsm` is the fast gradient sign method (Goodfellow et al., 2015): one step of size epsilon in the
direction of the sign of the loss's gradient. :func:`pgd` repeats smaller steps and projects back into
the epsilon-box around the input (Madry et al., 2018), a stronger attack of the same size.
:func:`corrupt` applies the everyday changes of Hendrycks and Dietterich (2019) at a given strength::

    x_adv = fgsm(model, x, y, epsilon=0.1)              # images in [0, 1], (n, 1, 28, 28)
    x_adv = pgd(model, x, y, epsilon=0.1, steps=10)
    x_noisy = corrupt(x, "noise", 0.2)
"""

import torch
import torch.nn.functional as F
from torch import nn

from dlbook.checks import check_int, check_number, check_pair

__all__ = ["corrupt", "fgsm", "pgd"]


def _check(x: torch.Tensor, y: torch.Tensor, epsilon, bounds) -> tuple[float, tuple[float, float]]:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.ndim < 2 or len(x) == 0:
        raise ValueError(f"x must be a float tensor (n, ...) with n >= 1, got {getattr(x, 'shape', type(x))}.")
    if not isinstance(y, torch.Tensor) or y.shape != (len(x),) or y.is_floating_point():
        raise ValueError(f"y must be ({len(x)},) integer class ids, one per example, got {getattr(y, 'shape', y)}.")
    epsilon = check_number("epsilon", epsilon, hint="It is the largest change of any one input value.")
    low, high = check_pair("bounds", bounds, None, None, example=(0.0, 1.0))
    if low >= high:
        raise ValueError(f"bounds must be (low, high) with low < high, got {bounds}.")
    return epsilon, (low, high)


def _loss_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """d cross_entropy(model(x), y, reduction='sum') / dx: (n, ...), each example's own gradient."""
    x = x.detach().requires_grad_()
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(F.cross_entropy(model(x), y, reduction="sum"), x)
    return grad


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epsilon: float, bounds=(0.0, 1.0)) -> torch.Tensor:
    """x + epsilon * sign(d loss / dx), clipped to ``bounds``: x: (n, ...), y: (n,) -> adversarial (n, ...).

    The loss is the cross-entropy of the true labels y. Every input value moves by epsilon (less where
    the clipping stops it, none where the gradient is exactly 0): the largest increase of a linear
    approximation of the loss within the max-norm ball of radius epsilon. Put the model in eval mode first.
    """
    epsilon, (low, high) = _check(x, y, epsilon, bounds)
    grad = _loss_gradient(model, x, y)
    return (x.detach() + epsilon * grad.sign()).clamp(low, high)


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    epsilon: float,
    steps: int = 10,
    step_size: float | None = None,
    random_start: bool = True,
    bounds=(0.0, 1.0),
    seed: int = 0,
) -> torch.Tensor:
    """Projected gradient descent on the loss, within epsilon of x in every value: x: (n, ...) -> (n, ...).

    ``steps`` signed-gradient steps of ``step_size`` (default 2.5 * epsilon / steps), each followed by a
    projection back into the box [x - epsilon, x + epsilon] and ``bounds``. ``random_start`` begins at a
    uniform random point of the box (drawn with ``seed``), as Madry et al. (2018) do.
    """
    epsilon, (low, high) = _check(x, y, epsilon, bounds)
    steps = check_int("steps", steps, minimum=1)
    step_size = 2.5 * epsilon / steps if step_size is None else check_number("step_size", step_size)
    x = x.detach()
    adversarial = x.clone()
    if random_start:
        generator = torch.Generator().manual_seed(seed)
        noise = torch.rand(x.shape, generator=generator).to(x.device, x.dtype)
        adversarial = (x + epsilon * (2 * noise - 1)).clamp(low, high)
    for _ in range(steps):
        adversarial = adversarial + step_size * _loss_gradient(model, adversarial, y).sign()
        adversarial = torch.minimum(torch.maximum(adversarial, x - epsilon), x + epsilon).clamp(low, high)
    return adversarial


def _noise(x: torch.Tensor, level: float, generator: torch.Generator) -> torch.Tensor:
    return x + level * torch.randn(x.shape, generator=generator).to(x.device, x.dtype)


def _contrast(x: torch.Tensor, level: float, generator: torch.Generator) -> torch.Tensor:
    mean = x.mean(dim=tuple(range(1, x.ndim)), keepdim=True)
    return mean + (1 - level) * (x - mean)


def _brightness(x: torch.Tensor, level: float, generator: torch.Generator) -> torch.Tensor:
    return x + level


def _blur(x: torch.Tensor, level: float, generator: torch.Generator) -> torch.Tensor:
    if level == 0:
        return x
    radius = max(1, round(3 * level))
    offsets = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-(offsets**2) / (2 * level**2))
    kernel = kernel / kernel.sum()
    n, c = x.shape[:2]
    flat = x.reshape(n * c, 1, *x.shape[2:])
    flat = F.conv2d(F.pad(flat, (radius, radius, 0, 0), mode="replicate"), kernel.view(1, 1, 1, -1))
    flat = F.conv2d(F.pad(flat, (0, 0, radius, radius), mode="replicate"), kernel.view(1, 1, -1, 1))
    return flat.reshape(x.shape)


CORRUPTIONS = {
    "noise": _noise,  # level: standard deviation of Gaussian noise added to every value
    "contrast": _contrast,  # level in [0, 1]: how much of each image's contrast is removed
    "brightness": _brightness,  # level: added to every value (negative darkens)
    "blur": _blur,  # level: standard deviation, in pixels, of a Gaussian blur; images (n, c, h, w)
}


def corrupt(x: torch.Tensor, kind: str, level: float, bounds=(0.0, 1.0), seed: int = 0) -> torch.Tensor:
    """A corrupted copy of images x: (n, ...) -> (n, ...), clipped to ``bounds``; level 0 changes nothing.

    ``kind``: ``"noise"`` (Gaussian, standard deviation ``level``, drawn with ``seed``), ``"contrast"``
    (each image pulled towards its own mean by the fraction ``level`` in [0, 1]), ``"brightness"``
    (``level`` added) or ``"blur"`` (Gaussian blur of standard deviation ``level`` pixels; x: (n, c, h, w)).
    """
    if kind not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {kind!r}; choose one of {sorted(CORRUPTIONS)}.")
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.ndim < 2:
        raise ValueError(f"x must be a float tensor of images (n, ...), got {getattr(x, 'shape', type(x))}.")
    if kind == "blur" and x.ndim != 4:
        raise ValueError(f"blur needs images (n, channels, height, width), got {tuple(x.shape)}.")
    low_level = None if kind == "brightness" else 0.0
    level = check_number("level", level, low_level, 1.0 if kind == "contrast" else None)
    low, high = check_pair("bounds", bounds, None, None, example=(0.0, 1.0))
    generator = torch.Generator().manual_seed(check_int("seed", seed, minimum=0))
    return CORRUPTIONS[kind](x.detach(), level, generator).clamp(low, high)
