"""A scalar autograd engine: one number per node, the chain rule by hand (after micrograd)."""

from __future__ import annotations

import math


class Value:
    """One number in a computation graph, with the gradient of the final result with respect to it."""

    def __init__(self, data: float, _parents: tuple[Value, ...] = (), _op: str = ""):
        self.data = float(data)
        self.grad = 0.0
        self._parents = _parents
        self._op = _op
        # _backward(node) adds node.grad, times the local derivative, into the parents' .grad; it takes the
        # node as an argument so the closure does not point back at it (no reference cycle to collect).
        self._backward = lambda node: None

    def __add__(self, other: Value | float) -> Value:
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward(out):
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other: Value | float) -> Value:
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward(out):
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def __pow__(self, exponent: float) -> Value:
        if not isinstance(exponent, (int, float)):
            raise TypeError(f"Value ** takes a Python number as exponent, got {type(exponent).__name__}.")
        out = Value(self.data**exponent, (self,), f"**{exponent}")

        def _backward(out):
            self.grad += exponent * self.data ** (exponent - 1) * out.grad

        out._backward = _backward
        return out

    def exp(self) -> Value:
        out = Value(math.exp(self.data), (self,), "exp")

        def _backward(out):
            self.grad += out.data * out.grad

        out._backward = _backward
        return out

    def log(self) -> Value:
        if self.data <= 0:
            raise ValueError(f"log of a non-positive number ({self.data}); the logarithm needs x > 0.")
        out = Value(math.log(self.data), (self,), "log")

        def _backward(out):
            self.grad += out.grad / self.data

        out._backward = _backward
        return out

    def tanh(self) -> Value:
        out = Value(math.tanh(self.data), (self,), "tanh")

        def _backward(out):
            self.grad += (1 - out.data**2) * out.grad

        out._backward = _backward
        return out

    def relu(self) -> Value:
        out = Value(max(self.data, 0.0), (self,), "relu")

        def _backward(out):
            self.grad += (self.data > 0) * out.grad

        out._backward = _backward
        return out

    def sigmoid(self) -> Value:
        out = Value(0.5 * (math.tanh(0.5 * self.data) + 1), (self,), "sigmoid")  # stable for any x

        def _backward(out):
            self.grad += out.data * (1 - out.data) * out.grad

        out._backward = _backward
        return out

    def backward(self) -> None:
        """Fill ``.grad`` of every node in the graph with d(self)/d(node).

        Leaves (inputs and weights) add the new gradient to what they hold, like PyTorch:
        set their ``.grad = 0.0`` before the next backward pass.
        """
        order = topological_order(self)
        for node in order:
            if node._parents:  # intermediate results start from zero at every pass
                node.grad = 0.0
        self.grad += 1.0
        for node in reversed(order):
            node._backward(node)

    # The rest is made of the operations above.
    def __neg__(self) -> Value:
        return self * -1

    def __sub__(self, other: Value | float) -> Value:
        return self + (-other)

    def __truediv__(self, other: Value | float) -> Value:
        return self * other**-1

    def __radd__(self, other: float) -> Value:
        return self + other

    def __rsub__(self, other: float) -> Value:
        return Value(other) - self

    def __rmul__(self, other: float) -> Value:
        return self * other

    def __rtruediv__(self, other: float) -> Value:
        return Value(other) / self

    def __repr__(self) -> str:
        return f"Value(data={self.data:.4g}, grad={self.grad:.4g})"


def topological_order(root) -> list:
    """Every node that ``root`` depends on, each listed after all of its ``_parents``.

    A loop with an explicit stack instead of recursion, so a graph thousands of
    operations deep does not hit Python's recursion limit.
    """
    order, seen = [], set()
    stack = [(root, False)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            order.append(node)
        elif node not in seen:
            seen.add(node)
            stack.append((node, True))
            stack.extend((parent, False) for parent in node._parents if parent not in seen)
    return order
