"""Softmax and cross-entropy for the Tensor engine, computed stably (the max is subtracted first)."""

import numpy as np

from dlbook.scratch.tensor import Tensor, graph_node


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """log(softmax(x)) along ``axis``, without overflow for large x; same shape as x."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    # Subtracting a constant per row leaves the result unchanged, and makes exp() at most 1.
    shifted = x - x.data.max(axis=axis, keepdims=True)
    return shifted - shifted.exp().sum(axis=axis, keepdims=True).log()


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """Probabilities along ``axis``: exp(x) / sum(exp(x)), computed stably; same shape as x."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    e = (x - x.data.max(axis=axis, keepdims=True)).exp()
    return e / e.sum(axis=axis, keepdims=True)


def cross_entropy(logits: Tensor, targets: np.ndarray) -> Tensor:
    """Mean negative log-probability of the targets: logits (batch, classes), targets (batch,) ints.

    The backward pass is the short formula (softmax - one_hot(targets)) / batch instead of a
    trip through every operation of log_softmax: same numbers, several times faster.
    """
    logits = logits if isinstance(logits, Tensor) else Tensor(logits)
    targets = _check_targets(logits, targets)
    logp = logits.data - logits.data.max(axis=1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
    rows = np.arange(len(targets))
    loss = -logp[rows, targets].mean()

    def backward(g):
        grad = np.exp(logp)  # softmax(logits)
        grad[rows, targets] -= 1
        logits.add_grad(grad * (g / len(targets)))

    return graph_node(loss, (logits,), backward)


def _check_targets(logits: Tensor, targets) -> np.ndarray:
    """The targets as an integer array, after checking them against the logits."""
    if isinstance(targets, Tensor):
        raise TypeError(
            "cross_entropy takes the targets as a numpy array of integer class indices, not a Tensor "
            "(a Tensor holds floats); pass the label array itself."
        )
    targets = np.asarray(targets)
    if logits.ndim != 2:
        raise ValueError(f"cross_entropy needs logits of shape (batch, classes), got shape {logits.shape}.")
    if not np.issubdtype(targets.dtype, np.integer):
        raise TypeError(
            f"cross_entropy needs integer class indices as targets, got dtype {targets.dtype}; "
            "convert them with targets.astype(int)."
        )
    if targets.shape != logits.shape[:1]:
        raise ValueError(
            f"cross_entropy needs one target per row of logits: logits {logits.shape} need targets of "
            f"shape {logits.shape[:1]}, got {targets.shape}."
        )
    classes = logits.shape[1]
    bad = targets[(targets < 0) | (targets >= classes)]
    if bad.size:
        raise ValueError(f"target {bad[0]} is out of range: {classes} classes take targets 0..{classes - 1}.")
    if not np.isfinite(logits.data).all():
        raise ValueError("the logits contain NaN or inf: training diverged (try a smaller learning rate).")
    return targets
