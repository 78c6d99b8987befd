"""dlbook.scratch.Value: values and gradients of scalar expressions against torch.autograd."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlbook.scratch import Value
from dlbook.scratch.value import topological_order

# Each expression runs on Values and on torch scalars; only operators and methods both have.
EXPRESSIONS = {
    "micrograd": lambda a, b: ((a * b + b**3).relu() + (b - a) * 2 + 1 / (a * a + 1)).tanh() * 4,
    "reflected": lambda a, b: 2 + a - (3 - b) * (0.5 * a) / 2 + 1.5 / b - -a,
    "exp_log": lambda a, b: (a.exp() + b**2).log() * a.sigmoid(),
    "powers": lambda a, b: (a**2 + 1) ** 0.5 + b**-2 + a**3 / (b * b),
    "shared": lambda a, b: (a * a * a + a * b).relu() + (a * b).sigmoid() * (a - b).tanh(),
}
numbers = st.floats(0.3, 3.0) | st.floats(-3.0, -0.3)


def torch_scalar(x: float) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float64, requires_grad=True)


@pytest.mark.parametrize("name", EXPRESSIONS)
@settings(max_examples=30, deadline=None)
@given(a=numbers, b=numbers)
def test_values_and_gradients_like_torch(name, a, b):
    f = EXPRESSIONS[name]
    va, vb = Value(a), Value(b)
    ta, tb = torch_scalar(a), torch_scalar(b)
    out, ref = f(va, vb), f(ta, tb)
    out.backward()
    ref.backward()
    assert out.data == pytest.approx(ref.item(), rel=1e-12, abs=1e-12)
    assert va.grad == pytest.approx(ta.grad.item(), rel=1e-9, abs=1e-12)
    assert vb.grad == pytest.approx(tb.grad.item(), rel=1e-9, abs=1e-12)


def test_gradients_match_finite_differences():
    def f(a, b):
        return (a * b.exp() + (a - b).tanh()) / (1 + a**2)

    a, b, eps = 0.7, -0.4, 1e-6
    out = f(va := Value(a), vb := Value(b))
    out.backward()
    numeric_a = (f(Value(a + eps), Value(b)).data - f(Value(a - eps), Value(b)).data) / (2 * eps)
    numeric_b = (f(Value(a), Value(b + eps)).data - f(Value(a), Value(b - eps)).data) / (2 * eps)
    assert va.grad == pytest.approx(numeric_a, rel=1e-6)
    assert vb.grad == pytest.approx(numeric_b, rel=1e-6)


def test_leaves_accumulate_gradients_across_backward_calls():
    a, b = Value(1.5), Value(-0.5)
    y = (a * b).tanh() + a
    y.backward()
    first = a.grad
    y.backward()  # intermediate gradients start again from zero, the leaves add up
    assert a.grad == pytest.approx(2 * first)
    assert y.grad == 1.0


def test_a_deep_chain_backpropagates_without_recursion_error():
    x = Value(0.5)
    y = x
    for _ in range(5000):
        y = y + x * 0.001
    y.backward()
    assert x.grad == pytest.approx(1 + 5000 * 0.001)


def test_topological_order_puts_parents_first():
    a, b = Value(1.0), Value(2.0)
    c = a * b
    d = c + a
    e = d * c
    order = topological_order(e)
    assert len(order) == 5 and order[-1] is e
    position = {id(node): i for i, node in enumerate(order)}
    for node in order:
        assert all(position[id(parent)] < position[id(node)] for parent in node._parents)


def test_edge_cases_and_errors():
    assert Value(-1000.0).sigmoid().data == 0.0 and Value(1000.0).sigmoid().data == 1.0
    assert Value(0.0).exp().data == 1.0 and Value(math.e).log().data == pytest.approx(1.0)
    with pytest.raises(TypeError, match="exponent"):
        Value(2.0) ** Value(3.0)
    with pytest.raises(ValueError, match="x > 0"):
        Value(-1.0).log()
    assert repr(Value(2.0)) == "Value(data=2, grad=0)"
