"""dlbook.features.hog against a pixel-by-pixel reference written with plain Python loops."""

import math

import numpy as np
import pytest
import torch

from dlbook.features import EPS, hog


def hog_by_loops(image: np.ndarray, cell: int, bins: int) -> list[float]:
    """One image's features the slow way: a loop over pixels, math.atan2, and explicit cell sums."""
    h, w = image.shape

    def derivative(values: list[float], i: int) -> float:  # central inside, one-sided at the two ends
        if i == 0:
            return values[1] - values[0]
        if i == len(values) - 1:
            return values[-1] - values[-2]
        return (values[i + 1] - values[i - 1]) / 2

    hist = [[[0.0] * bins for _ in range(w // cell)] for _ in range(h // cell)]
    for r in range(h):
        for c in range(w):
            gx = derivative([float(v) for v in image[r]], c)
            gy = derivative([float(v) for v in image[:, c]], r)
            degrees = math.degrees(math.atan2(gy, gx))
            degrees = degrees + 180 if degrees < 0 else degrees
            degrees = 0.0 if degrees >= 180 else degrees
            k = min(int(degrees // (180 / bins)), bins - 1)
            hist[r // cell][c // cell][k] += math.hypot(gx, gy)
    out = []
    for row in hist:
        for votes in row:
            norm = math.sqrt(sum(v * v for v in votes) + EPS**2)
            out.extend(v / norm for v in votes)
    return out


@pytest.mark.parametrize("cell, bins, shape", [(4, 9, (8, 12)), (3, 6, (6, 9)), (2, 4, (4, 4))])
def test_matches_the_loop_reference(cell, bins, shape):
    images = np.random.default_rng(cell).random((3, *shape)).astype(np.float32)
    expected = np.array([hog_by_loops(image, cell, bins) for image in images])
    np.testing.assert_allclose(hog(images, cell=cell, bins=bins), expected, rtol=1e-5, atol=1e-6)


def test_an_edge_votes_for_its_direction():
    # A vertical edge changes brightness along x (0 degrees); a horizontal one along y (90 degrees).
    vertical = np.zeros((1, 8, 8), dtype=np.float32)
    vertical[:, :, 4:] = 1.0
    features = hog(vertical, cell=4, bins=9).reshape(2, 2, 9)
    assert features[:, 1, 0].min() > 0.9 and features[:, 1, 1:].max() == 0  # cells on the edge: bin 0 only
    assert features[:, 0, 0].min() > 0.9  # the gradient reaches one pixel into the left cells too
    horizontal = hog(vertical.transpose(0, 2, 1), cell=4, bins=9).reshape(2, 2, 9)
    assert horizontal[1, :, 4].min() > 0.9  # 90 degrees falls in bin 4, [80, 100)
    assert hog(np.full((1, 8, 8), 0.5), cell=4).max() == 0  # no gradient, no votes


def test_an_angle_just_below_180_degrees_wraps_to_bin_0():
    # -1e-30 one row down makes pixel (1, 0) point at -3e-29 degrees, which float32 rounds to 180:
    # the same orientation as 0 degrees, so its vote must land in bin 0 with the others, not vanish.
    image = np.tile(np.arange(4, dtype=np.float32), (4, 1))[None]
    image[0, 2, 0] = -1e-30
    clean = np.tile(np.arange(4, dtype=np.float32), (4, 1))[None]
    np.testing.assert_allclose(hog(image, cell=4, bins=9), hog(clean, cell=4, bins=9), rtol=1e-6)
    np.testing.assert_allclose(hog(image, cell=4, bins=9)[0], hog_by_loops(image[0], 4, 9), rtol=1e-6)


def test_tensor_with_channel_axis_equals_array():
    images = torch.rand(2, 1, 8, 8)
    np.testing.assert_array_equal(hog(images), hog(images[:, 0].numpy()))
    assert hog(images).dtype == np.float32 and hog(images).shape == (2, 2 * 2 * 9)


@pytest.mark.parametrize(
    "images, kwargs, message",
    [
        (np.zeros((8, 8)), {}, "shape"),
        (np.zeros((2, 3, 8, 8)), {}, "shape"),
        (np.zeros((1, 8, 8)), {"cell": 3}, "divide"),
        (np.full((1, 8, 8), np.nan), {}, "finite"),
        (np.zeros((1, 8, 8)), {"bins": 0}, "bins"),
    ],
)
def test_bad_input_is_a_clear_error(images, kwargs, message):
    with pytest.raises(ValueError, match=message):
        hog(images, **kwargs)
