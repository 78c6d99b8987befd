"""dlbook.generative_metrics: the Fréchet distance against closed forms, mode coverage on the 2-D mixture,
precision and recall by hand and on collapsed generators, class coverage with a known classifier."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from dlbook.data import gaussian_mixture, mixture_centres
from dlbook.generative_metrics import (
    class_coverage,
    frechet_distance,
    gaussian_frechet_distance,
    mode_coverage,
    precision_recall,
)

# ---------- Fréchet distance ----------


def test_frechet_distance_in_one_dimension_is_the_gap_in_mean_and_in_std():
    assert gaussian_frechet_distance([1.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx((1 - 3) ** 2 + (2 - 3) ** 2)


def test_frechet_distance_for_commuting_covariances():
    """Diagonal covariances: |m_a - m_b|^2 + sum (sqrt(var_a) - sqrt(var_b))^2."""
    var_a, var_b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    mean_a, mean_b = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    expected = ((mean_a - mean_b) ** 2).sum() + ((np.sqrt(var_a) - np.sqrt(var_b)) ** 2).sum()
    assert gaussian_frechet_distance(mean_a, np.diag(var_a), mean_b, np.diag(var_b)) == pytest.approx(expected)
    rotation, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((3, 3)))  # rotating both changes nothing
    rotated = gaussian_frechet_distance(rotation @ mean_a, rotation @ np.diag(var_a) @ rotation.T,
                                        rotation @ mean_b, rotation @ np.diag(var_b) @ rotation.T)  # fmt: skip
    assert rotated == pytest.approx(expected)


def test_frechet_distance_agrees_with_the_matrix_square_root_formula():
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((4, 4)), rng.standard_normal((4, 4))
    cov_a, cov_b = a @ a.T + 0.1 * np.eye(4), b @ b.T + 0.1 * np.eye(4)  # do not commute
    mean_a, mean_b = rng.standard_normal(4), rng.standard_normal(4)
    trace = np.trace(cov_a + cov_b - 2 * linalg.sqrtm(cov_a @ cov_b).real)  # the usual FID code
    expected = ((mean_a - mean_b) ** 2).sum() + trace
    assert gaussian_frechet_distance(mean_a, cov_a, mean_b, cov_b) == pytest.approx(expected, rel=1e-8)


def test_frechet_distance_of_samples():
    rng = np.random.default_rng(2)
    root_a, root_b = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    mean_a, mean_b = np.zeros(3), np.array([0.5, -1.0, 0.0])
    a = rng.standard_normal((50_000, 3)) @ root_a.T + mean_a  # covariance root_a root_a^T
    b = rng.standard_normal((50_000, 3)) @ root_b.T + mean_b
    exact = gaussian_frechet_distance(mean_a, root_a @ root_a.T, mean_b, root_b @ root_b.T)
    assert frechet_distance(a, b) == pytest.approx(exact, rel=0.03)
    assert abs(frechet_distance(a, a)) < 1e-9
    shift = np.array([0.3, 0.4, 0.0])  # moving a set moves only the mean: the distance is |shift|^2
    assert frechet_distance(torch.from_numpy(a), torch.from_numpy(a + shift)) == pytest.approx(0.25, rel=1e-6)
    x, _ = gaussian_mixture(1000)
    assert frechet_distance(x[:, :1], x[:, 1:]) >= 0  # one feature works too
    with pytest.raises(ValueError, match="must match"):
        frechet_distance(a, b[:, :2])
    with pytest.raises(ValueError, match=r"n >= 2"):
        frechet_distance(a[:1], b)
    with pytest.raises(ValueError, match="nan or inf"):
        frechet_distance(np.full((3, 2), np.nan), b[:, :2])


# ---------- mode coverage ----------


def test_mode_coverage_of_the_data_itself():
    x, _ = gaussian_mixture(4000, std=0.02)
    covered, good = mode_coverage(x, mixture_centres(), std=0.02)
    assert covered == 8
    assert good == pytest.approx(1 - math.exp(-4.5), abs=0.01)  # P(|offset| <= 3 std) for a 2-D Gaussian


def test_mode_coverage_of_collapsed_and_blurry_generators():
    x, mode = gaussian_mixture(4000, std=0.02)
    centres = mixture_centres()
    assert mode_coverage(x[mode < 3], centres, std=0.02).modes == 3
    blurry, _ = gaussian_mixture(4000, std=0.2)
    result = mode_coverage(blurry, centres, std=0.02)
    assert result.high_quality == pytest.approx(1 - math.exp(-0.045), abs=0.01)  # 0.3 std of the blur
    # a mode with a few good samples is not covered: fewer than 0.2 of a fair share n / modes
    few = torch.cat([x[mode == 0][:400], centres[1:2] + 0.01])  # a fair share is 401 / 8 = 50 samples
    assert mode_coverage(few, centres, std=0.02).modes == 1  # 1 sample < 0.2 of a fair share
    assert mode_coverage(torch.cat([few] + [centres[1:2]] * 10), centres, std=0.02).modes == 2  # 11 >= 0.2 * 411 / 8
    assert mode_coverage(few, centres, std=0.02, min_share=0).modes == 2  # at least one sample, whatever min_share
    with pytest.raises(ValueError, match="must match"):
        mode_coverage(x, torch.zeros(8, 3), std=0.02)


# ---------- precision and recall ----------


def test_precision_recall_by_hand():
    real, fake = np.array([[0.0], [1.0], [3.0]]), np.array([[0.5], [5.5], [2.9]])
    # k = 1: real radii 1, 1, 2; fake radii 2.4, 2.6, 2.6
    # precision: 0.5 is within 1 of 0, 5.5 is 2.5 > 2 from 3, 2.9 is within 2 of 3 -> 2/3
    # recall: 0 is 0.5 from 0.5, 1 is 0.5 from 0.5, 3 is 0.1 from 2.9 -> 3/3
    precision, recall = precision_recall(real, fake, k=1)
    assert (precision, recall) == (pytest.approx(2 / 3), 1.0)
    assert precision_recall(real, fake, k=1, chunk=1) == precision_recall(real, fake, k=1)
    assert precision_recall(real, real, k=2) == (1.0, 1.0)


def test_precision_recall_separate_quality_from_variety():
    real, _ = gaussian_mixture(2000, std=0.05, seed=0)
    fresh, mode = gaussian_mixture(2000, std=0.05, seed=1)
    same = precision_recall(real, fresh)
    assert same.precision > 0.9 and same.recall > 0.9
    collapsed = precision_recall(real, fresh[mode < 2])  # two modes of eight, each perfect
    assert collapsed.precision > 0.9 and collapsed.recall == pytest.approx(2 / 8, abs=0.03)
    far = precision_recall(real, fresh + 10)
    assert far == (0.0, 0.0)
    with pytest.raises(ValueError, match="more than 3 samples"):
        precision_recall(real, fresh[:3])


# ---------- class coverage ----------


def test_class_coverage_counts_the_classifier_argmax():
    classifier = nn.Linear(2, 3, bias=False)
    with torch.no_grad():
        classifier.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]))
    samples = torch.tensor([[5.0, 0.0]] * 6 + [[0.0, 5.0]] * 3 + [[-5.0, -5.0]])  # classes 0 x6, 1 x3, 2 x1
    classifier.train()
    shares = class_coverage(classifier, samples, batch_size=4)
    torch.testing.assert_close(shares, torch.tensor([0.6, 0.3, 0.1], dtype=torch.float64))
    assert classifier.training, "the classifier's mode is restored"
    assert class_coverage(classifier, samples[:6]).tolist() == [1.0, 0.0, 0.0]
    with pytest.raises(ValueError, match=r"\(n, \.\.\.\) tensor"):
        class_coverage(classifier, torch.zeros(0, 2))
