"""Generated 2-D sets: two moons and interleaved spirals to classify, a ring or grid of Gaussians to generate."""

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


def mixture_centres(modes: int = 8, radius: float = 2.0, layout: str = "ring") -> torch.Tensor:
    """The centres of :func:`gaussian_mixture`'s Gaussians: ``(modes, 2)`` float32.

    ``layout="ring"``: centre ``k`` at angle ``2 pi k / modes`` on a circle of ``radius``, i.e.
    ``radius * (cos, sin)``. ``layout="grid"``: ``modes`` must be a square (e.g. 25), the centres a
    ``sqrt(modes)`` x ``sqrt(modes)`` grid spanning ``[-radius, radius]`` in both coordinates, row by row.
    """
    modes = check_int("modes", modes, minimum=1)
    radius = check_number("radius", radius)
    if layout == "ring":
        angle = 2 * np.pi * np.arange(modes) / modes
        centres = radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    elif layout == "grid":
        side = int(round(np.sqrt(modes)))
        if side * side != modes:
            raise ValueError(f"layout='grid' needs a square number of modes (9, 16, 25, ...), got {modes}.")
        ticks = np.linspace(-radius, radius, side) if side > 1 else np.zeros(1)
        rows, cols = np.meshgrid(ticks, ticks, indexing="ij")
        centres = np.stack([cols.ravel(), rows.ravel()], axis=1)
    else:
        raise ValueError(f"layout must be 'ring' or 'grid', got {layout!r}.")
    return torch.from_numpy(centres.astype(np.float32))


def gaussian_mixture(
    n: int = 1000, modes: int = 8, radius: float = 2.0, std: float = 0.02, layout: str = "ring", seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Points from ``modes`` small Gaussians on a ring or a grid: ``x: (n, 2)`` float32, ``mode: (n,)`` int64.

    The classic test of generative models (Metz et al., 2017; Srivastava et al., 2017): the modes are far
    apart compared with their spread, so a generator that drops some of them (mode collapse) is plain to see.
    Point ``i`` comes from the Gaussian with centre ``mixture_centres(modes, radius, layout)[mode[i]]`` and
    standard deviation ``std`` in each coordinate. Every mode gets ``n // modes`` or one more points, in a
    shuffled order.
    """
    n, std = check_int("n (the number of points)", n, minimum=1), check_number("std", std)
    centres = mixture_centres(modes, radius, layout).numpy()
    rng = np.random.default_rng(seed)
    mode = rng.permutation(np.arange(n) % len(centres))
    x = centres[mode] + std * rng.standard_normal((n, 2))
    return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(mode.astype(np.int64))
