"""The book's training loop: fit(), evaluate(), a History of every epoch, and checkpoints that resume exactly.

Every chapter from the first trained network on uses it the same way::

    history = dlbook.train.fit(model, train_loader, epochs=5, val_loader=val_loader)
    history["val_accuracy"]      # one float per epoch

It runs on cpu, cuda and mps (``dlbook.device()``); on cuda it trains in bfloat16 autocast. Two extras::

    history = dlbook.train.fit(model, train_loader, epochs=50, val_loader=val_loader,
                               early_stopping=EarlyStopping(patience=5),      # stop, keep the best weights
                               metrics={"test_accuracy": test_accuracy})      # any fn(model) -> float
"""

import math
import os
import pickle
import random
import re
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlbook.device import device as best_device

with warnings.catch_warnings():  # without ipywidgets, tqdm.auto warns in a notebook, then draws a text bar
    warnings.simplefilter("ignore")
    from tqdm import autonotebook, std
    from tqdm.auto import tqdm
WIDGET_BAR = autonotebook.tqdm is not std.tqdm  # tqdm.auto draws a Jupyter widget (ipywidgets is installed)

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Metric = Callable[[nn.Module], float]


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
        """The epoch whose weights early stopping keeps: the last one that improved on all before it."""
        values = history[self.metric]
        best = 0
        for i, value in enumerate(values):
            change = values[best] - value if self.mode == "min" else value - values[best]
            if change > self.min_delta:
                best = i
        return history["epoch"][best]

    def should_stop(self, history: History) -> bool:
        """Whether the last ``patience`` epochs all failed to improve on the best one."""
        return len(history) > 0 and history.last["epoch"] - self.best_epoch(history) >= self.patience


def evaluate(
    model: nn.Module,
    loader: Iterable,
    loss_fn: LossFn = F.cross_entropy,
    device: str | torch.device | None = None,
    amp: bool | None = None,
) -> dict[str, float]:
    """Mean loss over ``loader``'s (x, y) batches, weighted by batch size, and accuracy when y holds class ids.

    Runs in eval mode without gradients, on ``device`` (default: where the model's parameters are),
    and leaves the model in the train/eval mode it had.
    """
    if device is None:
        device = next((p.device for p in model.parameters()), None) or best_device()
    device = torch.device(device)
    model.to(device)
    was_training = model.training
    model.eval()
    totals = _Totals()
    try:
        with torch.no_grad():
            for batch in loader:
                outputs, targets, loss = _forward(model, batch, loss_fn, device, _use_amp(amp, device))
                totals.add(outputs, targets, loss.item())
    finally:
        model.train(was_training)
    return totals.means(prefix="", loader_name="the loader given to evaluate")


def fit(
    model: nn.Module,
    train_loader: Iterable,
    *,
    epochs: int,
    optimizer: torch.optim.Optimizer | None = None,
    loss_fn: LossFn = F.cross_entropy,
    val_loader: Iterable | None = None,
    device: str | torch.device | None = None,
    scheduler=None,
    early_stopping: EarlyStopping | None = None,
    metrics: dict[str, Metric] | None = None,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
    amp: bool | None = None,
) -> History:
    """Train ``model`` on ``train_loader``'s (x, y) batches until ``epochs`` epochs are done; return the History.

    ``optimizer`` defaults to AdamW(lr=1e-3); ``scheduler`` steps once per epoch. ``early_stopping`` may
    end training sooner; either way the model then holds the weights of its best epoch. ``metrics`` maps
    names to functions ``fn(model) -> float``, called after every epoch (in eval mode, without gradients)
    and recorded in the History. ``checkpoint=path`` saves everything after every epoch, and ``resume=True``
    continues from that file if it exists, giving the same weights as an uninterrupted run. ``amp``
    (bfloat16 autocast) defaults to on for cuda.
    """
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise ValueError(f"epochs must be a whole number >= 1, got {epochs!r}.")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs checkpoint=path, the file to resume from.")
    metrics = _check_metrics(metrics)
    if early_stopping is not None:
        if not isinstance(early_stopping, EarlyStopping):
            raise TypeError(f"early_stopping must be an EarlyStopping(...), got {type(early_stopping).__name__}.")
        watched = early_stopping.metric
        if watched.startswith("val_") and watched not in metrics and val_loader is None:
            raise ValueError(f"early stopping watches {watched!r}, which needs val_loader=...")
    device = best_device(device)
    model.to(device)
    if optimizer is None:
        if not list(model.parameters()):
            raise ValueError(
                "the model has no parameters to train: register layers as attributes or in nn.ModuleList "
                "(not a Python list), or pass an optimizer yourself."
            )
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    amp = _use_amp(amp, device)
    history, best_weights = History(), None
    if resume and Path(checkpoint).exists():
        history, best_weights = _restore(
            load_checkpoint(checkpoint, map_location="cpu"), checkpoint, model, optimizer, scheduler, train_loader
        )
        if early_stopping is not None and len(history) and best_weights is None:
            raise ValueError(
                f"{checkpoint} was written without early stopping, so it lacks the best weights to restore: "
                "resume without early_stopping, or start a new run with another checkpoint path."
            )
    was_training = model.training
    in_notebook = progress and not WIDGET_BAR and _in_notebook()
    bar = tqdm(
        total=epochs,
        initial=len(history),
        desc="fit",
        unit="epoch",
        mininterval=0.5,
        disable=not progress,
        file=_NotebookLine() if in_notebook else None,
    )
    try:
        for epoch in range(len(history) + 1, epochs + 1):
            if early_stopping is not None and early_stopping.should_stop(history):
                break
            start = time.perf_counter()
            record = {"epoch": epoch, **_train_epoch(model, train_loader, optimizer, loss_fn, device, amp, epoch)}
            if val_loader is not None:
                val = evaluate(model, val_loader, loss_fn, device, amp)
                record.update({f"val_{name}": value for name, value in val.items()})
            record.update(_measure(model, metrics))
            record["lr"] = float(optimizer.param_groups[0]["lr"])
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(record.get("val_loss", record["train_loss"]))
            elif scheduler is not None:
                scheduler.step()
            record["seconds"] = time.perf_counter() - start
            history.append(record)
            if early_stopping is not None and early_stopping.best_epoch(history) == epoch:
                best_weights = {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
            if checkpoint is not None:
                state = _training_state(model, optimizer, scheduler, history, train_loader, best_weights)
                save_checkpoint(checkpoint, **state)
            bar.set_postfix(_postfix(record), refresh=False)
            bar.update()
    finally:
        bar.close()
        model.train(was_training)
    if best_weights is not None:
        model.load_state_dict(best_weights)
    return history


def save_checkpoint(path: str | os.PathLike, **state) -> Path:
    """Save ``state`` (tensors, dicts, lists, numbers, strings) to ``path`` atomically: the old file or the new.

    It is written to a temporary file in the same folder, then renamed over ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with open(handle, "wb") as file:
            torch.save(state, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    return path


def load_checkpoint(path: str | os.PathLike, map_location=None) -> dict:
    """Load what ``save_checkpoint`` stored, with ``weights_only=True``: plain data and tensors, never code."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no checkpoint at {path}: check the path, or train with fit(..., checkpoint={str(path)!r}) first."
        )
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as error:
        unsafe = re.search(r"GLOBAL (\S+)", str(error))
        if unsafe:
            raise pickle.UnpicklingError(
                f"{path} holds a Python object ({unsafe.group(1)}) and load_checkpoint only loads tensors, "
                "dicts, lists, numbers and strings, because unpickling an object can run arbitrary code. "
                "Save state_dicts and plain data instead; only if you trust the file, use "
                "torch.load(path, weights_only=False)."
            ) from error
        raise RuntimeError(
            f"could not read the checkpoint {path}: the file is damaged or not a torch checkpoint "
            f"({type(error).__name__}). Delete it and train again."
        ) from error


def _use_amp(amp: bool | None, device: torch.device) -> bool:
    """Whether to autocast to bfloat16: by default on cuda only, so cpu results are exact float32."""
    return device.type == "cuda" if amp is None else bool(amp)


def _forward(model, batch, loss_fn, device, amp) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Move one (x, y) batch to ``device``; return the model's outputs, the targets and the loss."""
    if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
        raise TypeError(
            f"each batch must be a pair (inputs, targets), as a DataLoader over TensorDataset(x, y) gives; "
            f"got {type(batch).__name__}."
        )
    inputs, targets = (tensor.to(device, non_blocking=True) for tensor in batch)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
        outputs = model(inputs)
        cross_entropy = loss_fn is F.cross_entropy or isinstance(loss_fn, nn.CrossEntropyLoss)
        if cross_entropy and targets.is_floating_point() and targets.shape != outputs.shape:
            raise TypeError(
                f"cross-entropy needs class ids as integers (torch.long) of shape {tuple(outputs.shape[:-1])}, "
                f"got {targets.dtype} targets of shape {tuple(targets.shape)}: convert them with y.long(), "
                "or pass another loss_fn (e.g. F.mse_loss for regression)."
            )
        loss = loss_fn(outputs, targets)
    return outputs, targets, loss


class _Totals:
    """Running sums over batches: the loss weighted by batch size, and the correct predictions."""

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


def _train_epoch(model, loader, optimizer, loss_fn, device, amp, epoch: int) -> dict[str, float]:
    """One pass over ``loader``, one optimizer step per batch; return train_loss (and train_accuracy)."""
    model.train()
    totals = _Totals()
    for number, batch in enumerate(loader, start=1):
        outputs, targets, loss = _forward(model, batch, loss_fn, device, amp)
        value = loss.item()
        if not math.isfinite(value):
            raise FloatingPointError(
                f"the loss is {value} at epoch {epoch}, batch {number}: training diverged. Try a lower "
                f"learning rate (it is {optimizer.param_groups[0]['lr']:g}), and check the inputs and "
                "targets for nan/inf."
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        totals.add(outputs.detach(), targets, value)
    return totals.means(prefix="train_", loader_name="train_loader")


RECORDED = {"epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds"}  # fit's own


def _check_metrics(metrics) -> dict[str, Metric]:
    """``metrics`` as a dict {name: fn(model) -> float}, with names that do not clash with fit's own."""
    if metrics is None:
        return {}
    if not isinstance(metrics, dict) or not all(isinstance(k, str) and callable(f) for k, f in metrics.items()):
        raise TypeError("metrics must be a dict {name: fn(model) -> float}, e.g. {'test_accuracy': fn}.")
    clashes = sorted(RECORDED & metrics.keys())
    if clashes:
        raise ValueError(f"metric names {clashes} clash with what fit records itself ({sorted(RECORDED)}).")
    return metrics


def _measure(model: nn.Module, metrics: dict[str, Metric]) -> dict[str, float]:
    """Each metric's fn(model), called in eval mode without gradients, as a float."""
    model.eval()
    values = {}
    with torch.no_grad():
        for name, fn in metrics.items():
            value = fn(model)
            try:
                values[name] = float(value)
            except (TypeError, ValueError, RuntimeError):
                raise TypeError(
                    f"metric {name!r} returned {type(value).__name__}, not a number: "
                    "a metric is fn(model) -> float."
                ) from None
    return values


def _postfix(record: dict) -> dict[str, str]:
    """The latest losses and accuracies, short, for the progress bar."""
    short = {"train_loss": "loss", "train_accuracy": "acc", "val_loss": "val_loss", "val_accuracy": "val_acc"}
    return {name: f"{record[key]:.4g}" for key, name in short.items() if key in record}


def _in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (a notebook, or the book being built) rather than a terminal."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython else None
    return shell is not None and "IPKernelApp" in shell.config


class _NotebookLine:
    """Where the text bar writes in a notebook: one output line updated in place, so the saved notebook
    and the built book keep only the bar's final state (a stream would keep every update as a line)."""

    encoding = "utf-8"  # lets tqdm draw its bar with block characters

    def __init__(self):
        from IPython.display import Pretty, display

        self.pretty = Pretty
        self.output = display(Pretty(""), display_id=True)

    def write(self, text: str) -> None:
        line = text.rsplit("\r", 1)[-1].rstrip()
        if line:
            self.output.update(self.pretty(line))

    def flush(self) -> None:
        pass


def _loader_generator(loader) -> torch.Generator | None:
    """The torch.Generator that shuffles ``loader``, if it has its own."""
    return getattr(loader, "generator", None) or getattr(getattr(loader, "sampler", None), "generator", None)


def _rng_state(loader) -> dict:
    """Every random number generator training draws from, as tensors and plain numbers."""
    _, keys, position, has_gauss, gauss = np.random.get_state()
    version, python_state, python_gauss = random.getstate()
    generator = _loader_generator(loader)
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(position),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "python": {"version": version, "state": list(python_state), "gauss": python_gauss},
        "loader": generator.get_state() if generator is not None else None,
    }


def _set_rng_state(state: dict, loader) -> None:
    """Put every generator back where ``_rng_state`` found it."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    numpy = state["numpy"]
    keys = numpy["keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, numpy["pos"], numpy["has_gauss"], numpy["gauss"]))
    python = state["python"]
    random.setstate((python["version"], tuple(python["state"]), python["gauss"]))
    generator = _loader_generator(loader)
    if generator is not None and state["loader"] is not None:
        generator.set_state(state["loader"])


def _training_state(model, optimizer, scheduler, history: History, loader, best_weights: dict | None) -> dict:
    """All fit() needs to continue exactly where it stopped."""
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "history": history.to_dict(),
        "epoch": len(history),
        "rng": _rng_state(loader),
        "best_weights": best_weights,
    }


def _restore(state: dict, path, model, optimizer, scheduler, loader) -> tuple[History, dict | None]:
    """Load a fit() checkpoint into the model, optimizer, scheduler and generators; return its History and the
    best weights early stopping kept (None without early stopping)."""
    needed = {"model", "optimizer", "scheduler", "history", "epoch", "rng"}
    if not isinstance(state, dict) or not needed <= state.keys():
        raise ValueError(f"{path} is not a checkpoint written by fit(); delete it or pass another path.")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])
    _set_rng_state(state["rng"], loader)
    return History.from_dict(state["history"]), state.get("best_weights")
