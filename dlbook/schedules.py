"""Learning-rate schedules of chapter 6: linear warm-up then cosine decay, and the learning-rate range test."""

import copy
import math
from collections.abc import Callable, Iterable, Iterator

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from dlbook.device import model_device
from dlbook.train import train_step

SMOOTHING = 0.98  # the range test's loss is an exponential moving average with this factor
DIVERGED = 4.0  # the range test stops once the smoothed loss exceeds this many times its best


def warmup_cosine(step: int, total_steps: int, peak_lr: float, warmup_steps: int, final_lr: float = 0.0) -> float:
    """The learning rate at ``step`` in [0, total_steps]: linear warm-up, then cosine decay.

    Steps 0 .. warmup_steps - 1 rise as peak_lr * (step + 1) / warmup_steps; from there half
    a cosine falls from ``peak_lr`` to ``final_lr``, which it reaches at ``total_steps``.
    """
    if total_steps < 1:
        raise ValueError(f"total_steps must be at least 1, got {total_steps}.")
    if not 0 <= warmup_steps < total_steps:
        raise ValueError(f"warmup_steps must be in [0, total_steps={total_steps}), got {warmup_steps}.")
    if not 0 <= final_lr <= peak_lr:
        raise ValueError(f"need 0 <= final_lr <= peak_lr, got final_lr={final_lr}, peak_lr={peak_lr}.")
    if not 0 <= step <= total_steps:
        raise ValueError(
            f"step {step} is outside [0, total_steps={total_steps}]; make total_steps the number "
            "of optimizer steps the run will take."
        )
    if step < warmup_steps:
        return peak_lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / (total_steps - warmup_steps)  # 0 -> 1
    return final_lr + (peak_lr - final_lr) * (1 + math.cos(math.pi * progress)) / 2


def warmup_cosine_scheduler(optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int,
                            final_lr_ratio: float = 0.0) -> LambdaLR:
    """A LambdaLR that scales each group's initial lr by ``warmup_cosine`` (peak 1, final ``final_lr_ratio``).

    Call ``scheduler.step()`` after each ``optimizer.step()``, at most ``total_steps`` times.
    """
    if not 0 <= final_lr_ratio <= 1:
        raise ValueError(f"final_lr_ratio must be in [0, 1], got {final_lr_ratio}.")
    return LambdaLR(optimizer, lambda step: warmup_cosine(step, total_steps, 1.0, warmup_steps, final_lr_ratio))


def lr_range_test(
    model: nn.Module,
    loader: Iterable,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    optimizer_factory: Callable[[float], torch.optim.Optimizer],
    min_lr: float = 1e-6,
    max_lr: float = 1.0,
    steps: int = 100,
    device: torch.device | str | None = None,
) -> tuple[list[float], list[float]]:
    """Learning rates rising exponentially from ``min_lr`` to ``max_lr`` and the smoothed loss at each.

    Trains one batch per rate, stops early once the smoothed loss exceeds 4x its best (or is
    not finite), and then restores the model's weights and training mode as they were.
    ``loader`` yields (inputs, targets) batches and is reused as often as needed;
    ``optimizer_factory(lr)`` builds an optimizer over ``model``'s parameters. Each step is
    ``dlbook.train.train_step``, run where the model is (``device`` only checks, as in ``fit``).
    """
    if not 0 < min_lr < max_lr:
        raise ValueError(f"need 0 < min_lr < max_lr, got min_lr={min_lr}, max_lr={max_lr}.")
    if steps < 2:
        raise ValueError(f"steps must be at least 2, got {steps}.")
    device = model_device(model, device)
    if not list(model.parameters()):
        raise ValueError("the model has no parameters to train; the range test needs a trainable model.")
    optimizer = optimizer_factory(min_lr)
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer_factory(lr) must return a torch.optim.Optimizer, got {type(optimizer).__name__}.")
    initial, was_training = copy.deepcopy(model.state_dict()), model.training
    lrs, losses, average, best = [], [], 0.0, math.inf
    batches = _cycle(loader)
    model.train()
    try:
        for i in range(steps):
            lr = min_lr * (max_lr / min_lr) ** (i / (steps - 1))
            for group in optimizer.param_groups:
                group["lr"] = lr
            inputs, targets = (tensor.to(device, non_blocking=True) for tensor in next(batches))
            try:
                _, loss = train_step(model, inputs, targets, optimizer, loss_fn)
            except FloatingPointError:  # the loss is nan or infinite: far past the useful rates
                break
            average = SMOOTHING * average + (1 - SMOOTHING) * loss
            smoothed = average / (1 - SMOOTHING ** (i + 1))  # bias-corrected, as in Adam
            lrs.append(lr)
            losses.append(smoothed)
            best = min(best, smoothed)
            if not math.isfinite(smoothed) or smoothed > DIVERGED * best:
                break
    finally:
        model.load_state_dict(initial)
        model.train(was_training)
        optimizer.zero_grad()
    return lrs, losses


def _cycle(loader: Iterable) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The loader's (inputs, targets) batches, starting over each time it runs out."""
    while True:
        empty = True
        for batch in loader:
            empty = False
            if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
                raise TypeError("the loader must yield (inputs, targets) pairs, got a batch of another shape.")
            yield batch
        if empty:
            raise ValueError(
                "the loader yielded no batches: pass a non-empty, re-iterable loader "
                "(a DataLoader or a list of batches, not a used-up generator)."
            )
