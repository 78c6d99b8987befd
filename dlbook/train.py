"""The book's training loop: ``fit`` and ``evaluate``, built from ``train_step`` and ``train_epoch``.

Every chapter from the first trained network on uses it the same way::

    model = model.to(device)
    history = dlbook.train.fit(model, train_loader, epochs=5, val_loader=val_loader)
    history["val_accuracy"]      # one float per epoch

One rule says where things run (:func:`model_device`): a model runs where its parameters are, and
its batches are moved there; dlbook never moves a model behind your back. On cuda, training runs in
bfloat16 autocast. Extras::

    fit(..., scheduler=warmup_cosine_scheduler(...), scheduler_step="step")   # per optimizer step
    fit(..., early_stopping=EarlyStopping(patience=5))    # stop, keep the best epoch's weights
    fit(..., metrics={"train_error": fn})                  # any fn(model) -> float, every epoch
    fit(..., checkpoint="run.pt", resume=True)             # continue an interrupted run exactly
"""

import math
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from dlbook.checkpoint import check_loadable, load_checkpoint, restore, save_checkpoint, training_state
from dlbook.device import model_device
from dlbook.history import EarlyStopping, History
from dlbook.metrics import RunningMeans, accuracy
from dlbook.progress import postfix, progress_bar

__all__ = [
    "EarlyStopping", "History", "accuracy", "evaluate", "fit", "model_device", "outputs_and_loss", "train_epoch",
    "train_step",
]  # fmt: skip

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Metric = Callable[[nn.Module], float]
ELEMENTWISE_LOSSES = (F.mse_loss, F.l1_loss, F.smooth_l1_loss, F.huber_loss, F.binary_cross_entropy_with_logits)
ELEMENTWISE_MODULES = (nn.MSELoss, nn.L1Loss, nn.SmoothL1Loss, nn.HuberLoss, nn.BCEWithLogitsLoss)
RECORDED = {"epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds"}  # fit's own


def train_step(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    loss_fn: LossFn = F.cross_entropy,
    amp: bool = False,
    max_grad_norm: float | None = None,
) -> tuple[torch.Tensor, float]:
    """One optimizer step on one batch: forward, loss, backward, step; return (outputs, loss value).

    inputs: (batch, ...) and targets: (batch, ...) on the model's device. ``amp`` runs the forward
    pass in bfloat16 autocast. ``max_grad_norm`` clips the gradients of all parameters together to
    that norm before the step. A loss that is nan or infinite stops before the step.
    """
    outputs, loss = outputs_and_loss(model, inputs, targets, loss_fn, amp)
    value = loss.item()
    if not math.isfinite(value):
        raise FloatingPointError(
            f"the loss is {value}: training diverged. Try a lower learning rate (it is "
            f"{optimizer.param_groups[0]['lr']:g}), and check the inputs and targets for nan/inf."
        )
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if max_grad_norm is not None:
        nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()
    return outputs.detach(), value


def train_epoch(
    model: nn.Module,
    loader: Iterable,
    optimizer: torch.optim.Optimizer,
    loss_fn: LossFn = F.cross_entropy,
    scheduler=None,
    amp: bool | None = None,
    max_grad_norm: float | None = None,
) -> dict[str, float]:
    """One pass over ``loader``'s (x, y) batches, one ``train_step`` each; ``scheduler`` steps after each.

    Returns ``train_loss``, the mean loss weighted by batch size, and ``train_accuracy`` when y holds
    class ids.
    """
    device = model_device(model)
    amp = _use_amp(amp, device)
    model.train()
    totals = RunningMeans()
    for number, batch in enumerate(loader, start=1):
        inputs, targets = _to_device(batch, device)
        try:
            outputs, loss = train_step(model, inputs, targets, optimizer, loss_fn, amp, max_grad_norm)
        except FloatingPointError as error:
            raise FloatingPointError(f"batch {number}: {error}") from None
        if scheduler is not None:
            scheduler.step()
        totals.add(outputs, targets, loss)
    return totals.means(prefix="train_", loader_name="train_loader")


def evaluate(
    model: nn.Module,
    loader: Iterable,
    loss_fn: LossFn = F.cross_entropy,
    device: str | torch.device | None = None,
    amp: bool | None = None,
) -> dict[str, float]:
    """Mean loss over ``loader``'s (x, y) batches, weighted by batch size, and accuracy when y holds class ids.

    Runs in eval mode without gradients, where the model is (:func:`model_device`), and leaves the
    model in the train/eval mode it had.
    """
    _check_loss_fn(loss_fn)
    _check_reiterable(loader, "the loader given to evaluate")
    device = model_device(model, device)
    amp = _use_amp(amp, device)
    was_training = model.training
    model.eval()
    totals = RunningMeans()
    try:
        with torch.no_grad():
            for batch in loader:
                inputs, targets = _to_device(batch, device)
                outputs, loss = outputs_and_loss(model, inputs, targets, loss_fn, amp)
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
    scheduler_step: str = "epoch",
    early_stopping: EarlyStopping | None = None,
    metrics: dict[str, Metric] | None = None,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
    amp: bool | None = None,
    max_grad_norm: float | None = None,
) -> History:
    """Train ``model`` on ``train_loader``'s (x, y) batches for ``epochs`` epochs; return the History.

    The model trains where it is (:func:`model_device`; ``device`` only checks). ``optimizer``
    defaults to AdamW(lr=1e-3). ``scheduler`` steps once per epoch, or after every optimizer step
    with ``scheduler_step="step"`` (warm-up and cosine schedules count steps). ``val_loader`` is
    evaluated after every epoch. ``early_stopping`` may end training sooner; either way the model then
    holds the weights of its best epoch. ``metrics`` maps names to ``fn(model) -> float``, called
    after every epoch in eval mode. ``checkpoint=path`` saves everything after every epoch;
    ``resume=True`` continues from it, giving the same weights as an uninterrupted run. ``amp``
    (bfloat16 autocast) defaults to on for cuda. ``max_grad_norm`` clips the gradient norm at every step.
    """
    metrics = _check_fit_arguments(
        epochs, loss_fn, train_loader, val_loader, scheduler, scheduler_step, early_stopping, metrics, max_grad_norm
    )
    device = model_device(model, device)
    if optimizer is None:
        if not list(model.parameters()):
            raise ValueError(
                "the model has no parameters to train: register layers as attributes or in nn.ModuleList "
                "(not a Python list), or pass an optimizer yourself."
            )
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    history, best_weights = History(), None
    if checkpoint is not None:
        history, best_weights = _start_from(
            checkpoint, resume, early_stopping, model, optimizer, scheduler, train_loader
        )
    elif resume:
        raise ValueError("resume=True needs checkpoint=path, the file to resume from.")
    was_training = model.training
    bar = progress_bar(total=epochs, initial=len(history), enabled=progress)
    per_step = scheduler if scheduler_step == "step" else None
    try:
        for epoch in range(len(history) + 1, epochs + 1):
            if early_stopping is not None and early_stopping.should_stop(history):
                break
            start, lr = time.perf_counter(), float(optimizer.param_groups[0]["lr"])
            try:
                record = {
                    "epoch": epoch,
                    **train_epoch(model, train_loader, optimizer, loss_fn, per_step, amp, max_grad_norm),
                }
            except FloatingPointError as error:
                raise FloatingPointError(_diverged(error, epoch, best_weights, early_stopping, model)) from None
            if val_loader is not None:
                val = evaluate(model, val_loader, loss_fn, device, amp)
                record.update({f"val_{name}": value for name, value in val.items()})
            record.update(_measure(model, metrics))
            record["lr"] = lr
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(record.get("val_loss", record["train_loss"]))
            elif scheduler is not None and per_step is None:
                scheduler.step()
            record["seconds"] = time.perf_counter() - start
            history.append(record)
            if early_stopping is not None and early_stopping.best_epoch(history) == epoch:
                best_weights = {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
            if checkpoint is not None:
                state = training_state(model, optimizer, scheduler, history, train_loader, best_weights)
                save_checkpoint(checkpoint, **state)
            bar.set_postfix(postfix(record), refresh=False)
            bar.update()
    finally:
        bar.close()
        model.train(was_training)
    if best_weights is not None:
        model.load_state_dict(best_weights)
    return history


def _start_from(checkpoint, resume, early_stopping, model, optimizer, scheduler, loader):
    """The History and best weights a run starts from: empty, or those of the checkpoint it resumes."""
    path = Path(checkpoint).expanduser()
    check_loadable(model.state_dict(), "the model's state_dict()")  # before any training, not at the first save
    if not path.exists():
        return History(), None
    if not resume:
        raise FileExistsError(
            f"{path} already holds a training run: pass resume=True to continue it, or delete it (or choose "
            "another checkpoint path) to start over; fit does not overwrite it."
        )
    history, best_weights = restore(
        load_checkpoint(path, map_location="cpu"), path, model, optimizer, scheduler, loader
    )
    if early_stopping is not None and len(history) and best_weights is None:
        raise ValueError(
            f"{path} was written without early stopping, so it lacks the best weights to restore: "
            "resume without early_stopping, or start a new run with another checkpoint path."
        )
    return history, best_weights


def _diverged(error: FloatingPointError, epoch: int, best_weights, early_stopping, model) -> str:
    """The message of a diverged run; with early stopping, the model goes back to its best epoch first."""
    message = f"epoch {epoch}, {error}"
    if best_weights is None:
        return message + " The model's weights may now be nan: build a fresh one before training again."
    model.load_state_dict(best_weights)
    return message + f" The model holds the best epoch's weights again (by {early_stopping.metric})."


def _check_fit_arguments(
    epochs, loss_fn, train_loader, val_loader, scheduler, scheduler_step, early_stopping, metrics, max_grad_norm
) -> dict[str, Metric]:
    """Every mistake fit can see before training starts; return ``metrics`` as a dict."""
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise ValueError(f"epochs must be a whole number >= 1, got {epochs!r}.")
    _check_loss_fn(loss_fn)
    _check_reiterable(train_loader, "train_loader")
    if val_loader is not None:
        _check_reiterable(val_loader, "val_loader")
    if max_grad_norm is not None and not (isinstance(max_grad_norm, int | float) and 0 < max_grad_norm < math.inf):
        raise ValueError(f"max_grad_norm must be a positive number (or None, no clipping), got {max_grad_norm!r}.")
    if scheduler_step not in ("epoch", "step"):
        raise ValueError(
            f"scheduler_step must be 'epoch' or 'step' (after each optimizer step), not {scheduler_step!r}"
        )
    if scheduler_step == "step" and isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        raise ValueError("ReduceLROnPlateau watches a per-epoch loss: use scheduler_step='epoch' with it.")
    metrics = _check_metrics(metrics)
    if early_stopping is not None:
        if not isinstance(early_stopping, EarlyStopping):
            raise TypeError(f"early_stopping must be an EarlyStopping(...), got {type(early_stopping).__name__}.")
        known = {"train_loss", "train_accuracy", *metrics}
        if val_loader is not None:
            known |= {"val_loss", "val_accuracy"}
        watched = early_stopping.metric
        if watched.startswith("val_") and watched not in metrics and val_loader is None:
            raise ValueError(f"early stopping watches {watched!r}, which needs val_loader=...")
        if watched not in known:
            raise ValueError(
                f"early stopping watches {watched!r}, which fit does not record: use one of {sorted(known)}."
            )
    return metrics


def _check_loss_fn(loss_fn) -> None:
    if isinstance(loss_fn, type):
        raise TypeError(
            f"loss_fn must be a loss function or a loss object, got the class {loss_fn.__name__}: "
            f"pass an instance, e.g. loss_fn=nn.{loss_fn.__name__}(), or a function such as F.cross_entropy."
        )
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, fn(outputs, targets) -> loss, got {type(loss_fn).__name__}.")


def _check_reiterable(loader, name: str) -> None:
    """A loader is read once per epoch, so it must start over when iterated again."""
    if isinstance(loader, Iterator):  # (iter() itself would draw from a DataLoader's generator)
        raise TypeError(
            f"{name} is an iterator, which is used up after one pass: pass something that can be iterated "
            "again, such as a DataLoader or a list of (x, y) batches."
        )


def _use_amp(amp: bool | None, device: torch.device) -> bool:
    """Whether to autocast to bfloat16: by default on cuda only, so cpu results are exact float32."""
    return device.type == "cuda" if amp is None else bool(amp)


def _to_device(batch, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """One (x, y) batch moved to ``device``."""
    if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
        raise TypeError(
            f"each batch must be a pair (inputs, targets), as a DataLoader over TensorDataset(x, y) gives; "
            f"got {type(batch).__name__}."
        )
    return tuple(tensor.to(device, non_blocking=True) for tensor in batch)


def outputs_and_loss(
    model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss_fn: LossFn = F.cross_entropy, amp: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """The forward pass and the loss: ``model(inputs)`` and its loss against ``targets`` (a 0-d tensor).

    Mistakes that would train silently on the wrong thing are errors: float targets for
    cross-entropy, and outputs and targets of different shapes for an elementwise loss.
    """
    with torch.autocast(inputs.device.type, dtype=torch.bfloat16, enabled=amp):
        outputs = model(inputs)
        cross_entropy = loss_fn is F.cross_entropy or isinstance(loss_fn, nn.CrossEntropyLoss)
        if cross_entropy and targets.is_floating_point() and targets.shape != outputs.shape:
            raise TypeError(
                f"cross-entropy needs class ids as integers (torch.long) of shape {tuple(outputs.shape[:-1])}, "
                f"got {targets.dtype} targets of shape {tuple(targets.shape)}: convert them with y.long(), "
                "or pass another loss_fn (e.g. F.mse_loss for regression)."
            )
        elementwise = loss_fn in ELEMENTWISE_LOSSES or isinstance(loss_fn, ELEMENTWISE_MODULES)
        if elementwise and outputs.shape != targets.shape:
            raise ValueError(
                f"the model's outputs have shape {tuple(outputs.shape)} and the targets {tuple(targets.shape)}: "
                "an elementwise loss would broadcast them against each other. Make them the same shape, "
                "e.g. targets y.unsqueeze(1) for outputs (n, 1), or outputs.squeeze(1)."
            )
        loss = loss_fn(outputs, targets)
    return outputs, loss


def _check_metrics(metrics) -> dict[str, Metric]:
    """``metrics`` as a dict {name: fn(model) -> float}, with names that do not clash with fit's own."""
    if metrics is None:
        return {}
    if not isinstance(metrics, dict) or not all(isinstance(k, str) and callable(f) for k, f in metrics.items()):
        raise TypeError("metrics must be a dict {name: fn(model) -> float}, e.g. {'train_error': fn}.")
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
                    f"metric {name!r} returned {type(value).__name__}, not a number: a metric is fn(model) -> float."
                ) from None
    return values
