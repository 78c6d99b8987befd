"""Generated 2-D classification sets: two moons and interleaved spirals."""

import numpy as np
import torch

from dlbook.checks import check_int, check_number


def _check(n: int, noise: float) -> tuple[int, float]:
    """``n`` and ``noise`` as a Python int and float, once checked (NumPy numbers are fine, bools are not)."""
    return check_int("n (the number of points)", n, minimum=1), check_number("noise", noise)


def moons(n: int = 500, noise: float = 0.2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaved half circles: ``x: (n, 2)`` float32, ``y: (n,)`` int64 in {0, 1}.

    ``noise`` is the standard deviation of Gaussian noise added to each coordinate.
    """
    n, noise = _check(n, noise)
    from sklearn.datasets import make_moons

    x, y = make_moons(n_samples=n, noise=noise, random_state=seed)
    return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.int64))


def spirals(
    n: int = 600, classes: int = 3, noise: float = 0.2, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``classes`` spiral arms around the origin: ``x: (n, 2)`` float32 in about [-1, 1], ``y: (n,)`` int64.

    Arm ``c`` runs from radius 0 to 1 while its angle turns from ``4c`` to ``4c + 4`` radians;
    ``noise`` is the standard deviation of the jitter added to the angle (radians).
    """
    n, noise = _check(n, noise)
    classes = check_int("classes", classes, minimum=2)
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    radius = rng.uniform(0, 1, n)
    angle = 4 * y + 4 * radius + noise * rng.standard_normal(n)
    x = np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1)
    return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.int64))
