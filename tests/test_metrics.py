"""The statistics of one test set: standard error, confidence interval, McNemar's test."""

import math

import pytest
import torch

from dlbook.metrics import confidence_interval, mcnemar, standard_error


def test_standard_error_matches_binomial_spread():
    # The spread of accuracies measured on many simulated test sets of 400 examples.
    g = torch.Generator().manual_seed(0)
    accuracies = (torch.rand(20_000, 400, generator=g) < 0.8).double().mean(1)
    assert standard_error(0.8, 400) == pytest.approx(accuracies.std().item(), rel=0.03)
    assert standard_error(0.8, 400) == pytest.approx(0.02)
    assert standard_error(1.0, 10) == 0.0


def test_confidence_interval_covers_the_true_accuracy_95_percent_of_the_time():
    g = torch.Generator().manual_seed(1)
    n, p = 500, 0.7
    measured = (torch.rand(4000, n, generator=g) < p).double().mean(1).tolist()
    covered = [low <= p <= high for low, high in (confidence_interval(a, n) for a in measured)]
    assert sum(covered) / len(covered) == pytest.approx(0.95, abs=0.015)
    low, high = confidence_interval(0.7, n, level=0.99)
    assert high - 0.7 == pytest.approx(2.5758 * standard_error(0.7, n), rel=1e-4)
    assert confidence_interval(0.999, 100)[1] == 1.0  # clipped


def test_mcnemar_counts_and_exact_p_value():
    a = torch.tensor([True] * 7 + [False] * 2 + [True] * 5 + [False] * 3)
    b = torch.tensor([False] * 7 + [True] * 2 + [True] * 5 + [False] * 3)
    result = mcnemar(a, b)
    assert (result.only_a, result.only_b) == (7, 2)
    assert result.z == pytest.approx(5 / 3)
    # two-sided binomial tail, n = 9, k <= 2, by hand: 2 * (1 + 9 + 36) / 512
    assert result.p_value == pytest.approx(92 / 512)
    assert mcnemar(b, a).p_value == result.p_value and mcnemar(b, a).z == -result.z
    assert mcnemar(a, a) == (0, 0, 0.0, 1.0)
    assert mcnemar(torch.tensor([True, False]), torch.tensor([False, True])).p_value == 1.0


def test_mcnemar_rejects_equal_models_about_5_percent_of_the_time():
    g = torch.Generator().manual_seed(2)
    rejected = 0
    for _ in range(2000):
        shared = torch.rand(300, generator=g) < 0.7  # both models find the same examples easy
        flips_a, flips_b = (torch.rand(300, generator=g) < 0.1 for _ in range(2))
        rejected += mcnemar(shared ^ flips_a, shared ^ flips_b).p_value < 0.05
    assert 0.02 < rejected / 2000 <= 0.06  # the exact test is a little conservative


def test_mcnemar_agrees_with_the_normal_approximation_for_large_counts():
    a = torch.zeros(2000, dtype=torch.bool)
    b = torch.zeros(2000, dtype=torch.bool)
    a[:600], b[600:1100] = True, True  # 600 won by A, 500 by B
    result = mcnemar(a, b)
    normal = math.erfc(abs(result.z) / math.sqrt(2))
    assert result.p_value == pytest.approx(normal, rel=0.15)


def test_bad_inputs_say_what_to_do():
    with pytest.raises(ValueError, match="boolean"):
        mcnemar(torch.tensor([1, 0]), torch.tensor([1, 1]))
    with pytest.raises(ValueError, match="same shape"):
        mcnemar(torch.tensor([True]), torch.tensor([True, False]))
    with pytest.raises(ValueError, match="accuracy"):
        standard_error(1.2, 10)
    with pytest.raises(ValueError, match="level"):
        confidence_interval(0.5, 10, level=95)
