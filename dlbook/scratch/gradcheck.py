"""Check an engine's gradients against finite differences: (f(x + eps) - f(x - eps)) / (2 eps)."""

from collections.abc import Callable

import numpy as np

from dlbook.scratch.tensor import Tensor


def gradcheck(
    f: Callable[..., Tensor], *tensors: Tensor, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3
) -> bool:
    """True when backward() of ``f(*tensors)`` matches central finite differences, in float64.

    A non-scalar output is reduced to one number with fixed random weights, so every output
    entry counts. A mismatch raises AssertionError naming the worst entry: which input, which
    index, the analytic and the numeric gradient.
    """
    if not tensors or not all(isinstance(t, Tensor) for t in tensors):
        raise TypeError("gradcheck(f, *tensors) needs at least one Tensor to differentiate with respect to.")
    inputs = [Tensor(t.data.astype(np.float64), requires_grad=True) for t in tensors]  # copies
    out = f(*inputs)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck needs f to return a Tensor, got {type(out).__name__}.")
    weights = np.random.default_rng(0).uniform(0.5, 1.5, size=out.shape)
    loss = (out * weights).sum()
    if loss.requires_grad:
        loss.backward()

    def value() -> float:
        return float((f(*inputs).data * weights).sum())

    worst = (0.0, None)  # (how far over the tolerance, details)
    for k, x in enumerate(inputs):
        analytic = np.zeros(x.shape) if x.grad is None else x.grad
        for index in np.ndindex(x.shape):
            original = x.data[index]
            x.data[index] = original + eps
            up = value()
            x.data[index] = original - eps
            down = value()
            x.data[index] = original
            numeric = (up - down) / (2 * eps)
            excess = abs(analytic[index] - numeric) - (atol + rtol * abs(numeric))
            excess = np.inf if np.isnan(excess) else excess  # a NaN gradient is the worst mismatch
            if excess > worst[0]:
                worst = (excess, (k, x.shape, index, analytic[index], numeric))
    if worst[1] is not None:
        k, shape, index, a, n = worst[1]
        raise AssertionError(
            f"gradcheck failed: input {k} (shape {shape}) at index {index}: analytic gradient {a:.6g}, "
            f"numeric {n:.6g} (difference {abs(a - n):.3g} > atol + rtol * |numeric| = "
            f"{atol + rtol * abs(n):.3g})."
        )
    return True
