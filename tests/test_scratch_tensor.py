"""dlbook.scratch.Tensor, functional and gradcheck: every op against torch.autograd and finite differences."""

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlbook.scratch import Tensor, gradcheck
from dlbook.scratch.functional import cross_entropy, log_softmax, softmax
from dlbook.scratch.tensor import graph_node

SETTINGS = settings(max_examples=15, deadline=None)
SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)


def random(shape, seed=0, low=None):
    """Random float64 data of ``shape``; with ``low``, magnitudes in [low, low + 1.5) and random signs."""
    rng = np.random.default_rng(seed)
    if low is None:
        return rng.standard_normal(shape)
    return rng.uniform(low, low + 1.5, shape) * rng.choice([-1.0, 1.0], shape)


def check(f_ours, f_torch, *arrays, finite_differences=True):
    """Same output and input gradients as torch (for a random output gradient); then gradcheck."""
    ours = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, ref = f_ours(*ours), f_torch(*theirs)
    assert out.shape == tuple(ref.shape)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    seed = np.random.default_rng(1).standard_normal(out.shape)
    out.backward(seed)
    ref.backward(torch.tensor(seed))
    for x, t in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-9, atol=1e-12)
    if finite_differences:
        assert gradcheck(f_ours, *[Tensor(a) for a in arrays])


# ---------------------------------------------------------------- elementwise, with broadcasting
BINARY = {
    "add": (lambda a, b: a + b, None),
    "sub": (lambda a, b: a - b, None),
    "mul": (lambda a, b: a * b, None),
    "div": (lambda a, b: a / b, 0.5),  # denominators at least 0.5 away from zero
}


@pytest.mark.parametrize("name", BINARY)
@SETTINGS
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3))
def test_binary_ops_broadcast_like_torch(name, shapes):
    op, low = BINARY[name]
    a, b = random(shapes.input_shapes[0], seed=2), random(shapes.input_shapes[1], seed=3, low=low)
    check(op, op, a, b)


A = np.arange(1.0, 4.0)  # a numpy operand of shape (3,)
REFLECTED = {
    "number + x": (lambda x: 2.5 + x, lambda t: 2.5 + t),
    "number - x": (lambda x: 2.5 - x, lambda t: 2.5 - t),
    "number * x": (lambda x: 2.5 * x, lambda t: 2.5 * t),
    "number / x": (lambda x: 2.5 / x, lambda t: 2.5 / t),
    "x - number": (lambda x: x - 2.5, lambda t: t - 2.5),
    "x / number": (lambda x: x / 4.0, lambda t: t / 4.0),
    "array + x": (lambda x: A + x, lambda t: torch.from_numpy(A) + t),
    "array - x": (lambda x: A - x, lambda t: torch.from_numpy(A) - t),
    "x * array": (lambda x: x * A, lambda t: t * torch.from_numpy(A)),
    "array / x": (lambda x: A / x, lambda t: torch.from_numpy(A) / t),
    "array @ x": (lambda x: A @ x.T, lambda t: torch.from_numpy(A) @ t.T),
}


@pytest.mark.parametrize("name", REFLECTED)
def test_numbers_and_numpy_arrays_mix_in(name):
    ours, theirs = REFLECTED[name]
    check(ours, theirs, random((4, 3), low=0.5))


UNARY = {
    "neg": (lambda x: -x, lambda t: -t, None),
    "exp": (lambda x: x.exp(), lambda t: t.exp(), None),
    "log": (lambda x: x.log(), lambda t: t.log(), "positive"),
    "relu": (lambda x: x.relu(), lambda t: t.relu(), None),
    "tanh": (lambda x: x.tanh(), lambda t: t.tanh(), None),
    "sigmoid": (lambda x: x.sigmoid(), lambda t: t.sigmoid(), None),
    "square": (lambda x: x**2, lambda t: t**2, None),
    "cube": (lambda x: x**3, lambda t: t**3, None),
    "reciprocal": (lambda x: x**-1, lambda t: t**-1, "positive"),
    "sqrt": (lambda x: x**0.5, lambda t: t**0.5, "positive"),
}


@pytest.mark.parametrize("name", UNARY)
@SETTINGS
@given(shape=SHAPES)
def test_elementwise_functions_like_torch(name, shape):
    ours, theirs, domain = UNARY[name]
    x = np.abs(random(shape, low=0.3)) if domain == "positive" else random(shape, low=0.05)  # relu: no 0
    check(ours, theirs, x)


def test_sigmoid_does_not_overflow():
    x = Tensor(np.array([-1000.0, 0.0, 1000.0]), requires_grad=True)
    y = x.sigmoid()
    y.sum().backward()
    np.testing.assert_array_equal(y.data, [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(x.grad, [0.0, 0.25, 0.0])


# ---------------------------------------------------------------- reductions
@st.composite
def shape_and_axis(draw):
    """A shape with 1-3 axes and an axis argument: None, one axis (maybe negative) or a tuple."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=3))
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        return shape, None
    if kind == "int":
        return shape, draw(st.integers(-len(shape), len(shape) - 1))
    axes = draw(st.lists(st.integers(0, len(shape) - 1), min_size=1, max_size=len(shape), unique=True))
    return shape, tuple(axes)


def torch_dims(axis, ndim):
    return tuple(range(ndim)) if axis is None else axis


@pytest.mark.parametrize("name", ["sum", "mean", "max"])
@SETTINGS
@given(case=shape_and_axis(), keepdims=st.booleans())
def test_reductions_like_torch(name, case, keepdims):
    shape, axis = case
    torch_op = {"sum": torch.sum, "mean": torch.mean, "max": torch.amax}[name]
    check(
        lambda x: getattr(x, name)(axis=axis, keepdims=keepdims),
        lambda t: torch_op(t, dim=torch_dims(axis, t.ndim), keepdim=keepdims),
        random(shape),
    )


@pytest.mark.parametrize("axis", [None, 0, 1])
def test_max_splits_the_gradient_among_ties_like_torch_amax(axis):
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    check(
        lambda t: t.max(axis=axis),
        lambda t: torch.amax(t, dim=torch_dims(axis, 2)),
        x,
        finite_differences=False,  # max is not differentiable at a tie
    )


# ---------------------------------------------------------------- matrix product
MATMUL_SHAPES = [
    ((3,), (3,)),
    ((2, 3), (3,)),
    ((3,), (3, 4)),
    ((2, 3), (3, 4)),
    ((5, 2, 3), (3, 4)),
    ((2, 3), (5, 3, 4)),
    ((5, 2, 3), (5, 3, 4)),
    ((5, 1, 2, 3), (4, 3, 2)),
    ((3,), (5, 3, 2)),
    ((5, 2, 3), (3,)),
]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul_like_torch(shapes):
    check(lambda a, b: a @ b, lambda a, b: a @ b, random(shapes[0], seed=1), random(shapes[1], seed=2))


def test_matmul_with_transposed_and_fortran_ordered_operands():
    """x @ W.T (as in a linear layer) and Fortran-ordered data take another code path; same results."""
    check(lambda x, w: x @ w.T, lambda x, w: x @ w.T, random((4, 3)), random((5, 3)))
    check(lambda x, w: x @ w, lambda x, w: x @ w, np.asfortranarray(random((4, 3))), random((3, 2)))
    a = Tensor(np.asfortranarray(random((4, 3))), requires_grad=True)
    (a @ random((3, 2))).sum().backward()
    assert a.grad.flags.f_contiguous, "a gradient keeps the memory order of its array"


# ---------------------------------------------------------------- shapes and indexing
def test_reshape_transpose_and_T_like_torch():
    x = random((2, 3, 4))
    check(lambda t: t.reshape(4, 6), lambda t: t.reshape(4, 6), x)
    check(lambda t: t.reshape((3, 8)), lambda t: t.reshape(3, 8), x)
    check(lambda t: t.reshape(-1), lambda t: t.reshape(-1), x)
    check(lambda t: t.transpose(2, 0, 1), lambda t: t.permute(2, 0, 1), x)
    check(lambda t: t.transpose((1, -1, 0)), lambda t: t.permute(1, 2, 0), x)
    check(lambda t: t.transpose(), lambda t: t.permute(2, 1, 0), x)
    check(lambda t: t.T, lambda t: t.T, random((3, 4)))


INDICES = {
    "int": 1,
    "negative int": -1,
    "slice": slice(1, None),
    "step slice": (slice(None), slice(None, None, 2)),
    "int and slice": (0, slice(1, 3)),
    "newaxis and ellipsis": (None, Ellipsis, 1),
    "integer array with repeats": np.array([0, 2, 0, 0]),
    "two integer arrays": (np.array([0, 1, 1]), np.array([3, 3, 3])),
    "array and slice": (slice(None), np.array([1, 1, 0])),
    "boolean mask": np.array([True, False, True]),
}


def torch_index(index):
    """The same index for a torch tensor: numpy arrays become torch tensors."""
    if isinstance(index, tuple):
        return tuple(torch_index(part) for part in index)
    return torch.from_numpy(index) if isinstance(index, np.ndarray) else index


@pytest.mark.parametrize("name", INDICES)
def test_indexing_like_torch(name):
    index = INDICES[name]
    check(lambda t: t[index], lambda t: t[torch_index(index)], random((3, 4)))


# ---------------------------------------------------------------- functional
@pytest.mark.parametrize("axis", [-1, 0])
def test_log_softmax_and_softmax_like_torch(axis):
    x = random((4, 5))
    check(lambda t: log_softmax(t, axis=axis), lambda t: torch.log_softmax(t, dim=axis), x)
    check(lambda t: softmax(t, axis=axis), lambda t: torch.softmax(t, dim=axis), x)


def test_log_softmax_is_stable_for_huge_logits():
    x = np.array([[1000.0, 0.0, -1000.0], [-5000.0, -5000.0, -5000.0]])
    ours = log_softmax(Tensor(x)).data
    np.testing.assert_allclose(ours, torch.log_softmax(torch.tensor(x), dim=-1).numpy())
    assert np.isfinite(ours).all()


def test_cross_entropy_like_torch():
    targets = np.array([0, 3, 3, 1, 4, 2])
    check(
        lambda t: cross_entropy(t, targets),
        lambda t: torch.nn.functional.cross_entropy(t, torch.from_numpy(targets)),
        random((6, 5)) * 3,
    )


def test_cross_entropy_keeps_float32():
    logits = Tensor(random((8, 3)).astype(np.float32), requires_grad=True)
    loss = cross_entropy(logits, np.arange(8) % 3)
    loss.backward()
    assert loss.dtype == np.float32 and logits.grad.dtype == np.float32


@pytest.mark.parametrize(
    "logits, targets, error, message",
    [
        (random((4, 3)), np.array([0.0, 1.0, 2.0, 0.0]), TypeError, "integer class indices"),
        (random((4, 3)), np.array([0, 1, 3, 0]), ValueError, "target 3 is out of range"),
        (random((4, 3)), np.array([0, -1, 2, 0]), ValueError, "target -1 is out of range"),
        (random((4,)), np.array([0]), ValueError, r"shape \(batch, classes\)"),
        (random((2, 4, 3)), np.array([0, 1]), ValueError, r"shape \(batch, classes\)"),
        (random((4, 3)), np.array([0, 1, 2]), ValueError, r"targets of shape \(4,\), got \(3,\)"),
        (random((4, 3)), Tensor([0, 1, 2, 0]), TypeError, "not a Tensor"),
        (np.full((4, 3), np.nan), np.array([0, 1, 2, 0]), ValueError, "NaN or inf"),
    ],
)
def test_cross_entropy_rejects_bad_input(logits, targets, error, message):
    with pytest.raises(error, match=message):
        cross_entropy(Tensor(logits), targets)


# ---------------------------------------------------------------- gradcheck
def wrong_square(x: Tensor) -> Tensor:
    """x ** 2 with a backward that forgets the factor 2."""
    return graph_node(x.data**2, (x,), lambda g: x.add_grad(g * x.data))


def test_gradcheck_catches_a_wrong_gradient_and_names_it():
    x = Tensor(np.array([[0.5, -1.0, 2.0]]))
    with pytest.raises(AssertionError, match=r"input 1 \(shape \(1, 3\)\) at index \(0, 2\)"):
        gradcheck(lambda a, b: a.sum() + wrong_square(b), Tensor(np.ones(2)), x)


def test_gradcheck_catches_a_nan_gradient():
    def nan_grad(x):
        return graph_node(x.data * 2, (x,), lambda g: x.add_grad(g * np.nan))

    with pytest.raises(AssertionError, match="gradcheck failed"):
        gradcheck(nan_grad, Tensor(np.ones(3)))


def test_gradcheck_rejects_bad_arguments():
    with pytest.raises(TypeError, match="Tensor"):
        gradcheck(lambda x: x, np.ones(3))
    with pytest.raises(TypeError, match="return a Tensor"):
        gradcheck(lambda x: x.data, Tensor(np.ones(3)))


def test_gradcheck_leaves_the_inputs_untouched():
    x = Tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    gradcheck(lambda t: (t * t).sum(), x)
    assert x.grad is None and x.dtype == np.float32
    np.testing.assert_array_equal(x.data, [1.0, 2.0])


# ---------------------------------------------------------------- backward() and .grad
def test_gradients_accumulate_across_backward_calls_like_torch():
    a_data, b_data = random((2, 3), seed=4), random((3,), seed=5)
    a, b = Tensor(a_data, requires_grad=True), Tensor(b_data, requires_grad=True)
    ta, tb = torch.tensor(a_data, requires_grad=True), torch.tensor(b_data, requires_grad=True)
    y, ty = (a * b).tanh().sum(), (ta * tb).tanh().sum()
    for _ in range(2):
        y.backward()
        ty.backward(retain_graph=True)
    np.testing.assert_allclose(a.grad, ta.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(b.grad, tb.grad.numpy(), rtol=1e-12)


def test_a_tensor_used_twice_gets_both_gradients():
    x = Tensor(np.array([1.5, -2.0]), requires_grad=True)
    (x * x + x).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.data + 1)


def test_only_leaves_keep_gradients_and_each_owns_its_array():
    a, b = Tensor(np.ones(3), requires_grad=True), Tensor(np.ones(3), requires_grad=True)
    c = a + b
    c.sum().backward()
    assert c.grad is None
    a.grad *= 10  # an optimizer may update a gradient in place
    np.testing.assert_array_equal(b.grad, np.ones(3))


def test_backward_errors():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"needs a scalar.*shape \(2, 3\)"):
        (x * 2).backward()
    with pytest.raises(ValueError, match=r"gradient of shape \(2, 3\), got \(3,\)"):
        (x * 2).backward(np.ones(3))
    with pytest.raises(RuntimeError, match="requires_grad=True"):
        Tensor(np.ones(3)).sum().backward()


def test_a_deep_chain_backpropagates_without_recursion_error():
    x = Tensor(np.array([0.5]), requires_grad=True)
    y = x
    for _ in range(5000):
        y = y + x * 0.001
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [1 + 5000 * 0.001])


def test_operations_without_gradients_build_no_graph():
    x = Tensor(np.ones(3))
    y = (x * 2).exp()
    assert not y.requires_grad and y._parents == ()


# ---------------------------------------------------------------- dtypes, conversions, bad input
def test_dtypes():
    assert Tensor([1, 2]).dtype == np.float64
    assert Tensor(np.array([True])).dtype == np.float64
    x = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    y = (2.0 * x + np.ones(3) - 1) / 3 @ np.ones(3)  # numbers and float64 arrays take x's dtype
    y.backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32


def test_item_numpy_detach_and_repr():
    data = np.array([[1.0, 2.0]])
    x = Tensor(data, requires_grad=True)
    assert x.numpy() is data and x.shape == (1, 2) and x.ndim == 2 and len(x) == 1
    assert x.sum().item() == 3.0
    assert not x.detach().requires_grad and x.detach().data is data
    assert "requires_grad=True" in repr(x)


def test_clear_errors_for_bad_input():
    with pytest.raises(ValueError, match=r"cannot add shapes \(3, 4\) and \(5,\)"):
        Tensor(np.ones((3, 4))) + Tensor(np.ones(5))
    with pytest.raises(ValueError, match=r"cannot multiply shapes \(3, 4\) and \(2, 4\)"):
        Tensor(np.ones((3, 4))) * np.ones((2, 4))
    with pytest.raises(ValueError, match=r"cannot matmul shapes \(3, 4\) @ \(5, 2\)"):
        Tensor(np.ones((3, 4))) @ Tensor(np.ones((5, 2)))
    with pytest.raises(TypeError, match="exponent"):
        Tensor(np.ones(3)) ** Tensor(np.ones(3))
    with pytest.raises(TypeError, match="dtype"):
        Tensor(["a", "b"])
    with pytest.raises(TypeError, match="not NoneType"):
        Tensor(np.ones(3)) + None
