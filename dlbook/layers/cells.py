"""Recurrent cells from their equations: one time step of an Elman RNN, an LSTM and a GRU.

Each cell keeps torch.nn's parameter names, shapes and initialization, so a state_dict moves between a cell
and its torch.nn twin in both directions: ``weight_ih: (gates * hidden_size, input_size)``,
``weight_hh: (gates * hidden_size, hidden_size)``, ``bias_ih`` and ``bias_hh: (gates * hidden_size,)``, with
the gates stacked in torch's order (i, f, g, o for the LSTM, r, z, n for the GRU), all drawn uniformly from
``(-1/sqrt(hidden_size), 1/sqrt(hidden_size))``. The equations live in each cell's ``step``, a plain function
of the parameters that the multi-layer ``dlbook.layers.RNN``, ``LSTM`` and ``GRU`` call at every time step.
"""

import math

import torch
from torch import nn


def _affine(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """x: (batch, in), weight: (out, in), bias: (out,) or None -> x W^T + b: (batch, out)."""
    out = x @ weight.T
    return out if bias is None else out + bias


def _autocast_enabled(device_type: str) -> bool:
    """Whether autocast is on for this device type (then, as in torch, a dtype mix is allowed)."""
    try:
        return torch.is_autocast_enabled(device_type)
    except TypeError:  # torch < 2.4 takes no argument and answers for CUDA
        return torch.is_autocast_enabled()


def _check_dtype(tensor: torch.Tensor, name: str, weight: torch.Tensor, who: str) -> None:
    """A clear error when ``tensor`` is not floating point or its dtype differs from the parameters'."""
    if not tensor.is_floating_point():
        raise ValueError(
            f"{who} needs a floating-point {name}, got {tensor.dtype}: convert it with {name}.float() "
            "(token ids go through an nn.Embedding first)."
        )
    if tensor.dtype != weight.dtype and not _autocast_enabled(tensor.device.type):
        raise ValueError(
            f"{who} got {name} of dtype {tensor.dtype} but its parameters are {weight.dtype}: convert the "
            f"input with {name}.to({weight.dtype}) or the model with model.to({tensor.dtype})."
        )


def _positive_int(value, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}.")
    return value


class _Cell(nn.Module):
    """What the three cells share: torch's parameters and initialization, and the checks around one step."""

    gates = 1  # how many hidden-sized blocks weight_ih stacks
    states = 1  # 1: the state is h; 2: the state is (h, c)

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True):
        super().__init__()
        self.input_size = _positive_int(input_size, "input_size")
        self.hidden_size = _positive_int(hidden_size, "hidden_size")
        if not isinstance(bias, bool):
            raise ValueError(f"bias must be True or False, got {bias!r}.")
        self.bias = bias
        rows = self.gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(rows, input_size))
        self.weight_hh = nn.Parameter(torch.empty(rows, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(rows)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(rows)) if bias else None
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """torch's default: every parameter uniform in +-1/sqrt(hidden_size), drawn in registration order."""
        bound = 1 / math.sqrt(self.hidden_size)
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -bound, bound)

    def _forward(self, x: torch.Tensor, hx):
        """Check x and the state, add the batch axis to unbatched input, call ``step``, remove it again."""
        who = f"{type(self).__name__}({self.input_size}, {self.hidden_size})"
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(
                f"{who} needs x: (batch, {self.input_size}) or unbatched ({self.input_size},), got shape "
                f"{tuple(x.shape)}: one time step at a time, features last (a whole sequence goes to "
                f"{type(self).__name__[:-4]})."
            )
        _check_dtype(x, "x", self.weight_ih, who)
        unbatched = x.ndim == 1
        expected = (self.hidden_size,) if unbatched else (x.shape[0], self.hidden_size)
        if hx is None:
            state = tuple(x.new_zeros(expected) for _ in range(self.states))
        else:
            state = (hx,) if self.states == 1 else tuple(hx) if isinstance(hx, tuple | list) else ()
            names = ("hx",) if self.states == 1 else ("h", "c")
            if len(state) != self.states or not all(isinstance(s, torch.Tensor) for s in state):
                wanted = "a tensor" if self.states == 1 else "a pair (h, c) of tensors"
                raise ValueError(f"{who} needs hx as {wanted}, or None for zeros.")
            for name, s in zip(names, state, strict=True):
                if tuple(s.shape) != expected:
                    raise ValueError(
                        f"{who} needs {name}: {expected} for x of shape {tuple(x.shape)}, got shape "
                        f"{tuple(s.shape)}; pass None to start from zeros."
                    )
                _check_dtype(s, name, self.weight_ih, who)
        if unbatched:
            x, state = x[None], tuple(s[None] for s in state)
        out = self._step(x, state)
        if unbatched:
            out = tuple(s[0] for s in out)
        return out[0] if self.states == 1 else out

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(_Cell):
    """One step of an Elman RNN: ``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (or relu).

    x: (batch, input_size), h: (batch, hidden_size) -> h': (batch, hidden_size); unbatched ``(input_size,)``
    and ``(hidden_size,)`` work too. Parameters as ``torch.nn.RNNCell``: ``weight_ih: (hidden, input)``,
    ``weight_hh: (hidden, hidden)``, ``bias_ih``, ``bias_hh: (hidden,)``.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh"):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}.")
        super().__init__(input_size, hidden_size, bias)
        self.nonlinearity = nonlinearity

    def forward(self, x: torch.Tensor, hx: torch.Tensor | None = None) -> torch.Tensor:
        """x: (batch, input_size), hx: (batch, hidden_size) or None for zeros -> h': (batch, hidden_size)."""
        return self._forward(x, hx)

    def _step(self, x, state):
        h = self.step(x, state[0], self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, self.nonlinearity)
        return (h,)

    @staticmethod
    def step(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh") -> torch.Tensor:
        """The equation: x: (batch, input), h: (batch, hidden) -> h': (batch, hidden)."""
        pre = _affine(x, weight_ih, bias_ih) + _affine(h, weight_hh, bias_hh)
        return torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)

    def extra_repr(self) -> str:
        return super().extra_repr() + ("" if self.nonlinearity == "tanh" else f", nonlinearity={self.nonlinearity}")


class LSTMCell(_Cell):
    """One step of a long short-term memory cell: four gates decide what the cell state c forgets and stores.

    x: (batch, input_size), (h, c): each (batch, hidden_size) -> (h', c'); unbatched input works too.
    With the gates i, f, g, o stacked in this order in ``weight_ih: (4 * hidden, input)`` (as torch)::

        i = sigmoid(x W_ii^T + b_ii + h W_hi^T + b_hi)    the input gate
        f = sigmoid(x W_if^T + b_if + h W_hf^T + b_hf)    the forget gate
        g = tanh(x W_ig^T + b_ig + h W_hg^T + b_hg)       the candidate
        o = sigmoid(x W_io^T + b_io + h W_ho^T + b_ho)    the output gate
        c' = f * c + i * g
        h' = o * tanh(c')
    """

    gates, states = 4, 2

    def forward(
        self, x: torch.Tensor, hx: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (batch, input_size), hx: (h, c) each (batch, hidden_size), or None for zeros -> (h', c')."""
        return self._forward(x, hx)

    def _step(self, x, state):
        return self.step(x, state, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)

    @staticmethod
    def step(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None) -> tuple[torch.Tensor, torch.Tensor]:
        """The equations: x: (batch, input), state (h, c): each (batch, hidden) -> (h', c')."""
        h, c = state
        gates = _affine(x, weight_ih, bias_ih) + _affine(h, weight_hh, bias_hh)  # (batch, 4 * hidden)
        i, f, g, o = gates.chunk(4, dim=1)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c = f * c + i * g  # forget some of the old memory, write some of the new candidate
        h = o * torch.tanh(c)  # show part of the memory
        return h, c


class GRUCell(_Cell):
    """One step of a gated recurrent unit: a reset gate r and an update gate z, no separate cell state.

    x: (batch, input_size), h: (batch, hidden_size) -> h': (batch, hidden_size); unbatched input works too.
    With the gates r, z, n stacked in this order in ``weight_ih: (3 * hidden, input)`` (as torch)::

        r = sigmoid(x W_ir^T + b_ir + h W_hr^T + b_hr)
        z = sigmoid(x W_iz^T + b_iz + h W_hz^T + b_hz)
        n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn))
        h' = (1 - z) * n + z * h
    """

    gates = 3

    def forward(self, x: torch.Tensor, hx: torch.Tensor | None = None) -> torch.Tensor:
        """x: (batch, input_size), hx: (batch, hidden_size) or None for zeros -> h': (batch, hidden_size)."""
        return self._forward(x, hx)

    def _step(self, x, state):
        return (self.step(x, state[0], self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh),)

    @staticmethod
    def step(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None) -> torch.Tensor:
        """The equations: x: (batch, input), h: (batch, hidden) -> h': (batch, hidden)."""
        x_r, x_z, x_n = _affine(x, weight_ih, bias_ih).chunk(3, dim=1)
        h_r, h_z, h_n = _affine(h, weight_hh, bias_hh).chunk(3, dim=1)
        r = torch.sigmoid(x_r + h_r)  # how much of the old state the candidate sees
        z = torch.sigmoid(x_z + h_z)  # how much of the old state to keep
        n = torch.tanh(x_n + r * h_n)  # the candidate
        return (1 - z) * n + z * h
