"""Argument checks shared by dlbook's modules, so a bad argument gets the same clear message everywhere.

A value of the wrong type (a bool, a string, None, a tensor) raises a TypeError; a number out of its range
raises a ValueError. Both say what was expected and what was given. NumPy numbers count as numbers, and
each check returns the value as a plain Python int or float, which a ``state_dict`` can hold and
``torch.load(..., weights_only=True)`` can read back (it refuses NumPy scalars). For example::

    lr = check_number("lr", lr)                                       # a finite float >= 0
    alpha = check_number("alpha", alpha, 0, 1, high_inclusive=False)  # in [0, 1)
    epochs = check_int("epochs", epochs, minimum=1)                   # a positive int
    betas = check_pair("betas", betas, 0, 1, high_inclusive=False, example=(0.9, 0.999))
"""

import math
import numbers

import numpy as np

__all__ = ["check_int", "check_number", "check_pair"]


def _given(value) -> str:
    """How to show a value of the wrong type in a message: its repr and its type."""
    advice = "; for a one-element tensor or array, pass value.item()" if hasattr(value, "item") else ""
    return f"got {value!r} ({type(value).__name__}){advice}"


def _int_range(minimum: int | None, maximum: int | None) -> str:
    """'a positive int', 'an int >= 2', 'a non-negative int <= 9', 'an int in [2, 5]' ... for a message."""
    if minimum not in (None, 0, 1) and maximum is not None:
        return f"an int in [{minimum}, {maximum}]"
    lower = {None: "an int", 0: "a non-negative int", 1: "a positive int"}.get(minimum, f"an int >= {minimum}")
    return lower + (f" <= {maximum}" if maximum is not None else "")


def _interval(low: float | None, high: float | None, high_inclusive: bool) -> str:
    """'>= 0', 'in [0, 1)', '<= 1' ... for a message."""
    if high is None:
        return f">= {low:g}" if low is not None else "any finite number"
    if low is None:
        return f"{'<=' if high_inclusive else '<'} {high:g}"
    return f"in [{low:g}, {high:g}{']' if high_inclusive else ')'}"


def check_number(
    name: str,
    value,
    low: float | None = 0.0,
    high: float | None = None,
    *,
    high_inclusive: bool = True,
    hint: str = "",
) -> float:
    """``value`` as a float, if it is a finite real number with ``low <= value <= high``.

    ``None`` for ``low`` or ``high`` leaves that side open; ``high_inclusive=False`` makes it ``value < high``.
    ``hint`` is added to the message (e.g. why the bound is there).
    """
    wanted, hint = _interval(low, high, high_inclusive), f" {hint}" if hint else ""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number {wanted}, {_given(value)}.{hint}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite ({wanted}), got {number}.{hint}")
    too_high = high is not None and (number > high if high_inclusive else number >= high)
    if too_high or (low is not None and number < low):
        raise ValueError(f"{name} must be {wanted}, got {number!r}.{hint}")
    return number


def check_int(name: str, value, minimum: int | None = None, maximum: int | None = None, *, hint: str = "") -> int:
    """``value`` as an int, if it is an integer (Python or NumPy, not a bool) with ``minimum <= value <= maximum``.

    A float such as ``3.0`` is refused: where a count is meant, a float is usually a mistake.
    """
    wanted, hint = _int_range(minimum, maximum), f" {hint}" if hint else ""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be {wanted}, {_given(value)}.{hint}")
    number = int(value)
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise ValueError(f"{name} must be {wanted}, got {number}.{hint}")
    return number


def check_pair(
    name: str,
    value,
    low: float | None = 0.0,
    high: float | None = None,
    *,
    high_inclusive: bool = True,
    example: tuple[float, float] | None = None,
) -> tuple[float, float]:
    """``value`` as a tuple of two floats, if it is a pair (tuple, list or 1-d array) of numbers that each
    pass :func:`check_number` with these bounds; they are named ``name[0]`` and ``name[1]`` in messages."""
    like = f", e.g. {example}" if example is not None else ""
    if not isinstance(value, (tuple, list, np.ndarray)) or (isinstance(value, np.ndarray) and value.ndim != 1):
        raise TypeError(f"{name} must be a pair of numbers{like}, {_given(value)}.")
    if len(value) != 2:
        raise TypeError(f"{name} must be a pair of numbers{like}, got {len(value)} values: {value!r}.")
    first, second = (
        check_number(f"{name}[{i}]", v, low, high, high_inclusive=high_inclusive) for i, v in enumerate(value)
    )
    return first, second
