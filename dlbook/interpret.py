"""Opening the black box (chapter 14): which inputs a prediction used, and what each layer knows.

:func:`saliency` is the gradient of a class score with respect to the input (Simonyan et al., 2014);
:func:`integrated_gradients` integrates that gradient along the straight path from a baseline to the
input (Sundararajan et al., 2017), so that the attributions add up to the change in the score.
:func:`layer_features` records what chosen layers compute, and :func:`fit_probe` trains a linear
classifier on those features (a linear probe, Alain and Bengio, 2016)::

    attributions = integrated_gradients(model, x, steps=64)        # x: (n, 1, 28, 28) -> same shape
    gap = attributions.flatten(1).sum(1) - (class_scores(model, x, t) - class_scores(model, baseline, t))
    features = layer_features(model, ["features.2", "classifier.2"], x)  # name -> (n, width)
    probe = fit_probe(features["classifier.2"], y)                 # probe(features) -> logits (n, classes)
"""

from collections.abc import Iterable

import torch
from torch import nn

from dlbook.checks import check_int, check_number

__all__ = ["Probe", "class_scores", "fit_probe", "integrated_gradients", "layer_features", "saliency"]


def _check_inputs(x: torch.Tensor, what: str = "x") -> None:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.ndim < 2 or len(x) == 0:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{what} must be a float tensor (n, ...) with n >= 1 examples, got {shape}.")


def _targets(model: nn.Module, x: torch.Tensor, target) -> torch.Tensor:
    """The class of each example: ``target`` as an (n,) int64 tensor, or the model's prediction when None."""
    if target is None:
        with torch.no_grad():
            return model(x).argmax(1)
    target = torch.as_tensor(target, device=x.device)
    if target.ndim == 0:
        target = target.expand(len(x))
    if target.shape != (len(x),) or target.is_floating_point():
        raise ValueError(
            f"target must be one class id or (n,) = ({len(x)},) integer class ids, got {tuple(target.shape)} "
            f"{target.dtype}; pass None to explain the predicted class."
        )
    return target.long()


def class_scores(model: nn.Module, x: torch.Tensor, target) -> torch.Tensor:
    """The logit of class ``target`` for each example: x: (n, ...) -> (n,). ``target``: an int or (n,) ids."""
    _check_inputs(x)
    logits = model(x)
    if logits.ndim != 2 or logits.shape[0] != len(x):
        raise ValueError(f"the model must return logits (n, classes) = ({len(x)}, c), got {tuple(logits.shape)}.")
    target = _targets(model, x, target)
    if int(target.max()) >= logits.shape[1] or int(target.min()) < 0:
        raise ValueError(f"target ids must be in [0, {logits.shape[1]}), got {target.min()}..{target.max()}.")
    return logits.gather(1, target[:, None])[:, 0]


def _gradient(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """d class_scores(model, x, target) / dx: (n, ...), each example's score differentiated on its own."""
    x = x.detach().requires_grad_()
    (grad,) = torch.autograd.grad(class_scores(model, x, target).sum(), x)
    return grad


def saliency(model: nn.Module, x: torch.Tensor, target=None) -> torch.Tensor:
    """Gradient of the class score with respect to the input: x: (n, ...) -> (n, ...), signed.

    ``target``: one class id or (n,) ids; None explains each example's predicted class. Take ``.abs()``
    (and the maximum over colour channels) for the usual saliency map. The model should be in eval mode,
    so that batch statistics and dropout do not mix the examples.
    """
    _check_inputs(x)
    return _gradient(model, x, _targets(model, x, target))


def integrated_gradients(
    model: nn.Module,
    x: torch.Tensor,
    baseline: torch.Tensor | None = None,
    target=None,
    steps: int = 64,
) -> torch.Tensor:
    """Attributions (x - baseline) * mean gradient on the straight path from baseline to x: (n, ...) -> (n, ...).

    The path integral is approximated with the trapezoid rule on ``steps`` intervals (``steps + 1``
    gradient evaluations of a batch of n). Its attributions add up to ``class_scores(x) -
    class_scores(baseline)`` up to an error that shrinks as ``steps`` grows (completeness). ``baseline``:
    (n, ...) or one example (...,) or (1, ...); None is all zeros (a black image). ``target`` as in
    :func:`saliency`, chosen once at x and kept along the path.
    """
    _check_inputs(x)
    steps = check_int("steps", steps, minimum=1)
    x = x.detach()
    if baseline is None:
        baseline = torch.zeros_like(x)
    if not isinstance(baseline, torch.Tensor):
        raise TypeError(f"baseline must be a tensor shaped like x {tuple(x.shape)} or one example, or None.")
    baseline = baseline.detach().to(x.device, x.dtype)
    if baseline.shape == x.shape[1:]:
        baseline = baseline[None]
    if baseline.shape[1:] != x.shape[1:] or len(baseline) not in (1, len(x)):
        raise ValueError(f"baseline {tuple(baseline.shape)} must be shaped like x {tuple(x.shape)} or one example.")
    baseline = baseline.expand_as(x)
    target = _targets(model, x, target)
    total = torch.zeros_like(x)
    for k in range(steps + 1):
        weight = 0.5 if k in (0, steps) else 1.0  # trapezoid rule
        total += weight * _gradient(model, baseline + (k / steps) * (x - baseline), target)
    return (x - baseline) * total / steps


def _named_layers(model: nn.Module, layers) -> dict[str, nn.Module]:
    modules = dict(model.named_modules())
    if isinstance(layers, str) or not isinstance(layers, Iterable):
        raise TypeError(f"layers must be a list of layer names, e.g. ['features.2'], got {layers!r}.")
    layers = list(layers)
    missing = [name for name in layers if name not in modules]
    if missing or not layers:
        known = ", ".join(name for name in modules if name) or "(none)"
        raise ValueError(f"no layer named {missing or 'at all'} in the model; its layers are: {known}.")
    return {name: modules[name] for name in layers}


def layer_features(model: nn.Module, layers, x: torch.Tensor, batch_size: int = 512) -> dict[str, torch.Tensor]:
    """What each named layer outputs for x, flattened: x: (n, ...) -> {name: (n, features)} on the CPU.

    ``layers`` are names from ``model.named_modules()`` (e.g. ``"features.2"``); ``x`` is run through
    the model in eval mode, without gradients, ``batch_size`` examples at a time, on the model's device.
    """
    _check_inputs(x)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    named = _named_layers(model, layers)
    store: dict[str, list[torch.Tensor]] = {name: [] for name in named}

    def recorder(name: str):
        def record(module, inputs, output):
            store[name].append(output.detach().flatten(1).float().cpu())

        return record

    handles = [module.register_forward_hook(recorder(name)) for name, module in named.items()]
    device = next(model.parameters()).device if list(model.parameters()) else x.device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(x), batch_size):
                model(x[start : start + batch_size].to(device))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return {name: torch.cat(parts) for name, parts in store.items()}


class Probe(nn.Module):
    """A linear probe: standardize each feature (with the training features' mean and std), then Linear.

    features: (n, d) -> logits (n, classes).
    """

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, classes: int):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.linear = nn.Linear(len(mean), classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """features: (n, d) -> logits (n, classes)."""
        if features.ndim != 2 or features.shape[1] != len(self.mean):
            raise ValueError(f"the probe needs features (n, {len(self.mean)}), got {tuple(features.shape)}.")
        return self.linear((features - self.mean) / self.std)


def fit_probe(
    features: torch.Tensor, labels: torch.Tensor, weight_decay: float = 1e-2, steps: int = 50
) -> Probe:
    """A multinomial logistic regression on fixed features: features (n, d), labels (n,) class ids -> Probe.

    Features are standardized; the cross-entropy plus ``weight_decay * (W ** 2).sum() / 2`` is minimized with
    L-BFGS for at most ``steps`` iterations (a convex problem: the result does not depend on a seed).
    Measure the probe on held-out features: ``accuracy(probe(val_features), val_labels)``.
    """
    if not isinstance(features, torch.Tensor) or features.ndim != 2 or not features.is_floating_point():
        raise ValueError(f"features must be a float tensor (n, d), got {getattr(features, 'shape', features)!r}.")
    if not isinstance(labels, torch.Tensor) or labels.shape != (len(features),) or labels.is_floating_point():
        raise ValueError(f"labels must be ({len(features)},) integer class ids, got {getattr(labels, 'shape', None)}.")
    weight_decay = check_number("weight_decay", weight_decay)
    steps = check_int("steps", steps, minimum=1)
    features, labels = features.detach().float(), labels.to(features.device)
    mean, std = features.mean(0), features.std(0).clamp_min(1e-6)
    probe = Probe(mean, std, int(labels.max()) + 1).to(features.device)
    optimizer = torch.optim.LBFGS(probe.parameters(), max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(probe(features), labels)
        loss = loss + weight_decay / 2 * probe.linear.weight.square().sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    return probe.eval().requires_grad_(False)
