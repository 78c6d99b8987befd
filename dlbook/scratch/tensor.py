"""An array autograd engine on numpy: the Value engine with one array per node instead of one number."""

from __future__ import annotations

import numpy as np

from dlbook.scratch.value import topological_order


class Tensor:
    """A numpy array that remembers how it was computed, so ``backward()`` can fill in gradients.

    - ``data`` keeps a floating dtype as given (float32 stays float32) and shares memory with a
      numpy array passed in; integers, booleans, lists and Python numbers become float64.
      Python numbers and numpy arrays met in an operation take the Tensor's dtype.
    - Like PyTorch, only leaves (tensors created with ``requires_grad=True``) keep ``.grad``,
      and each ``backward()`` adds to it: set it back to None (``module.zero_grad()``) every step.
    """

    __array_ufunc__ = None  # `numpy_array + tensor` calls Tensor.__radd__ instead of looping in numpy

    def __init__(self, data, requires_grad: bool = False):
        data = np.asarray(data)
        if not np.issubdtype(data.dtype, np.floating):
            if not (np.issubdtype(data.dtype, np.integer) or data.dtype == bool):
                raise TypeError(f"Tensor holds numbers, got an array of dtype {data.dtype}.")
            data = data.astype(np.float64)
        self.data = data
        self.grad = None
        self.requires_grad = requires_grad
        self._parents = ()
        self._backward = None  # for an operation's output: adds its gradient into the parents' gradients

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def item(self) -> float:
        """The value of a one-element Tensor as a Python float."""
        return self.data.item()

    def numpy(self) -> np.ndarray:
        """The data as a numpy array (the same memory, not a copy)."""
        return self.data

    def detach(self) -> Tensor:
        """The same data, cut off from the graph: no gradient flows through it."""
        return Tensor(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({np.array2string(self.data, prefix='Tensor(')}{grad})"

    # ------------------------------------------------------------------ backpropagation
    def backward(self, grad: np.ndarray | None = None) -> None:
        """Add d(self)/d(leaf) to ``.grad`` of every leaf; ``grad`` seeds a non-scalar (same shape)."""
        if not self.requires_grad:
            raise RuntimeError(
                "backward() found no graph: nothing this Tensor was computed from has requires_grad=True. "
                "Create the weights (or inputs) you want gradients for with Tensor(..., requires_grad=True)."
            )
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward() without a gradient needs a scalar, but this Tensor has shape {self.shape}. "
                    "Reduce it first (e.g. .sum() or .mean()) or pass grad= an array of the same shape."
                )
            grad = np.ones_like(self.data)
        grad = np.asarray(grad, dtype=self.dtype)
        if grad.shape != self.shape:
            raise ValueError(f"backward(grad) needs a gradient of shape {self.shape}, got {grad.shape}.")
        order = topological_order(self)
        self.add_grad(grad)
        for node in reversed(order):  # each node after everything that uses it
            if node._backward is not None and node.grad is not None:
                node._backward(node.grad)
                node.grad = None  # intermediate results do not keep their gradient

    def add_grad(self, g: np.ndarray) -> None:
        """Add ``g`` to ``.grad``, first summing over the axes that broadcasting added."""
        g = unbroadcast(g, self.shape)
        if self._parents:  # an intermediate result: its gradient is only passed on to its parents
            self.grad = g if self.grad is None else self.grad + g
        elif self.grad is None:  # a leaf owns its .grad, so an optimizer may update it in place
            self.grad = np.array(g, dtype=self.dtype)
        else:
            self.grad += g

    def _lift(self, other) -> Tensor:
        """``other`` as a Tensor; Python numbers and numpy arrays take this Tensor's dtype."""
        if isinstance(other, Tensor):
            return other
        if np.asarray(other).dtype.kind not in "biuf":
            raise TypeError(f"a Tensor combines with numbers, arrays or Tensors, not {type(other).__name__}.")
        return Tensor(np.asarray(other, dtype=self.dtype))

    # ------------------------------------------------------------------ arithmetic (with broadcasting)
    def __add__(self, other) -> Tensor:
        other = self._lift(other)
        data = _broadcast(np.add, self, other, "add")

        def backward(g):
            if self.requires_grad:
                self.add_grad(g)
            if other.requires_grad:
                other.add_grad(g)

        return graph_node(data, (self, other), backward)

    def __sub__(self, other) -> Tensor:
        other = self._lift(other)
        data = _broadcast(np.subtract, self, other, "subtract")

        def backward(g):
            if self.requires_grad:
                self.add_grad(g)
            if other.requires_grad:
                other.add_grad(-g)

        return graph_node(data, (self, other), backward)

    def __mul__(self, other) -> Tensor:
        other = self._lift(other)
        data = _broadcast(np.multiply, self, other, "multiply")

        def backward(g):
            if self.requires_grad:
                self.add_grad(g * other.data)
            if other.requires_grad:
                other.add_grad(g * self.data)

        return graph_node(data, (self, other), backward)

    def __truediv__(self, other) -> Tensor:
        other = self._lift(other)
        data = _broadcast(np.divide, self, other, "divide")

        def backward(g):
            if self.requires_grad:
                self.add_grad(g / other.data)
            if other.requires_grad:
                other.add_grad(-g * data / other.data)

        return graph_node(data, (self, other), backward)

    def __pow__(self, exponent: float) -> Tensor:
        if isinstance(exponent, Tensor) or not np.isscalar(exponent):
            raise TypeError(
                f"Tensor ** takes a number as exponent, got {type(exponent).__name__}; "
                "for a Tensor exponent write (y * x.log()).exp()."
            )
        data = self.data**exponent

        def backward(g):
            self.add_grad(g * exponent * self.data ** (exponent - 1))

        return graph_node(data, (self,), backward)

    def __neg__(self) -> Tensor:
        return graph_node(-self.data, (self,), lambda g: self.add_grad(-g))

    __radd__ = __add__
    __rmul__ = __mul__

    def __rsub__(self, other) -> Tensor:
        return self._lift(other) - self

    def __rtruediv__(self, other) -> Tensor:
        return self._lift(other) / self

    # ------------------------------------------------------------------ matrix product
    def __matmul__(self, other) -> Tensor:
        """Matrix product with np.matmul's rules: vectors, matrices, and stacks of matrices (batched)."""
        other = self._lift(other)
        a, b = self, other
        try:
            data = np.matmul(a.data, b.data)
        except ValueError:
            raise ValueError(
                f"cannot matmul shapes {a.shape} @ {b.shape}: the left's last axis must equal the right's "
                f"{'only' if b.ndim == 1 else 'second-to-last'} axis (and neither may be a 0-d scalar)."
            ) from None

        def backward(g):
            # A vector acts as a one-row (left) or one-column (right) matrix, as in np.matmul.
            a2 = a.data[np.newaxis, :] if a.ndim == 1 else a.data
            b2 = b.data[:, np.newaxis] if b.ndim == 1 else b.data
            g2 = g.reshape(np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2]) + (a2.shape[-2], b2.shape[-1]))
            if a.requires_grad:
                ga = _matmul_laid_out_like(a2, g2, np.swapaxes(b2, -1, -2))
                a.add_grad(unbroadcast(ga, a2.shape).reshape(a.shape))
            if b.requires_grad:
                gb = _matmul_laid_out_like(b2, np.swapaxes(a2, -1, -2), g2)
                b.add_grad(unbroadcast(gb, b2.shape).reshape(b.shape))

        return graph_node(data, (a, b), backward)

    def __rmatmul__(self, other) -> Tensor:
        return self._lift(other) @ self

    # ------------------------------------------------------------------ reductions
    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        """Sum over ``axis`` (all axes when None)."""
        data = self.data.sum(axis=axis, keepdims=keepdims)

        def backward(g):
            self.add_grad(np.broadcast_to(_restore_axes(g, axis, keepdims), self.shape))

        return graph_node(data, (self,), backward)

    def mean(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        """Mean over ``axis`` (all axes when None)."""
        data = self.data.mean(axis=axis, keepdims=keepdims)
        count = self.data.size // max(data.size, 1)

        def backward(g):
            self.add_grad(np.broadcast_to(_restore_axes(g, axis, keepdims) / count, self.shape))

        return graph_node(data, (self,), backward)

    def max(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        """Largest entry over ``axis``; tied maxima share the gradient equally, like torch.amax."""
        data = self.data.max(axis=axis, keepdims=keepdims)

        def backward(g):
            is_max = (self.data == _restore_axes(data, axis, keepdims)).astype(self.dtype)
            share = is_max / is_max.sum(axis=axis, keepdims=True)
            self.add_grad(share * _restore_axes(g, axis, keepdims))

        return graph_node(data, (self,), backward)

    # ------------------------------------------------------------------ elementwise functions
    def exp(self) -> Tensor:
        """e**x, elementwise."""
        data = np.exp(self.data)
        return graph_node(data, (self,), lambda g: self.add_grad(g * data))

    def log(self) -> Tensor:
        """Natural logarithm, elementwise (x > 0)."""
        data = np.log(self.data)
        return graph_node(data, (self,), lambda g: self.add_grad(g / self.data))

    def relu(self) -> Tensor:
        """max(x, 0), elementwise."""
        data = np.maximum(self.data, 0)
        return graph_node(data, (self,), lambda g: self.add_grad(g * (self.data > 0)))

    def tanh(self) -> Tensor:
        """tanh(x), elementwise."""
        data = np.tanh(self.data)
        return graph_node(data, (self,), lambda g: self.add_grad(g * (1 - data**2)))

    def sigmoid(self) -> Tensor:
        """1 / (1 + e**-x), elementwise."""
        data = 0.5 * (np.tanh(0.5 * self.data) + 1)  # the same, without overflow for large -x
        return graph_node(data, (self,), lambda g: self.add_grad(g * data * (1 - data)))

    # ------------------------------------------------------------------ shape and indexing
    def reshape(self, *shape: int) -> Tensor:
        """The same entries in a new shape: ``x.reshape(2, 3)`` or ``x.reshape((2, 3))``."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        data = self.data.reshape(shape)
        return graph_node(data, (self,), lambda g: self.add_grad(g.reshape(self.shape)))

    def transpose(self, *axes: int) -> Tensor:
        """Permute the axes (reverse them when none are given), like np.transpose."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        axes = tuple(axis % self.ndim for axis in axes) or None
        data = np.transpose(self.data, axes)
        undo = None if axes is None else np.argsort(axes)
        return graph_node(data, (self,), lambda g: self.add_grad(np.transpose(g, undo)))

    @property
    def T(self) -> Tensor:
        """All axes reversed; for a matrix, its transpose."""
        return self.transpose()

    def __getitem__(self, index) -> Tensor:
        """``x[index]`` with numpy's indexing: ints, slices, None, ... and integer arrays."""
        data = self.data[index]

        def backward(g):
            grad = np.zeros_like(self.data)
            if _is_basic(index):
                grad[index] = g  # ints and slices pick each entry at most once
            else:
                np.add.at(grad, index, g)  # an integer array may pick the same entry twice
            self.add_grad(grad)

        return graph_node(data, (self,), backward)


def graph_node(data: np.ndarray, parents: tuple[Tensor, ...], backward) -> Tensor:
    """The output ``data`` of an operation on ``parents``, joined to the graph (with its ``backward``
    function) when a parent needs a gradient: how a new operation is added to the engine."""
    out = Tensor(data)
    parents = tuple(parent for parent in parents if parent.requires_grad)
    if parents:
        out.requires_grad = True
        out._parents = parents
        out._backward = backward
    return out


def unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``g`` over the axes that broadcasting added or stretched, so it has ``shape`` again."""
    if g.shape == shape:
        return g
    g = g.sum(axis=tuple(range(g.ndim - len(shape))))
    stretched = tuple(axis for axis, n in enumerate(shape) if n == 1 and g.shape[axis] != 1)
    return g.sum(axis=stretched, keepdims=True) if stretched else g


def _broadcast(op, a: Tensor, b: Tensor, verb: str) -> np.ndarray:
    """``op(a.data, b.data)``, with an error naming both shapes when they do not broadcast."""
    try:
        return op(a.data, b.data)
    except ValueError:
        raise ValueError(
            f"cannot {verb} shapes {a.shape} and {b.shape}: aligned from the right, "
            "each pair of axes must be equal or one of them 1 (numpy broadcasting)."
        ) from None


def _matmul_laid_out_like(like: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``x @ y`` in the memory order of ``like``.

    For ``x @ W.T`` this makes the gradient of W a plain (C-ordered) array like W itself,
    which an optimizer updates many times faster than a transposed one.
    """
    if like.ndim == 2 and like.flags.f_contiguous and not like.flags.c_contiguous:
        return (y.T @ x.T).T
    return x @ y


def _restore_axes(g: np.ndarray, axis, keepdims: bool) -> np.ndarray:
    """A reduction's result with the reduced axes put back as size 1, ready to broadcast."""
    return g if keepdims or axis is None else np.expand_dims(g, axis)


def _is_basic(index) -> bool:
    """True when ``index`` uses only ints, slices, None and ``...`` (no integer arrays)."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(part, (int, np.integer, slice)) or part is None or part is ... for part in parts)
