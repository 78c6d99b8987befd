"""Measuring a model's outputs: accuracy, and the running means an epoch reports."""

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
