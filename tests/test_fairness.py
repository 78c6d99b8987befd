"""dlbook.fairness: per-group rates and standard errors counted by hand, undefined rates as nan, clear errors."""

import math

import numpy as np
import pytest
import torch

from dlbook.fairness import group_rates, proportion_se


def test_group_rates_counted_by_hand():
    y_true = [1, 1, 0, 0, 1, 0, 1, 0]
    y_pred = [1, 0, 0, 1, 1, 0, 0, 0]
    groups = ["a", "a", "a", "a", "b", "b", "b", "b"]
    rates = group_rates(y_true, y_pred, groups)
    a, b = rates["a"], rates["b"]
    assert (a.n, a.positives, a.negatives) == (4, 2, 2)
    assert a.accuracy == 0.5 and a.false_positive_rate == 0.5 and a.false_negative_rate == 0.5
    assert b.accuracy == 0.75 and b.false_positive_rate == 0.0 and b.false_negative_rate == 0.5
    assert a.accuracy_se == pytest.approx(math.sqrt(0.25 / 4))
    assert b.false_negative_rate_se == pytest.approx(math.sqrt(0.25 / 2))
    assert list(rates) == ["a", "b"]


def test_group_rates_take_tensors_and_arrays_alike():
    y_true, y_pred = torch.tensor([1, 0, 1]), np.array([1, 1, 1])
    rates = group_rates(y_true, y_pred, torch.tensor([0, 0, 1]))
    assert rates[0].false_positive_rate == 1.0 and rates[1].accuracy == 1.0


def test_a_rate_without_examples_is_nan():
    rates = group_rates([1, 1], [1, 0], ["only positives", "only positives"])
    assert math.isnan(rates["only positives"].false_positive_rate)
    assert math.isnan(rates["only positives"].false_positive_rate_se)
    assert math.isnan(proportion_se(0.5, 0))


def test_group_rates_refuse_bad_input_clearly():
    with pytest.raises(ValueError, match="same length"):
        group_rates([1, 0], [1], ["a", "b"])
    with pytest.raises(ValueError, match="binary labels"):
        group_rates([2, 0], [1, 0], ["a", "b"])
    with pytest.raises(ValueError, match="one-dimensional"):
        group_rates([[1, 0]], [[1, 0]], [["a", "b"]])
