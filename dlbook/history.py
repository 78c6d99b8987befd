"""What a training run records: a History of every epoch, and EarlyStopping, which reads it.

history["val_loss"]                        # one float per epoch
EarlyStopping(patience=5).best_epoch(history)
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass


class History:
    """Per-epoch records of a training run; ``history["val_loss"]`` is a list with one float per epoch."""

    def __init__(self, records: Iterable[dict] = ()):
        self.records = [dict(record) for record in records]

    def append(self, record: dict) -> None:
        """Add one epoch's record, e.g. ``{"epoch": 3, "train_loss": 0.41, ...}``; any metric may be added."""
        self.records.append(dict(record))

    def keys(self) -> list[str]:
        """Every metric recorded, in the order first seen."""
        return list(dict.fromkeys(key for record in self.records for key in record))

    def __getitem__(self, key: str) -> list:
        if key not in self.keys():
            raise KeyError(f"History has no {key!r}; it records {self.keys()}.")
        return [record.get(key, math.nan) for record in self.records]  # nan for an epoch that lacks it

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self):
        return iter(self.records)

    @property
    def last(self) -> dict:
        """The record of the latest epoch."""
        if not self.records:
            raise IndexError("History is empty: no epoch has finished yet.")
        return self.records[-1]

    def to_dict(self) -> dict:
        """Plain lists and numbers, to store in a checkpoint."""
        return {"records": [dict(record) for record in self.records]}

    @classmethod
    def from_dict(cls, state: dict) -> "History":
        """The History that ``to_dict`` stored."""
        if not isinstance(state, dict) or "records" not in state:
            raise ValueError("not a stored History: expected the dict that History.to_dict() returns.")
        return cls(state["records"])

    def __repr__(self) -> str:
        return f"History({len(self)} epochs of {self.keys()})"


@dataclass(frozen=True)
class EarlyStopping:
    """Stop once ``metric`` has not improved for ``patience`` epochs in a row; keep the best epoch's weights.

    An epoch improves when its value beats the best so far by more than ``min_delta`` (lower is better
    for ``mode="min"``, higher for ``"max"``). Everything else follows from the History, so a resumed
    run stops exactly where an uninterrupted one would.
    """

    patience: int = 5
    metric: str = "val_loss"
    mode: str = "min"
    min_delta: float = 0.0

    def __post_init__(self):
        if not isinstance(self.patience, int) or isinstance(self.patience, bool) or self.patience < 1:
            raise ValueError(f"patience must be a whole number of epochs >= 1, got {self.patience!r}.")
        if self.mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' (for a loss) or 'max' (an accuracy), got {self.mode!r}.")
        if not isinstance(self.min_delta, (int, float)) or not self.min_delta >= 0:
            raise ValueError(f"min_delta must be a number >= 0, got {self.min_delta!r}.")

    def best_epoch(self, history: History) -> int:
        """The epoch whose weights early stopping keeps: the last one that improved on all before it.

        A nan or infinite value never counts as an improvement, and any finite value improves on it.
        """
        values = history[self.metric]
        best = 0
        for i, value in enumerate(values):
            change = values[best] - value if self.mode == "min" else value - values[best]
            if math.isfinite(value) and (not math.isfinite(values[best]) or change > self.min_delta):
                best = i
        return history["epoch"][best]

    def should_stop(self, history: History) -> bool:
        """Whether the last ``patience`` epochs all failed to improve on the best one."""
        return len(history) > 0 and history.last["epoch"] - self.best_epoch(history) >= self.patience
