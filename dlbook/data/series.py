"""Time series shipped with dlbook, and helpers to forecast them: windows of the past and splits by time.

A series is split by time, never at random: train on the past, validate on the later part and test on the
last part, as a forecast would be used. Shuffled windows would put the days (or years) right after a
validation target into training, and the validation error would flatter the model::

    years, spots = sunspots()
    train, val, test = split_by_time(spots, val_fraction=0.15, test_fraction=0.15)
    x_train, y_train = windows(train, length=20)
    x_val, y_val = windows(np.concatenate([train[-20:], val]), length=20)   # targets: every value of val

Windows of ``val`` may start in the end of ``train`` (the past a forecast is allowed to see); their
targets are all in ``val``.
"""

import functools
import lzma
from pathlib import Path

import numpy as np
import torch

from dlbook.data import files

SUNSPOTS_FILE = "sunspots.csv"
CO2_FILE = "co2.csv.xz"


@functools.lru_cache(maxsize=4)
def _read_csv(path: str, size: int, mtime_ns: int) -> np.ndarray:
    """The numeric table of a shipped csv (``.xz`` or plain), header skipped, empty fields as NaN;
    cached per file version (``size``, ``mtime_ns``) in this process."""
    raw = Path(path).read_bytes()
    text = (lzma.decompress(raw) if path.endswith(".xz") else raw).decode("ascii")
    rows = [line.split(",") for line in text.split()[1:]]
    table = np.array([[float(value) if value else np.nan for value in row] for row in rows])
    table.setflags(write=False)
    return table


def _table(filename: str) -> np.ndarray:
    path = files.shipped(filename)  # SHA-256 checked on every call
    stat = path.stat()
    return _read_csv(str(path), stat.st_size, stat.st_mtime_ns)


def sunspots() -> tuple[np.ndarray, np.ndarray]:
    """Yearly mean sunspot numbers 1700-2008 (public domain, from statsmodels; see ``files/LICENSES.md``).

    Returns ``(years, values)``, both ``(309,)`` float32: ``years`` is 1700.0, 1701.0, ..., 2008.0 and
    ``values[i]`` the mean sunspot number of ``years[i]`` (0 to 190.2, a cycle of about 11 years).
    Split it by time (:func:`split_by_time`), never at random.
    """
    table = _table(SUNSPOTS_FILE)
    return table[:, 0].astype(np.float32), table[:, 1].astype(np.float32)


def co2() -> tuple[np.ndarray, np.ndarray]:
    """Weekly atmospheric CO2 at Mauna Loa, 29 March 1958 to 29 December 2001 (public domain, from statsmodels).

    Returns ``(dates, values)``: ``dates: (2284,)`` ``datetime64[D]``, one a week, and ``values: (2284,)``
    float32 in ppmv, NaN for the 59 weeks without a measurement (fill them, e.g. by interpolation,
    before training). Split it by time (:func:`split_by_time`), never at random.
    """
    table = _table(CO2_FILE)
    stamps = [f"{int(d) // 10000:04d}-{int(d) // 100 % 100:02d}-{int(d) % 100:02d}" for d in table[:, 0]]
    return np.array(stamps, dtype="datetime64[D]"), table[:, 1].astype(np.float32)


def _cuts(n: int, val_fraction: float, test_fraction: float) -> tuple[int, int]:
    """Where validation and test begin in a sequence of ``n`` items: ``round(n * (1 - val - test))``, etc."""
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not isinstance(value, int | float) or not 0 < value < 1:
            raise ValueError(f"{name} must be a number between 0 and 1 (exclusive), got {value!r}.")
    if val_fraction + test_fraction >= 1:
        raise ValueError(
            f"val_fraction + test_fraction must be below 1 to leave a training part, got {val_fraction} + "
            f"{test_fraction}."
        )
    val_start, test_start = round(n * (1 - val_fraction - test_fraction)), round(n * (1 - test_fraction))
    if not 0 < val_start < test_start < n:
        raise ValueError(f"{n} items are too few to split with val_fraction={val_fraction}, "
                         f"test_fraction={test_fraction}: a part would be empty.")  # fmt: skip
    return val_start, test_start


def split_by_time(series, val_fraction: float = 0.15, test_fraction: float = 0.15):
    """Split ``series: (T, ...)`` (array, tensor or list) by time into ``(train, val, test)``.

    Contiguous, in order and disjoint: ``train`` is the first ``1 - val_fraction - test_fraction`` of the
    steps (the past), ``val`` the next ``val_fraction`` and ``test`` the last ``test_fraction`` (rounded to
    whole steps). Together they are exactly ``series``.
    """
    val_start, test_start = _cuts(len(series), val_fraction, test_fraction)
    return series[:val_start], series[val_start:test_start], series[test_start:]


def windows(series, length: int, horizon: int = 1):
    """Every window of ``length`` steps of ``series`` with the ``horizon`` steps that follow it.

    ``series: (T,)`` or ``(T, features)``, a NumPy array or a torch tensor. Returns ``(x, y)`` of the same
    kind and dtype, copies: ``x: (n, length)`` and ``y: (n, horizon)`` (or ``(n, length, features)`` and
    ``(n, horizon, features)``), ``n = T - length - horizon + 1``, with ``x[i] = series[i : i + length]``
    and ``y[i] = series[i + length : i + length + horizon]``. The windows overlap, so make them after
    splitting by time (:func:`split_by_time`), separately in each part.
    """
    for name, value in (("length", length), ("horizon", horizon)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}.")
    is_tensor = isinstance(series, torch.Tensor)
    values = series if is_tensor else np.asarray(series)
    if values.ndim not in (1, 2):
        raise ValueError(f"series must be (T,) or (T, features), got shape {tuple(values.shape)}.")
    n = len(values) - length - horizon + 1
    if n < 1:
        raise ValueError(
            f"a series of {len(values)} steps is too short for windows of length={length} and "
            f"horizon={horizon}: it needs at least {length + horizon}."
        )
    span = length + horizon
    if is_tensor:
        spans = values.unfold(0, span, 1)  # (n, span) or (n, features, span)
        spans = spans if values.ndim == 1 else spans.transpose(1, 2)
        return spans[:, :length].clone(), spans[:, length:].clone()
    spans = np.lib.stride_tricks.sliding_window_view(values, span, axis=0)  # (n, span) or (n, features, span)
    spans = spans if values.ndim == 1 else np.swapaxes(spans, 1, 2)
    return spans[:, :length].copy(), spans[:, length:].copy()
