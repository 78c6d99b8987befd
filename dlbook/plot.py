"""The book's figures in one house style: training curves, image grids, decision boundaries and simple lines.

Importing this module applies the style (``use_style()``); ``import dlbook`` alone leaves matplotlib as it is.
"""

import math
from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter
from torch import nn

from dlbook.device import model_device

# Okabe and Ito's eight colours stay distinct for the common kinds of colour blindness.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
WRONG = "#D55E00"  # the palette's red, for wrong predictions

STYLE = {
    "figure.figsize": (6.0, 3.5),
    "figure.dpi": 110,
    "figure.constrained_layout.use": True,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "axes.prop_cycle": plt.cycler(color=PALETTE),
    "axes.grid": True,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "lines.linewidth": 1.8,
    "lines.markersize": 4,
    "image.cmap": "viridis",
}


def use_style() -> None:
    """Apply the house style to matplotlib's rcParams (done once when dlbook.plot is imported)."""
    plt.rcParams.update(STYLE)


use_style()


def curves(history, metrics: str | Sequence[str] = ("loss", "accuracy"), ax: Axes | None = None) -> Figure | Axes:
    """Training and validation curves against epoch, one panel per metric, from a History (or a dict of lists).

    Returns the new Figure; with ``ax`` (one metric only) draws on it and returns it.
    """
    metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    keys = list(history.keys())
    if not metrics or (ax is not None and len(metrics) != 1):
        raise ValueError(f"give one metric per panel (ax draws exactly one, e.g. metrics='loss'), got {metrics}.")
    for metric in metrics:
        if f"train_{metric}" not in keys and f"val_{metric}" not in keys:
            raise ValueError(f"history has no train_{metric} or val_{metric}; it records {keys}.")
    if ax is None:
        figure, axes = plt.subplots(1, len(metrics), squeeze=False, figsize=(max(6.0, 3.25 * len(metrics)), 3.5))
        axes = axes[0]
    else:
        axes = [ax]
    for panel, metric in zip(axes, metrics, strict=True):
        for part, style, label in (("train", "-", "training"), ("val", "--", "validation")):
            if f"{part}_{metric}" in keys:
                values = list(history[f"{part}_{metric}"])
                epochs = history["epoch"] if "epoch" in keys else range(1, len(values) + 1)
                panel.plot(epochs, values, style, marker="o" if len(values) <= 30 else None, label=label)
        panel.set(xlabel="epoch", ylabel=metric.replace("_", " "))
        panel.xaxis.set_major_locator(MaxNLocator(integer=True))
        if metric == "accuracy":
            panel.yaxis.set_major_formatter(PercentFormatter(xmax=1))
        panel.legend()
    return ax if ax is not None else figure


def image_grid(images, labels=None, classes: Sequence[str] | None = None, predictions=None, ncols: int = 8) -> Figure:
    """Images in a grid titled with their class; a wrong prediction is titled "pred/true" in red.

    images: (n, h, w) or (n, 1|3, h, w), tensor or array; labels, predictions: (n,) class ids
    (predictions may also be logits (n, classes)); classes: the name of each class id.
    """
    images = _numpy(images)
    if images.ndim == 4 and images.shape[1] in (1, 3):
        images = np.moveaxis(images, 1, -1)  # channels last, as matplotlib wants them
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if not (images.ndim == 3 or (images.ndim == 4 and images.shape[-1] == 3)) or len(images) == 0:
        raise ValueError(f"images must be (n, h, w) or (n, 1|3, h, w) with n >= 1, got shape {images.shape}.")
    if not isinstance(ncols, int) or ncols < 1:
        raise ValueError(f"ncols must be a positive int, got {ncols!r}.")
    n = len(images)
    labels = None if labels is None else _class_ids(labels, n, "labels", classes)
    predictions = None if predictions is None else _class_ids(predictions, n, "predictions", classes)

    def name(i: int) -> str:
        return str(classes[i]) if classes is not None else str(i)

    ncols, nrows = min(ncols, n), math.ceil(n / min(ncols, n))
    titled = labels is not None or predictions is not None
    figure, axes = plt.subplots(nrows, ncols, squeeze=False, figsize=(0.8 * ncols, (0.8 + 0.25 * titled) * nrows))
    for i, panel in enumerate(axes.flat):
        panel.axis("off")
        if i >= n:
            continue
        image = images[i]
        if image.ndim == 3 and np.issubdtype(image.dtype, np.floating) and (image.min() < 0 or image.max() > 1):
            image = (image - image.min()) / (image.max() - image.min() + 1e-12)  # normalised colour: back to [0, 1]
        panel.imshow(image, cmap="gray" if image.ndim == 2 else None)
        if predictions is not None and labels is not None and predictions[i] != labels[i]:
            panel.set_title(f"{name(predictions[i])}/{name(labels[i])}", color=WRONG, fontsize=8)
        elif titled:
            panel.set_title(name(labels[i] if labels is not None else predictions[i]), fontsize=8)
    return figure


def decision_boundary(predict: nn.Module | Callable, x, y, ax: Axes | None = None, resolution: int = 200) -> Axes:
    """Shade the class ``predict`` gives every point of the plane, and scatter ``x: (n, 2)`` coloured by ``y: (n,)``.

    ``predict`` maps an (m, 2) float32 grid (a tensor for a module or when ``x`` is a tensor, else an array)
    to (m, classes) logits, (m,) class ids, or (m,) single logits (class 1 where positive).
    """
    points, labels = _numpy(x), _numpy(y)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) == 0:
        raise ValueError(f"x must be (n, 2) points with n >= 1, got shape {points.shape}.")
    if labels.shape != (len(points),) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"y must be ({len(points)},) integer class ids, got {labels.dtype} of shape {labels.shape}.")
    if not isinstance(resolution, int) or resolution < 2:
        raise ValueError(f"resolution must be an int >= 2, got {resolution!r}.")
    low, high = points.min(0), points.max(0)
    margin = 0.1 * np.maximum(high - low, 1e-3)
    grid_0, grid_1 = np.meshgrid(*(np.linspace(low[i] - margin[i], high[i] + margin[i], resolution) for i in (0, 1)))
    grid = np.stack([grid_0.ravel(), grid_1.ravel()], axis=1).astype(np.float32)
    regions = _predict_classes(predict, grid, as_tensor=isinstance(x, torch.Tensor))
    count = int(max(labels.max(), regions.max())) + 1
    colours = [PALETTE[i % len(PALETTE)] for i in range(count)]
    if ax is None:
        ax = plt.subplots()[1]
    ax.contourf(
        grid_0, grid_1, regions.reshape(grid_0.shape), levels=np.arange(count + 1) - 0.5, colors=colours, alpha=0.25
    )
    for c in np.unique(labels):
        ax.scatter(
            *points[labels == c].T, s=14, color=colours[c], edgecolors="white", linewidths=0.4, label=f"class {c}"
        )
    ax.set(xlabel="$x_1$", ylabel="$x_2$")
    ax.grid(False)
    ax.legend()
    return ax


def line(
    x,
    ys: dict[str, Sequence],
    xlabel: str,
    ylabel: str,
    title: str | None = None,
    logx: bool = False,
    logy: bool = False,
    ax: Axes | None = None,
) -> Axes:
    """One line per entry of ``ys`` ({name: values}) against ``x``, e.g. test error against training-set size."""
    x = _numpy(x)
    if x.ndim != 1 or len(x) == 0:
        raise ValueError(f"x must be a non-empty 1-d sequence, got shape {x.shape}.")
    if not isinstance(ys, dict) or not ys:
        raise ValueError("ys must be a non-empty dict {name: values}, e.g. {'small MLP': errors}.")
    series = {name: _numpy(values) for name, values in ys.items()}
    for name, values in series.items():
        if values.shape != x.shape:
            raise ValueError(f"ys[{name!r}] has shape {values.shape} but x has {x.shape}: give one value per x.")
    if ax is None:
        ax = plt.subplots()[1]
    for name, values in series.items():
        ax.plot(x, values, marker="o" if len(x) <= 30 else None, label=name)
    ax.set(xlabel=xlabel, ylabel=ylabel, xscale="log" if logx else "linear", yscale="log" if logy else "linear")
    if title:
        ax.set_title(title)
    ax.legend()
    return ax


def _numpy(values) -> np.ndarray:
    """A numpy array of a tensor (any device, any dtype) or array-like."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu()
        return (values.float() if values.dtype == torch.bfloat16 else values).numpy()
    return np.asarray(values)


def _class_ids(values, n: int, what: str, classes) -> np.ndarray:
    """(n,) integer class ids from ids or (n, classes) logits, checked against ``classes``."""
    values = _numpy(values)
    if values.ndim == 2:
        values = values.argmax(1)
    if values.shape != (n,):
        raise ValueError(f"{what} must be ({n},) class ids, one per image, got shape {values.shape}.")
    values = values.astype(int)
    if classes is not None and not ((0 <= values) & (values < len(classes))).all():
        raise ValueError(f"{what} hold ids outside 0..{len(classes) - 1}, the range of the {len(classes)} classes.")
    return values


def _predict_classes(predict, grid: np.ndarray, as_tensor: bool) -> np.ndarray:
    """The class ids (m,) that ``predict`` gives the points ``grid: (m, 2)``."""
    if isinstance(predict, nn.Module):
        device = model_device(predict)
        was_training = predict.training
        predict.eval()
        try:
            with torch.no_grad():
                outputs = predict(torch.from_numpy(grid).to(device))
        finally:
            predict.train(was_training)
    else:
        outputs = predict(torch.from_numpy(grid) if as_tensor else grid)
    outputs = _numpy(outputs)
    if outputs.ndim == 2 and outputs.shape[1] == 1:
        outputs = outputs[:, 0]
    if outputs.ndim not in (1, 2) or len(outputs) != len(grid):
        raise ValueError(
            f"predict must return (m, classes) logits or (m,) class ids for the m={len(grid)} grid points, "
            f"got shape {outputs.shape}."
        )
    if outputs.ndim == 2:
        return outputs.argmax(1)
    if np.issubdtype(outputs.dtype, np.floating):
        return (outputs > 0).astype(int)  # one logit per point
    return outputs.astype(int)


def graph(root, labels: dict | None = None, ax: Axes | None = None, max_nodes: int = 60) -> Axes:
    """Draw the computational graph that ends at ``root``, as micrograd's ``draw_dot`` does with graphviz.

    ``root`` is a ``dlbook.scratch.Value`` (anything with ``data``, ``grad``, ``_parents`` and ``_op``). Each
    node is a box with its value (blue), its gradient (red) and, where ``labels`` ({node: name}) names it,
    its name; each operation is a circle between a node and its parents. Values flow left to right: a node
    sits one column right of its deepest parent, an input just left of its first use.
    """
    from dlbook.scratch.value import topological_order

    if not all(hasattr(root, name) for name in ("data", "grad", "_parents", "_op")):
        raise TypeError(f"graph draws a dlbook.scratch.Value and what it was computed from, got {type(root).__name__}.")
    order = topological_order(root)
    if len(order) > max_nodes:
        raise ValueError(
            f"the graph has {len(order)} nodes, more than max_nodes={max_nodes} fit in a figure: "
            "draw a smaller expression, or raise max_nodes."
        )
    labels = labels or {}
    column, children = {}, {id(node): [] for node in order}
    for node in order:  # parents come first
        column[id(node)] = 1 + max((column[id(p)] for p in node._parents), default=-1)
        for parent in node._parents:
            children[id(parent)].append(node)
    for node in order:
        if not node._parents and children[id(node)]:  # an input: just left of its first use
            column[id(node)] = min(column[id(child)] for child in children[id(node)]) - 1
    row = {id(root): 0.0}
    for node in reversed(order):  # from the output back: parents spread around their child's row
        fresh = [p for p in dict.fromkeys(node._parents) if id(p) not in row]
        for i, parent in enumerate(fresh):
            row[id(parent)] = row[id(node)] + i - (len(fresh) - 1) / 2
    by_column = {}
    for node in order:
        by_column.setdefault(column[id(node)], []).append(node)
    for nodes in by_column.values():  # one row apart at least within a column
        nodes.sort(key=lambda n: row[id(n)])
        for above, below in zip(nodes, nodes[1:], strict=False):
            row[id(below)] = max(row[id(below)], row[id(above)] + 1.0)
    if ax is None:
        columns = max(column.values()) - min(column.values()) + 1
        rows = max(len(nodes) for nodes in by_column.values())
        ax = plt.subplots(figsize=(min(2.0 * columns, 14), 1.0 + 0.9 * rows))[1]
    spacing, width, height, radius = 2.6, 1.5, 0.8, 0.28
    position = {id(n): (spacing * column[id(n)], -row[id(n)]) for n in order}
    for node in order:
        x, y = position[id(node)]
        if node._parents:
            ox = x - width / 2 - 0.45
            ax.add_patch(plt.Circle((ox, y), radius, facecolor="white", edgecolor="grey", lw=0.8))
            ax.text(ox, y, node._op.replace("**", "^"), ha="center", va="center", fontsize=8)
            ax.annotate(
                "",
                xy=(x - width / 2, y),
                xytext=(ox + radius, y),
                arrowprops=dict(arrowstyle="->", color="grey", lw=1.0),
            )
            for parent in node._parents:
                px, py = position[id(parent)]
                ax.annotate(
                    "",
                    xy=(ox - radius, y),
                    xytext=(px + width / 2, py),
                    arrowprops=dict(arrowstyle="-", color="grey", lw=1.0),
                )
        ax.add_patch(
            plt.Rectangle(
                (x - width / 2, y - height / 2), width, height, facecolor="#f4f4f4", edgecolor="black", lw=0.8
            )
        )
        name = labels.get(node)
        ax.text(x, y + 0.22, name if name is not None else "", ha="center", va="center", fontsize=9)
        ax.text(x, y, f"{node.data:.4g}", ha="center", va="center", color=PALETTE[0], fontsize=8)
        ax.text(x, y - 0.22, f"{node.grad:.4g}", ha="center", va="center", color=WRONG, fontsize=8)
    xs, ys = zip(*position.values(), strict=True)
    ax.set(xlim=(min(xs) - 1.0, max(xs) + 1.0), ylim=(min(ys) - 0.7, max(ys) + 0.7))
    ax.set_aspect("equal")
    ax.axis("off")
    return ax
