"""Splitting a labelled set in two, and batching it with a torch DataLoader."""

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset


def split(x, y, fraction: float, seed: int = 0):
    """Stratified split of ``x: (n, ...)``, ``y: (n,)`` into ``(x_a, y_a, x_b, y_b)``.

    ``fraction`` of every class goes to ``b`` (e.g. the validation or test part), chosen at
    random with ``seed``; both parts keep the original order. Works on tensors and arrays.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be between 0 and 1 (exclusive), got {fraction!r}.")
    labels = np.asarray(y)
    if labels.ndim != 1 or len(x) != len(labels):
        raise ValueError(f"need x: (n, ...) and y: (n,), got {len(x)} samples and y of shape {labels.shape}.")
    rng = np.random.default_rng(seed)
    in_b = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        in_b[members[: round(fraction * len(members))]] = True
    a, b = np.flatnonzero(~in_b), np.flatnonzero(in_b)
    if len(a) == 0 or len(b) == 0:
        raise ValueError(f"{len(labels)} samples are too few to split with fraction={fraction}.")
    return x[a], y[a], x[b], y[b]


def loader(x: torch.Tensor, y: torch.Tensor, batch_size: int = 128, shuffle: bool = False, seed: int = 0):
    """A DataLoader of ``(x: (batch, ...), y: (batch,))``; ``shuffle`` reshuffles each epoch from ``seed``."""
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}.")
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle, generator=generator)
