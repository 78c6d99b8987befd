"""Per-group error rates with their standard errors (chapter 14), for a binary classifier.

One overall accuracy can hide a group that is served much worse. :func:`group_rates` reports, for every
group, the accuracy, the false-positive rate (negatives predicted positive) and the false-negative rate
(positives predicted negative), each with the standard error of a proportion, sqrt(p (1 - p) / n)::

    rates = group_rates(y_true, y_pred, groups)    # three arrays of n; groups: any labels
    rates["negated"].accuracy, rates["negated"].accuracy_se
"""

import math
from dataclasses import dataclass

import numpy as np
import torch

from dlbook.metrics import standard_error

__all__ = ["GroupRates", "group_rates", "proportion_se"]


def proportion_se(p: float, n: int) -> float:
    """Standard error sqrt(p (1 - p) / n) of a proportion p measured on n examples; nan when n is 0."""
    return standard_error(p, n) if n > 0 else math.nan


@dataclass(frozen=True)
class GroupRates:
    """One group's counts and rates; each rate comes with its standard error (``*_se``), nan if undefined."""

    n: int
    positives: int
    negatives: int
    accuracy: float
    accuracy_se: float
    false_positive_rate: float
    false_positive_rate_se: float
    false_negative_rate: float
    false_negative_rate_se: float


def _array(values, name: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, one value per example, got shape {array.shape}.")
    return array


def _rate(hits: np.ndarray) -> tuple[float, float]:
    if hits.size == 0:
        return math.nan, math.nan
    p = float(hits.mean())
    return p, proportion_se(p, hits.size)


def group_rates(y_true, y_pred, groups) -> dict:
    """{group: GroupRates} for binary labels: y_true, y_pred (n,) of 0/1 (1 = positive), groups (n,) labels.

    Arrays, lists and tensors are accepted. Groups appear in sorted order. A rate without examples (a
    group with no negatives has no false-positive rate) is nan, as is its standard error.
    """
    y_true, y_pred, groups = _array(y_true, "y_true"), _array(y_pred, "y_pred"), _array(groups, "groups")
    if not len(y_true) == len(y_pred) == len(groups) or len(y_true) == 0:
        raise ValueError(
            f"y_true, y_pred and groups need the same length >= 1, got {len(y_true)}, {len(y_pred)}, {len(groups)}."
        )
    for name, values in (("y_true", y_true), ("y_pred", y_pred)):
        if not np.isin(values, (0, 1)).all():
            raise ValueError(f"{name} must hold binary labels 0 and 1 (1 = positive), found {np.unique(values)[:5]}.")
    y_true, y_pred = y_true.astype(int), y_pred.astype(int)
    rates = {}
    for group in sorted(set(groups.tolist())):
        member = groups == group
        truth, pred = y_true[member], y_pred[member]
        accuracy = _rate(truth == pred)
        fpr = _rate(pred[truth == 0] == 1)
        fnr = _rate(pred[truth == 1] == 0)
        rates[group] = GroupRates(
            int(member.sum()), int(truth.sum()), int((truth == 0).sum()), *accuracy, *fpr, *fnr
        )
    return rates
