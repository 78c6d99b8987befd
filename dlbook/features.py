"""Hand-engineered image features, the classic alternative to learned ones (chapter 1).

:func:`hog` is a small histogram of oriented gradients in the spirit of Dalal and Triggs (2005):
every pixel votes for the direction of its brightness gradient, and the votes are counted per cell.
"""

import numpy as np
import torch

EPS = 0.1  # keeps a cell with (almost) no gradient from being blown up to unit length


def hog(images, cell: int = 4, bins: int = 9) -> np.ndarray:
    """Histograms of gradient orientation: images (n, h, w) or (n, 1, h, w) -> (n, h//cell * w//cell * bins).

    Each pixel's gradient (central differences, as ``np.gradient``) votes with its magnitude for one of
    ``bins`` equal orientation bins over 0-180 degrees (a dark-to-light edge and a light-to-dark edge
    count alike). Votes are summed over each ``cell`` x ``cell`` block, and each cell's histogram ``v``
    is scaled to ``v / sqrt(|v|^2 + EPS^2)``, so contrast matters less than shape. Returns float32,
    one row per image, cells in row-major order with their bins last.
    """
    x = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if x.ndim == 4 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 3 or 0 in x.shape:
        raise ValueError(f"images must be (n, h, w) or (n, 1, h, w) greyscale, got shape {x.shape}.")
    if not np.issubdtype(x.dtype, np.number) or not np.isfinite(x).all():
        raise ValueError("images must hold finite numbers; found nan, inf or a non-numeric dtype.")
    for name, value in (("cell", cell), ("bins", bins)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}.")
    n, h, w = x.shape
    if h % cell or w % cell or min(h, w) < 2:
        raise ValueError(f"cell={cell} must divide the image size {h}x{w}; crop the images or pick another cell.")
    gy, gx = np.gradient(x.astype(np.float32), axis=(1, 2))
    magnitude = np.hypot(gx, gy)
    angle = np.degrees(np.arctan2(gy, gx)) % 180  # orientation without sign, in [0, 180)
    bin_of = (angle * bins / 180).astype(int) % bins  # an angle that rounds up to 180 is 0 again
    blocks = (n, h // cell, cell, w // cell, cell)
    votes = [(magnitude * (bin_of == k)).reshape(blocks).sum(axis=(2, 4)) for k in range(bins)]
    hist = np.stack(votes, axis=-1)  # (n, h // cell, w // cell, bins)
    hist /= np.sqrt((hist**2).sum(axis=-1, keepdims=True) + EPS**2)
    return hist.reshape(n, -1).astype(np.float32)
