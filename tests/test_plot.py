"""dlbook.plot: what each figure holds, the house style, and clear errors for bad shapes."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from torch import nn  # noqa: E402

from dlbook import plot  # noqa: E402
from dlbook.train import History  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def history(val: bool = True) -> History:
    h = History()
    for epoch in range(1, 4):
        record = {"epoch": epoch, "train_loss": 1.0 / epoch, "train_accuracy": 0.5 + 0.1 * epoch}
        if val:
            record.update(val_loss=1.2 / epoch, val_accuracy=0.45 + 0.1 * epoch)
        h.append(record)
    return h


def test_importing_plot_applies_the_style():
    assert list(plt.rcParams["figure.figsize"]) == [6.0, 3.5]
    with plt.rc_context():
        plt.rcdefaults()
        assert list(plt.rcParams["figure.figsize"]) != [6.0, 3.5]
        plot.use_style()
        assert to_hex(plt.rcParams["axes.prop_cycle"].by_key()["color"][0]) == plot.PALETTE[0].lower()
        assert plt.rcParams["axes.grid"] and list(plt.rcParams["figure.figsize"]) == [6.0, 3.5]


def test_curves_one_panel_per_metric():
    h = history()
    figure = plot.curves(h)
    assert len(figure.axes) == 2
    for panel, metric in zip(figure.axes, ("loss", "accuracy"), strict=True):
        lines = panel.get_lines()
        assert [line.get_label() for line in lines] == ["training", "validation"]
        assert list(lines[0].get_xdata()) == [1, 2, 3]
        assert list(lines[0].get_ydata()) == h[f"train_{metric}"]
        assert list(lines[1].get_ydata()) == h[f"val_{metric}"]
        assert panel.get_xlabel() == "epoch" and panel.get_ylabel() == metric
        assert panel.get_legend() is not None


def test_curves_on_given_axes_and_from_a_dict():
    _, ax = plt.subplots()
    assert plot.curves(history(val=False), metrics="loss", ax=ax) is ax
    assert len(ax.get_lines()) == 1
    figure = plot.curves({"train_loss": [3.0, 2.0], "val_loss": [3.5, 2.5]}, metrics=["loss"])
    assert [list(line.get_xdata()) for line in figure.axes[0].get_lines()] == [[1, 2], [1, 2]]


def test_curves_bad_input():
    with pytest.raises(ValueError, match="no train_perplexity or val_perplexity"):
        plot.curves(history(), metrics="perplexity")
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="one metric"):
        plot.curves(history(), ax=ax)


@pytest.mark.parametrize("shape, shown", [((5, 8, 8), (8, 8)), ((5, 1, 8, 8), (8, 8)), ((5, 3, 8, 8), (8, 8, 3))])
def test_image_grid_shapes(shape, shown):
    images = torch.rand(shape)
    figure = plot.image_grid(images, ncols=3)  # 2 rows of 3, one panel empty
    shown_images = [image for panel in figure.axes for image in panel.get_images()]
    assert len(figure.axes) == 6 and len(shown_images) == 5
    assert shown_images[0].get_array().shape == shown
    expected = images[0, 0] if len(shape) == 4 and shape[1] == 1 else images[0]
    if len(shape) == 4 and shape[1] == 3:
        expected = images[0].permute(1, 2, 0)
    np.testing.assert_array_equal(np.asarray(shown_images[0].get_array()), expected.numpy())


def test_image_grid_titles_wrong_predictions_in_red():
    classes = ["zero", "one", "two"]
    labels = torch.tensor([0, 1, 2, 1])
    logits = torch.nn.functional.one_hot(torch.tensor([0, 2, 2, 0]), 3).float()  # images 1 and 3 are wrong
    figure = plot.image_grid(np.zeros((4, 5, 5)), labels=labels, classes=classes, predictions=logits)
    titles = [panel.title for panel in figure.axes]
    assert [t.get_text() for t in titles] == ["zero", "two/one", "two", "zero/one"]
    red = [to_hex(t.get_color()) == plot.WRONG.lower() for t in titles]
    assert red == [False, True, False, True]


def test_image_grid_bad_input():
    with pytest.raises(ValueError, match=r"\(n, h, w\)"):
        plot.image_grid(np.zeros((4, 2, 8, 8)))
    with pytest.raises(ValueError, match=r"\(n, h, w\)"):
        plot.image_grid(np.zeros((8, 8)))
    with pytest.raises(ValueError, match=r"labels must be \(4,\)"):
        plot.image_grid(np.zeros((4, 8, 8)), labels=[0, 1, 2])
    with pytest.raises(ValueError, match="outside 0..1"):
        plot.image_grid(np.zeros((2, 8, 8)), labels=[0, 2], classes=["a", "b"])


def test_decision_boundary_with_a_callable():
    x = torch.tensor([[-1.0, 0.0], [-2.0, 1.0], [1.0, 0.5], [2.0, -1.0], [1.5, 1.0]])
    y = torch.tensor([0, 0, 1, 1, 1])
    seen = []

    def right_half(points):
        seen.append(points)
        return (points[:, 0] > 0).long()

    ax = plot.decision_boundary(right_half, x, y, resolution=30)
    (grid,) = seen
    assert isinstance(grid, torch.Tensor) and grid.dtype == torch.float32 and grid.shape == (900, 2)
    assert grid[:, 0].min() < -2 and grid[:, 0].max() > 2 and grid[:, 1].min() < -1 and grid[:, 1].max() > 1
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert [len(s.get_offsets()) for s in scatters] == [2, 3]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["class 0", "class 1"]
    assert len(ax.collections) == 3  # the shaded regions and two scatters


def test_decision_boundary_with_a_module_and_arrays():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 8), nn.Dropout(0.5), nn.Linear(8, 3))
    model.train()
    x = np.random.default_rng(0).normal(size=(20, 2)).astype(np.float32)
    y = np.arange(20) % 3
    ax = plot.decision_boundary(model, x, y, resolution=20)
    assert model.training  # restored after predicting in eval mode
    assert len([c for c in ax.collections if isinstance(c, PathCollection)]) == 3
    seen = []
    plot.decision_boundary(lambda p: seen.append(p) or p[:, 1] - 0.2, x, y, resolution=10)  # one logit
    assert isinstance(seen[0], np.ndarray)


def test_decision_boundary_bad_input():
    x, y = np.zeros((4, 2), np.float32), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match=r"x must be \(n, 2\)"):
        plot.decision_boundary(lambda p: p[:, 0], np.zeros((4, 3)), y)
    with pytest.raises(ValueError, match=r"y must be \(4,\) integer"):
        plot.decision_boundary(lambda p: p[:, 0], x, y[:3])
    with pytest.raises(ValueError, match="predict must return"):
        plot.decision_boundary(lambda p: p[:5, 0], x, y, resolution=10)


def test_line():
    sizes = [100, 1000, 10000]
    ax = plot.line(
        sizes,
        {"linear": [0.3, 0.2, 0.18], "MLP": [0.4, 0.15, 0.05]},
        "training examples",
        "test error",
        title="More data",
        logx=True,
    )
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["linear", "MLP"]
    assert list(lines[1].get_ydata()) == [0.4, 0.15, 0.05]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "linear"
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("training examples", "test error", "More data")
    assert len(ax.get_legend().get_texts()) == 2


def test_line_bad_input():
    with pytest.raises(ValueError, match=r"ys\['MLP'\] has shape \(2,\) but x has \(3,\)"):
        plot.line([1, 2, 3], {"MLP": [1, 2]}, "n", "error")
    with pytest.raises(ValueError, match="non-empty dict"):
        plot.line([1, 2, 3], {}, "n", "error")
    assert plt.get_fignums() == []  # no half-drawn figure left behind


def neuron_graph():
    from dlbook.scratch import Value

    x, w, b = Value(2.0), Value(-0.5), Value(0.5)
    loss = ((w * x + b).tanh() - 1.0) ** 2
    loss.backward()
    return loss, {x: "x", w: "w", b: "b", loss: "L"}


def test_graph_draws_every_node_and_operation_of_the_engine_graph():
    from matplotlib.patches import Circle, Rectangle

    from dlbook.scratch.value import topological_order

    loss, labels = neuron_graph()
    nodes = topological_order(loss)
    ax = plot.graph(loss, labels=labels)
    boxes = [p for p in ax.patches if isinstance(p, Rectangle)]
    circles = [p for p in ax.patches if isinstance(p, Circle)]
    assert len(boxes) == len(nodes) == 9  # x, w, b, w*x, +b, tanh, the constant -1, -1, ^2
    assert len(circles) == sum(1 for n in nodes if n._parents) == 5
    texts = [t.get_text() for t in ax.texts]
    assert {"x", "w", "b", "L", "tanh", "^2", "*", "+"} <= set(texts)
    for node in nodes:  # every value and every gradient is written in its box
        assert f"{node.data:.4g}" in texts and f"{node.grad:.4g}" in texts
    x_of = {}
    for box, node in zip(boxes, nodes, strict=True):  # drawn in topological order
        x_of[id(node)] = box.get_x()
    for node in nodes:  # values flow left to right: every node right of its parents
        assert all(x_of[id(node)] > x_of[id(p)] for p in node._parents)


def test_graph_a_shared_node_and_bad_input():
    from dlbook.scratch import Value

    u = Value(3.0)
    y = u * u + u
    y.backward()
    ax = plot.graph(y, labels={u: "u"})
    assert "7" in [t.get_text() for t in ax.texts]  # u's gradient, 2u + 1, collected over three uses
    plt.close("all")
    with pytest.raises(TypeError, match="dlbook.scratch.Value"):
        plot.graph(torch.ones(2))
    big = sum(Value(float(i)) for i in range(40))
    with pytest.raises(ValueError, match="more than max_nodes=60"):
        plot.graph(big)
    assert plt.get_fignums() == []  # no half-drawn figure left behind
