"""Measuring a model's outputs: accuracy, the running means an epoch reports, and the statistics of a test set."""

import math
from statistics import NormalDist
from typing import NamedTuple

import torch


def accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of rows whose largest logit is the target: logits (batch, classes), targets (batch,) class ids.

    Sequences work too: logits (batch, time, classes) against targets (batch, time).
    """
    if logits.ndim < 2 or logits.shape[:-1] != targets.shape or targets.numel() == 0:
        raise ValueError(
            f"accuracy needs logits: (batch, classes) and targets: (batch,) with batch >= 1, "
            f"got {tuple(logits.shape)} and {tuple(targets.shape)}."
        )
    if targets.is_floating_point():
        raise TypeError(f"targets must be integer class ids, got {targets.dtype}; convert them with .long().")
    return (logits.argmax(-1) == targets).sum().item() / targets.numel()


class RunningMeans:
    """Means over the batches of an epoch: the loss weighted by batch size, and the accuracy for class ids.

    ``add(outputs, targets, loss)`` after each batch; ``means(prefix)`` at the end, e.g.
    ``{"train_loss": 0.41, "train_accuracy": 0.87}``.
    """

    def __init__(self):
        self.loss, self.samples, self.correct, self.predicted = 0.0, 0, 0, 0

    def add(self, outputs: torch.Tensor, targets: torch.Tensor, loss: float) -> None:
        self.loss += loss * len(targets)
        self.samples += len(targets)
        if not targets.is_floating_point() and outputs.shape[:-1] == targets.shape:  # class ids
            self.correct += (outputs.argmax(-1) == targets).sum()  # stays on the device until means()
            self.predicted += targets.numel()

    def means(self, prefix: str, loader_name: str) -> dict[str, float]:
        if self.samples == 0:
            raise ValueError(
                f"{loader_name} gave no batches: is the dataset empty, or batch_size larger than the "
                "dataset with drop_last=True?"
            )
        means = {f"{prefix}loss": self.loss / self.samples}
        if self.predicted:
            means[f"{prefix}accuracy"] = float(self.correct) / self.predicted
        return means


# Is the difference real? The statistics of one test set (chapter 7).


def standard_error(accuracy: float, n: int) -> float:
    """Standard error of an accuracy measured on ``n`` independent examples: sqrt(p (1 - p) / n)."""
    if not 0 <= accuracy <= 1 or n < 1:
        raise ValueError(f"need 0 <= accuracy <= 1 and n >= 1 examples, got accuracy={accuracy}, n={n}.")
    return math.sqrt(accuracy * (1 - accuracy) / n)


def confidence_interval(accuracy: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """The normal-approximation interval accuracy ± z·standard_error, clipped to [0, 1].

    ``level`` 0.95 gives z = 1.96. Good when n·p and n·(1 - p) are both above about ten.
    """
    if not 0 < level < 1:
        raise ValueError(f"level is a probability such as 0.95, got {level}.")
    z = NormalDist().inv_cdf((1 + level) / 2)
    half = z * standard_error(accuracy, n)
    return max(0.0, accuracy - half), min(1.0, accuracy + half)


class McNemar(NamedTuple):
    """McNemar's test of two models on the same examples (see :func:`mcnemar`)."""

    only_a: int  #: examples only model A gets right
    only_b: int  #: examples only model B gets right
    z: float  #: (only_a - only_b) / sqrt(only_a + only_b)
    p_value: float  #: exact two-sided: the chance of a split at least this uneven if A and B were equally good


def mcnemar(correct_a: torch.Tensor, correct_b: torch.Tensor) -> McNemar:
    """McNemar's test on paired predictions: correct_a, correct_b (n,) booleans, one per test example.

    Only the examples on which the models disagree carry information. If the models were equally good,
    each such example would be won by A or by B with probability 1/2, so ``only_a`` is binomial with
    n = only_a + only_b and p = 1/2; the p-value is that distribution's two-sided tail.
    """
    correct_a, correct_b = torch.as_tensor(correct_a), torch.as_tensor(correct_b)
    if correct_a.dtype != torch.bool or correct_b.dtype != torch.bool or correct_a.shape != correct_b.shape:
        raise ValueError(
            "mcnemar needs two boolean tensors of the same shape, one entry per test example "
            f"(e.g. predictions == targets), got {correct_a.dtype} {tuple(correct_a.shape)} and "
            f"{correct_b.dtype} {tuple(correct_b.shape)}."
        )
    only_a = int((correct_a & ~correct_b).sum())
    only_b = int((correct_b & ~correct_a).sum())
    disagree = only_a + only_b
    if disagree == 0:
        return McNemar(0, 0, 0.0, 1.0)
    tail = sum(math.comb(disagree, k) for k in range(min(only_a, only_b) + 1))
    p_value = min(1.0, 2 * tail / 2**disagree)  # exact, in integers: no underflow
    return McNemar(only_a, only_b, (only_a - only_b) / math.sqrt(disagree), p_value)
