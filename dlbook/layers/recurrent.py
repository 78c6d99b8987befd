"""Multi-layer, optionally bidirectional RNN, LSTM and GRU, unrolled over time with a Python loop.

They take torch.nn.RNN/LSTM/GRU's constructor arguments and keep its parameter names and shapes
(``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``, then ``_l1`` for the next layer and
``..._reverse`` for the backward direction), so a state_dict moves between them and their torch.nn twins
in both directions. Every time step calls the cell's ``step`` (``RNNCell.step``, ``LSTMCell.step``,
``GRUCell.step``), so the equations live in one place. With L = num_layers, D = 2 if bidirectional else 1
and H = hidden_size:

- x: ``(time, batch, input_size)``, or ``(batch, time, input_size)`` with ``batch_first=True``, or one
  unbatched sequence ``(time, input_size)``, or a ``PackedSequence``;
- output: ``(time, batch, D * H)`` (batch first with ``batch_first=True``; ``(time, D * H)`` unbatched),
  the last layer's h at every step, both directions side by side; a ``PackedSequence`` for packed x;
- h_n (and the LSTM's c_n): ``(L * D, batch, H)`` whatever ``batch_first`` says, as in torch.

A batch of sequences of different lengths goes in packed (``torch.nn.utils.rnn.pack_padded_sequence``):
at step t only the sequences still running take a step, so h_n holds each sequence's state at its own last
step, and the backward direction starts at each sequence's own end. Dropout, when asked for, acts on each
layer's output but the last, in training mode only, as in torch.
"""

import math
import numbers
import warnings

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from dlbook.layers.cells import GRUCell, LSTMCell, RNNCell, _check_dtype, _positive_int

State = tuple[torch.Tensor, ...]  # (h,) for RNN and GRU, (h, c) for the LSTM


class _Recurrent(nn.Module):
    """What RNN, LSTM and GRU share: torch's parameters, the checks, and the loop over layers and time."""

    gates = 1  # how many hidden-sized blocks each weight stacks
    states = 1  # 1: the state is h; 2: the state is (h, c)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
    ):
        super().__init__()
        self.input_size = _positive_int(input_size, "input_size")
        self.hidden_size = _positive_int(hidden_size, "hidden_size")
        self.num_layers = _positive_int(num_layers, "num_layers")
        for name, value in (("bias", bias), ("batch_first", batch_first), ("bidirectional", bidirectional)):
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be True or False, got {value!r}.")
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0 <= dropout <= 1:
            raise ValueError(f"dropout must be a probability in [0, 1] of zeroing a value, got {dropout!r}.")
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                f"dropout={dropout} acts between stacked layers only, so with num_layers=1 it does nothing "
                "(as in torch): use num_layers >= 2, or dropout on the output.",
                stacklevel=2,
            )
        self.bias, self.batch_first, self.bidirectional = bias, batch_first, bidirectional
        self.dropout = float(dropout)
        rows = self.gates * hidden_size
        for layer in range(num_layers):
            features = input_size if layer == 0 else hidden_size * self._directions
            for suffix in self._suffixes:  # registered in torch's order, so the same draws land in the same place
                setattr(self, f"weight_ih_l{layer}{suffix}", nn.Parameter(torch.empty(rows, features)))
                setattr(self, f"weight_hh_l{layer}{suffix}", nn.Parameter(torch.empty(rows, hidden_size)))
                if bias:
                    setattr(self, f"bias_ih_l{layer}{suffix}", nn.Parameter(torch.empty(rows)))
                    setattr(self, f"bias_hh_l{layer}{suffix}", nn.Parameter(torch.empty(rows)))
        self.reset_parameters()

    @property
    def _directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def _suffixes(self) -> tuple[str, ...]:
        return ("", "_reverse") if self.bidirectional else ("",)

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """torch's default: every parameter uniform in +-1/sqrt(hidden_size), drawn in registration order."""
        bound = 1 / math.sqrt(self.hidden_size)
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -bound, bound)

    def _weights(self, layer: int, suffix: str) -> tuple:
        """(weight_ih, weight_hh, bias_ih, bias_hh) of one layer and direction; the biases None without bias."""
        names = ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if self.bias else ())
        weights = tuple(getattr(self, f"{name}_l{layer}{suffix}") for name in names)
        return weights if self.bias else (*weights, None, None)

    def _step(self, x: torch.Tensor, state: State, weights: tuple) -> State:
        raise NotImplementedError  # each subclass calls its cell's step

    def _unroll(self, steps: list[torch.Tensor], state: State, weights: tuple, reverse: bool) -> tuple:
        """One direction of one layer over time: the loop the chapter unrolls.

        steps[t]: (batch_t, features), state: tuple of (batch, H) -> the outputs h_t: (batch_t, H) in time
        order, and the final state. batch_t never grows (packed sequences are sorted longest first): only
        the first batch_t rows take a step at time t, and the others (sequences that have ended or, going
        backwards, not yet begun) keep their state.
        """
        outputs = [None] * len(steps)
        for t in reversed(range(len(steps))) if reverse else range(len(steps)):
            running = steps[t].shape[0]  # the sequences that have a step t: all of them unless packed
            stepped = self._step(steps[t], tuple(s[:running] for s in state), weights)
            outputs[t] = stepped[0]  # h_t
            if running < state[0].shape[0]:  # the other sequences keep their state
                stepped = tuple(torch.cat([a, s[running:]]) for a, s in zip(stepped, state, strict=True))
            state = stepped
        return outputs, state

    def _forward(self, x: torch.Tensor | PackedSequence, hx: State | None) -> tuple:
        """The whole stack: check, unroll every layer and direction, and give torch's shapes back."""
        who = f"{type(self).__name__}({self.input_size}, {self.hidden_size})"
        packed = isinstance(x, PackedSequence)
        if packed:
            data, batch_sizes, sorted_indices, unsorted_indices = x
            self._check_input(data, who, packed=True)
            steps = list(data.split(batch_sizes.tolist()))  # steps[t]: (sequences still running at t, input)
            unbatched = False
        else:
            self._check_input(x, who, packed=False)
            unbatched = x.ndim == 2  # batch_first does not apply to one sequence, as in torch
            x = x.unsqueeze(1) if unbatched else x.transpose(0, 1) if self.batch_first else x
            steps = list(x.unbind(0))  # steps[t]: (batch, input_size)
        state = self._initial_state(hx, steps[0], unbatched, who)  # each (L * D, batch, H)
        if packed and sorted_indices is not None:  # h0 is given in the caller's order, the batch is sorted
            state = tuple(s.index_select(1, sorted_indices) for s in state)
        finals = []  # the final state of every layer and direction, in h_n's order
        for layer in range(self.num_layers):
            if layer > 0 and self.training and self.dropout > 0:
                steps = [F.dropout(s, self.dropout, training=True) for s in steps]
            outputs = []
            for direction, suffix in enumerate(self._suffixes):
                start = tuple(s[layer * self._directions + direction] for s in state)
                out, final = self._unroll(steps, start, self._weights(layer, suffix), reverse=direction == 1)
                outputs.append(out)
                finals.append(final)
            steps = outputs[0] if len(outputs) == 1 else [torch.cat(pair, dim=1) for pair in zip(*outputs, strict=True)]
        last = tuple(torch.stack([final[k] for final in finals]) for k in range(self.states))  # (L * D, batch, H)
        if packed:
            if unsorted_indices is not None:
                last = tuple(s.index_select(1, unsorted_indices) for s in last)
            return PackedSequence(torch.cat(steps), batch_sizes, sorted_indices, unsorted_indices), last
        output = torch.stack(steps)  # (time, batch, D * H)
        if unbatched:
            return output[:, 0], tuple(s[:, 0] for s in last)
        return (output.transpose(0, 1) if self.batch_first else output), last

    def _check_input(self, x: torch.Tensor, who: str, packed: bool) -> None:
        n = self.input_size
        layout = f"(batch, time, {n}) (batch_first=True)" if self.batch_first else f"(time, batch, {n})"
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"{who} needs x: {layout}, a tensor or a PackedSequence, got {type(x).__name__}.")
        if packed and (x.ndim != 2 or x.shape[1] != n):
            raise ValueError(f"{who} needs a PackedSequence of {n} features per step, got data {tuple(x.shape)}.")
        if not packed and x.ndim not in (2, 3):
            raise ValueError(
                f"{who} needs x: {layout}, or one unbatched sequence (time, {n}), got a {x.ndim}-D x of shape "
                f"{tuple(x.shape)}; sequences of different lengths go in as a PackedSequence "
                "(torch.nn.utils.rnn.pack_padded_sequence)."
            )
        if x.shape[-1] != n:
            raise ValueError(
                f"{who} needs input_size={n} features in x's last dimension: {layout}, got shape "
                f"{tuple(x.shape)}."
            )
        time_axis = 1 if self.batch_first and x.ndim == 3 else 0
        if not packed and x.shape[time_axis] == 0:
            raise ValueError(f"{who} needs at least one time step, got x of shape {tuple(x.shape)}.")
        _check_dtype(x, "x", self.weight_ih_l0, who)

    def _initial_state(self, hx, first: torch.Tensor, unbatched: bool, who: str) -> State:
        """h0 (and c0) checked against x, as a tuple of (L * D, batch, H); zeros when hx is None."""
        layers, batch = self.num_layers * self._directions, first.shape[0]
        shape = (layers, batch, self.hidden_size)
        if hx is None:
            return tuple(first.new_zeros(shape) for _ in range(self.states))
        names = ("h0",) if self.states == 1 else ("h0", "c0")
        state = (hx,) if self.states == 1 else tuple(hx) if isinstance(hx, tuple | list) else ()
        if len(state) != self.states or not all(isinstance(s, torch.Tensor) for s in state):
            wanted = "a tensor h0" if self.states == 1 else "a pair (h0, c0) of tensors"
            raise ValueError(f"{who} needs hx as {wanted}, or None for zeros.")
        expected = (layers, self.hidden_size) if unbatched else shape
        axes = "(num_layers * directions, hidden_size)" if unbatched else "(num_layers * directions, batch, hidden)"
        for name, s in zip(names, state, strict=True):
            if tuple(s.shape) != expected:
                raise ValueError(
                    f"{who} needs {name}: {expected} {axes} for this x, got shape {tuple(s.shape)}; "
                    "pass None to start from zeros."
                )
            _check_dtype(s, name, self.weight_ih_l0, who)
        return tuple(s.unsqueeze(1) for s in state) if unbatched else state

    def extra_repr(self) -> str:
        """torch's repr: the sizes, then only the arguments that differ from their defaults."""
        s = f"{self.input_size}, {self.hidden_size}"
        defaults = {"num_layers": 1, "bias": True, "batch_first": False, "dropout": 0, "bidirectional": False}
        return s + "".join(f", {k}={getattr(self, k)}" for k, v in defaults.items() if getattr(self, k) != v)


class RNN(_Recurrent):
    """Elman RNN, ``h_t = tanh(x_t W_ih^T + b_ih + h_(t-1) W_hh^T + b_hh)`` (or relu), stacked and unrolled.

    x: ``(time, batch, input_size)`` (``(batch, time, input_size)`` with ``batch_first=True``, unbatched
    ``(time, input_size)``, or a PackedSequence) -> output ``(time, batch, D * hidden_size)``,
    h_n ``(num_layers * D, batch, hidden_size)``, D = 2 if bidirectional else 1. Arguments, parameter
    names and shapes as ``torch.nn.RNN`` (``nonlinearity`` is the fourth argument there too).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
    ):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}.")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional)
        self.nonlinearity = nonlinearity

    def forward(
        self, x: torch.Tensor | PackedSequence, hx: torch.Tensor | None = None
    ) -> tuple[torch.Tensor | PackedSequence, torch.Tensor]:
        """x: ``(time, batch, input_size)``, hx: ``(num_layers * D, batch, hidden_size)`` or None for zeros
        -> (output ``(time, batch, D * hidden_size)``, h_n ``(num_layers * D, batch, hidden_size)``)."""
        output, (h_n,) = self._forward(x, hx)
        return output, h_n

    def _step(self, x: torch.Tensor, state: State, weights: tuple) -> State:
        return (RNNCell.step(x, state[0], *weights, nonlinearity=self.nonlinearity),)


class LSTM(_Recurrent):
    """Long short-term memory, stacked and unrolled: ``LSTMCell.step`` at every layer and time step.

    x: ``(time, batch, input_size)`` (``(batch, time, input_size)`` with ``batch_first=True``, unbatched
    ``(time, input_size)``, or a PackedSequence) -> output ``(time, batch, D * hidden_size)`` and
    (h_n, c_n), each ``(num_layers * D, batch, hidden_size)``, D = 2 if bidirectional else 1. Arguments,
    parameter names and shapes as ``torch.nn.LSTM``: ``weight_ih_l0: (4 * hidden_size, input_size)`` with
    the gates i, f, g, o stacked in this order. (torch's ``proj_size`` is not supported.)
    """

    gates, states = 4, 2

    def forward(
        self, x: torch.Tensor | PackedSequence, hx: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor | PackedSequence, tuple[torch.Tensor, torch.Tensor]]:
        """x: ``(time, batch, input_size)``, hx: (h0, c0) each ``(num_layers * D, batch, hidden_size)`` or None
        -> (output ``(time, batch, D * hidden_size)``, (h_n, c_n) each ``(num_layers * D, batch, hidden_size)``)."""
        output, (h_n, c_n) = self._forward(x, hx)
        return output, (h_n, c_n)

    def _step(self, x: torch.Tensor, state: State, weights: tuple) -> State:
        return LSTMCell.step(x, state, *weights)


class GRU(_Recurrent):
    """Gated recurrent unit, stacked and unrolled: ``GRUCell.step`` at every layer and time step.

    x: ``(time, batch, input_size)`` (``(batch, time, input_size)`` with ``batch_first=True``, unbatched
    ``(time, input_size)``, or a PackedSequence) -> output ``(time, batch, D * hidden_size)``,
    h_n ``(num_layers * D, batch, hidden_size)``, D = 2 if bidirectional else 1. Arguments, parameter
    names and shapes as ``torch.nn.GRU``: ``weight_ih_l0: (3 * hidden_size, input_size)`` with the gates
    r, z, n stacked in this order.
    """

    gates = 3

    def forward(
        self, x: torch.Tensor | PackedSequence, hx: torch.Tensor | None = None
    ) -> tuple[torch.Tensor | PackedSequence, torch.Tensor]:
        """x: ``(time, batch, input_size)``, hx: ``(num_layers * D, batch, hidden_size)`` or None for zeros
        -> (output ``(time, batch, D * hidden_size)``, h_n ``(num_layers * D, batch, hidden_size)``)."""
        output, (h_n,) = self._forward(x, hx)
        return output, h_n

    def _step(self, x: torch.Tensor, state: State, weights: tuple) -> State:
        return (GRUCell.step(x, state[0], *weights),)
