"""Measuring generated samples against real ones: Fréchet distance, mode coverage, precision and recall.

A generator has no test accuracy; these numbers compare what it makes with held-out real data::

    frechet_distance(real_features, fake_features)      # 0 for identical Gaussian statistics
    mode_coverage(samples, centres, std=0.02)           # the 2-D mixture: modes hit, share of good samples
    precision_recall(real_features, fake_features)      # quality and variety, separately
    class_coverage(classifier, images)                  # share of each class a trained classifier sees

Features are ``(n, d)`` tensors or arrays, one row per sample: the points themselves for 2-D data, a
trained classifier's penultimate activations for images (with Inception-v3's, the Fréchet distance is FID).
"""

from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from dlbook.checks import check_int, check_number

__all__ = [
    "ModeCoverage", "PrecisionRecall", "class_coverage", "frechet_distance", "gaussian_frechet_distance",
    "mode_coverage", "precision_recall",
]  # fmt: skip


def _features(name: str, x, min_rows: int = 1) -> np.ndarray:
    """``x`` as a float64 array (n, d) with at least ``min_rows`` finite rows."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) < min_rows or x.shape[1] == 0:
        raise ValueError(f"{name} must be (n, d) features with n >= {min_rows}, got shape {x.shape}.")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} holds nan or inf.")
    return x


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric positive semi-definite matrix, by eigendecomposition."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(values.clip(min=0))) @ vectors.T


def gaussian_frechet_distance(mean_a, cov_a, mean_b, cov_b) -> float:
    """The Fréchet (Wasserstein-2) distance, squared, between N(mean_a, cov_a) and N(mean_b, cov_b).

    ``|mean_a - mean_b|^2 + tr(cov_a + cov_b - 2 (cov_a^(1/2) cov_b cov_a^(1/2))^(1/2))``; means (d,),
    covariances (d, d). The trace term equals the usual ``tr (cov_a cov_b)^(1/2)`` form, but only takes square
    roots of symmetric matrices (by eigendecomposition), so it stays real and needs no SciPy.
    """
    mean_a, mean_b = np.asarray(mean_a, dtype=np.float64), np.asarray(mean_b, dtype=np.float64)
    cov_a, cov_b = np.asarray(cov_a, dtype=np.float64), np.asarray(cov_b, dtype=np.float64)
    d = mean_a.shape[0] if mean_a.ndim == 1 else -1
    if mean_b.shape != (d,) or cov_a.shape != (d, d) or cov_b.shape != (d, d):
        raise ValueError(f"need means (d,) and covariances (d, d) of one d, got {mean_a.shape}, {cov_a.shape}, "
                         f"{mean_b.shape}, {cov_b.shape}.")  # fmt: skip
    root_a = _psd_sqrt(cov_a)
    cross = np.sqrt(np.linalg.eigvalsh(root_a @ cov_b @ root_a).clip(min=0)).sum()
    distance = ((mean_a - mean_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * cross
    return float(max(distance, 0.0))


def frechet_distance(features_a, features_b) -> float:
    """The Fréchet distance between two sets of features, each summarized by a Gaussian: (n, d), (m, d) -> float.

    The means and (unbiased) covariances of each set go into :func:`gaussian_frechet_distance`. It is 0 for
    identical statistics and grows with any difference in mean or spread. It is biased upwards for small
    sets (it sees sampling noise as difference), so compare distances computed from equally many samples.
    """
    a, b = _features("features_a", features_a, 2), _features("features_b", features_b, 2)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"the two sets have {a.shape[1]} and {b.shape[1]} features per sample; they must match.")
    return gaussian_frechet_distance(a.mean(0), np.cov(a, rowvar=False).reshape(a.shape[1], -1),
                                     b.mean(0), np.cov(b, rowvar=False).reshape(b.shape[1], -1))  # fmt: skip


class ModeCoverage(NamedTuple):
    """What :func:`mode_coverage` returns."""

    modes: int  #: modes with enough high-quality samples
    high_quality: float  #: fraction of samples within ``threshold * std`` of their nearest centre


def mode_coverage(samples, centres, std: float, threshold: float = 3.0, min_share: float = 0.2) -> ModeCoverage:
    """How many modes of a 2-D mixture the samples cover, and how many samples are good: (modes, fraction).

    samples: (n, 2), centres: (modes, 2) (:func:`dlbook.data.mixture_centres`). A sample is high quality
    when it lies within ``threshold * std`` of its nearest centre (Srivastava et al., 2017). A mode counts
    as covered when its high-quality samples number at least ``min_share`` of a fair share ``n / modes``
    (the default 0.2 is PacGAN's rule: 20 of 2,500 samples on a 25-mode grid).
    """
    x, c = _features("samples", samples), _features("centres", centres)
    if x.shape[1] != c.shape[1]:
        raise ValueError(f"samples have {x.shape[1]} coordinates and centres {c.shape[1]}; they must match.")
    std = check_number("std", std)
    threshold, min_share = check_number("threshold", threshold), check_number("min_share", min_share, 0, 1)
    distance = np.sqrt(((x[:, None, :] - c[None, :, :]) ** 2).sum(-1))  # (n, modes)
    nearest, good = distance.argmin(1), distance.min(1) <= threshold * std
    counts = np.bincount(nearest[good], minlength=len(c))
    covered = int((counts >= max(min_share * len(x) / len(c), 1)).sum())
    return ModeCoverage(covered, float(good.mean()))


class PrecisionRecall(NamedTuple):
    """What :func:`precision_recall` returns."""

    precision: float  #: fraction of fake samples inside the real manifold
    recall: float  #: fraction of real samples inside the fake manifold


def _kth_neighbour_distance(x: torch.Tensor, k: int, chunk: int) -> torch.Tensor:
    """Each row's distance to its k-th nearest other row: x (n, d) -> (n,)."""
    radii = [torch.cdist(x[i : i + chunk], x).kthvalue(k + 1, dim=1).values for i in range(0, len(x), chunk)]
    return torch.cat(radii)  # k + 1: the nearest row is the point itself, at distance 0


def _inside(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, chunk: int) -> torch.Tensor:
    """Whether each point lies in at least one ball (centre, radius): (n,) bool."""
    hits = [(torch.cdist(points[i : i + chunk], centres) <= radii).any(1) for i in range(0, len(points), chunk)]
    return torch.cat(hits)


def precision_recall(real_features, fake_features, k: int = 3, chunk: int = 1024) -> PrecisionRecall:
    """Improved precision and recall (Kynkäänniemi et al., 2019): (n, d), (m, d) -> (precision, recall).

    Each set's manifold is the union of balls around its samples, each reaching to the sample's ``k``-th
    nearest neighbour in its own set. Precision is the fraction of fake samples inside the real manifold
    (are the fakes realistic?); recall the fraction of real samples inside the fake manifold (is all of the
    real data produced?). A collapsed generator has high precision and low recall. ``chunk`` rows of
    distances are computed at a time, so memory stays at ``chunk * max(n, m)``.
    """
    real = torch.from_numpy(_features("real_features", real_features))
    fake = torch.from_numpy(_features("fake_features", fake_features))
    k = check_int("k", k, minimum=1)
    chunk = check_int("chunk", chunk, minimum=1)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"the two sets have {real.shape[1]} and {fake.shape[1]} features; they must match.")
    if min(len(real), len(fake)) <= k:
        raise ValueError(f"k={k} needs more than {k} samples in each set, got {len(real)} and {len(fake)}.")
    real_radii, fake_radii = _kth_neighbour_distance(real, k, chunk), _kth_neighbour_distance(fake, k, chunk)
    precision = _inside(fake, real, real_radii, chunk).double().mean().item()
    recall = _inside(real, fake, fake_radii, chunk).double().mean().item()
    return PrecisionRecall(precision, recall)


def class_coverage(classifier: nn.Module, samples: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """The share of samples a trained classifier puts in each class: samples (n, ...) -> (classes,), sums to 1.

    A generator that covers a labelled data set evenly gives about ``1 / classes`` each; a collapsed one
    piles up on a few classes. Runs in eval mode without gradients, where the classifier is, in batches
    of ``batch_size``, and leaves the classifier in the mode it had.
    """
    if not isinstance(samples, torch.Tensor) or samples.ndim < 2 or len(samples) == 0:
        raise ValueError(f"samples must be a (n, ...) tensor with n >= 1, got {getattr(samples, 'shape', samples)}.")
    batch_size = check_int("batch_size", batch_size, minimum=1)
    params = list(classifier.parameters())
    device = params[0].device if params else samples.device
    was_training = classifier.training
    classifier.eval()
    try:
        with torch.no_grad():
            logits = [classifier(samples[i : i + batch_size].to(device)) for i in range(0, len(samples), batch_size)]
    finally:
        classifier.train(was_training)
    logits = torch.cat(logits)
    if logits.ndim != 2:
        raise ValueError(f"the classifier must return logits (batch, classes), got {tuple(logits.shape)}.")
    counts = torch.bincount(logits.argmax(1).cpu(), minlength=logits.shape[1])
    return counts.double() / len(samples)
