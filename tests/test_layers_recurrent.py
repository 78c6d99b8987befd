"""dlbook.layers RNN, LSTM, GRU and their cells against their torch.nn twins: outputs, final states and
gradients (float32 and float64), initialization, state_dicts both ways, unbatched and packed input, dropout,
and bad input."""

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from dlbook.layers import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell

TOL = {torch.float32: {"rtol": 1e-5, "atol": 1e-5}, torch.float64: {"rtol": 1e-10, "atol": 1e-10}}
KINDS = {  # name: (ours, torch's, extra constructor arguments)
    "rnn_tanh": (RNN, nn.RNN, {}),
    "rnn_relu": (RNN, nn.RNN, {"nonlinearity": "relu"}),
    "lstm": (LSTM, nn.LSTM, {}),
    "gru": (GRU, nn.GRU, {}),
}
CELLS = {
    "rnn_tanh": (RNNCell, nn.RNNCell, {}),
    "rnn_relu": (RNNCell, nn.RNNCell, {"nonlinearity": "relu"}),
    "lstm": (LSTMCell, nn.LSTMCell, {}),
    "gru": (GRUCell, nn.GRUCell, {}),
}
INPUT, HIDDEN = 3, 4


def twins(table, kind, seed=0, dtype=torch.float32, **kwargs):
    """dlbook's module and torch's, each built right after seeding the global generator with ``seed``."""
    ours_class, theirs_class, extra = table[kind]
    torch.manual_seed(seed)
    ours = ours_class(INPUT, HIDDEN, **extra, **kwargs).to(dtype)
    torch.manual_seed(seed)
    return ours, theirs_class(INPUT, HIDDEN, **extra, **kwargs).to(dtype)


def random_state(kind, shape, dtype, seed=1):
    """h0 (RNN, GRU) or (h0, c0) (LSTM) of ``shape``, requiring grad."""
    g = torch.Generator().manual_seed(seed)
    states = [torch.randn(shape, generator=g, dtype=dtype).requires_grad_() for _ in range(2)]
    return tuple(states) if kind == "lstm" else states[0]


def flat(result):
    """The tensors of a forward result, in order: (output, h), (output, (h, c)), a cell's h or (h, c);
    a packed output counts as its data."""
    if isinstance(result, PackedSequence):
        return [result.data]
    if isinstance(result, torch.Tensor):
        return [result]
    return [tensor for item in result for tensor in flat(item)]


def run(module, x, hx, leaves):
    """The tensors module(x, hx) returns, and the gradients of a fixed random weighting of their sum with
    respect to ``leaves`` (the input, the initial state and every parameter)."""
    outs = flat(module(x, hx))
    g = torch.Generator().manual_seed(2)
    loss = sum((out * torch.randn(out.shape, generator=g, dtype=out.dtype)).sum() for out in outs)
    return outs, torch.autograd.grad(loss, leaves, retain_graph=True)  # a packed x is shared by both twins


def assert_twins_agree(ours, theirs, x, hx, dtype, x_leaf=None):
    """Same outputs and final states, same gradients for the input, the initial state and every parameter."""
    states = [] if hx is None else list(hx) if isinstance(hx, tuple) else [hx]
    x_leaf = x if x_leaf is None else x_leaf
    ours_out, ours_grads = run(ours, x, hx, [x_leaf, *states, *ours.parameters()])
    theirs_out, theirs_grads = run(theirs, x, hx, [x_leaf, *states, *theirs.parameters()])
    assert len(ours_out) == len(theirs_out)
    for a, b in zip(ours_out, theirs_out, strict=True):
        assert a.shape == b.shape and a.dtype == b.dtype
        torch.testing.assert_close(a, b, **TOL[dtype])
    for a, b in zip(ours_grads, theirs_grads, strict=True):
        torch.testing.assert_close(a, b, **TOL[dtype])


# The cells


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind", list(CELLS))
def test_cells_match_torch(kind, bias, dtype):
    """Batched and unbatched, from zeros and from a given state: h (and c) and every gradient."""
    ours, theirs = twins(CELLS, kind, dtype=dtype, bias=bias)
    for shape in [(5, INPUT), (INPUT,)]:
        x = torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(3)).requires_grad_()
        for hx in (None, random_state(kind, (*shape[:-1], HIDDEN), dtype)):
            assert_twins_agree(ours, theirs, x, hx, dtype)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind", list(CELLS))
def test_cells_have_torch_parameters_and_initialization(kind, bias):
    ours, theirs = twins(CELLS, kind, bias=bias)
    assert [(n, p.shape) for n, p in ours.named_parameters()] == [(n, p.shape) for n, p in theirs.named_parameters()]
    for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
        assert torch.equal(a, b)  # the same draws from the same generator state
    assert all(p.abs().max() <= HIDDEN**-0.5 for p in ours.parameters())
    assert repr(ours) == repr(theirs)
    theirs.load_state_dict(twins(CELLS, kind, seed=5, bias=bias)[0].state_dict())  # ours -> torch
    ours.load_state_dict(theirs.state_dict())  # torch -> ours
    assert all(torch.equal(a, b) for a, b in zip(ours.parameters(), theirs.parameters(), strict=True))


def test_lstm_cell_is_the_gate_equations():
    """By hand, with the gates in torch's order i, f, g, o: c' = f c + i g, h' = o tanh(c')."""
    cell = LSTMCell(INPUT, HIDDEN)
    x, h, c = torch.randn(2, INPUT), torch.randn(2, HIDDEN), torch.randn(2, HIDDEN)
    w_ii, w_if, w_ig, w_io = cell.weight_ih.chunk(4)
    w_hi, w_hf, w_hg, w_ho = cell.weight_hh.chunk(4)
    b = (cell.bias_ih + cell.bias_hh).chunk(4)
    i = torch.sigmoid(x @ w_ii.T + h @ w_hi.T + b[0])
    f = torch.sigmoid(x @ w_if.T + h @ w_hf.T + b[1])
    g = torch.tanh(x @ w_ig.T + h @ w_hg.T + b[2])
    o = torch.sigmoid(x @ w_io.T + h @ w_ho.T + b[3])
    h_next, c_next = cell(x, (h, c))
    torch.testing.assert_close(c_next, f * c + i * g)
    torch.testing.assert_close(h_next, o * torch.tanh(f * c + i * g))


# The layers


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("kind", list(KINDS))
def test_layers_match_torch(kind, num_layers, bias, batch_first, bidirectional, dtype):
    """Output, h_n (and c_n) and every gradient, from zeros and from a given (h0, c0)."""
    options = dict(num_layers=num_layers, bias=bias, batch_first=batch_first, bidirectional=bidirectional)
    ours, theirs = twins(KINDS, kind, dtype=dtype, **options)
    time, batch = 4, 3
    shape = (batch, time, INPUT) if batch_first else (time, batch, INPUT)
    x = torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(3)).requires_grad_()
    directions = 2 if bidirectional else 1
    for hx in (None, random_state(kind, (num_layers * directions, batch, HIDDEN), dtype)):
        assert_twins_agree(ours, theirs, x, hx, dtype)
    output = ours(x)[0]
    assert output.shape == (*shape[:2], directions * HIDDEN)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("kind", list(KINDS))
def test_unbatched_sequence_matches_torch(kind, bidirectional):
    """x: (time, input_size) and h0: (layers * directions, hidden): batch_first does not apply, as in torch."""
    ours, theirs = twins(KINDS, kind, num_layers=2, bidirectional=bidirectional, batch_first=True)
    x = torch.randn(5, INPUT).requires_grad_()
    directions = 2 if bidirectional else 1
    for hx in (None, random_state(kind, (2 * directions, HIDDEN), torch.float32)):
        assert_twins_agree(ours, theirs, x, hx, torch.float32)
    output, state = ours(x)
    assert output.shape == (5, directions * HIDDEN)
    assert flat(state)[0].shape == (2 * directions, HIDDEN)


@pytest.mark.parametrize("enforce_sorted", [True, False])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("kind", list(KINDS))
def test_packed_sequences_match_torch(kind, bidirectional, enforce_sorted):
    """A packed batch of different lengths: the packed output, h_n at each sequence's own last step, and
    the gradients (with h0 given in the caller's order when the batch is not sorted)."""
    ours, theirs = twins(KINDS, kind, num_layers=2, bidirectional=bidirectional, batch_first=True)
    lengths = torch.tensor([5, 5, 3, 2, 1]) if enforce_sorted else torch.tensor([3, 5, 1, 5, 2])
    padded = torch.randn(5, 5, INPUT, generator=torch.Generator().manual_seed(3)).requires_grad_()
    directions = 2 if bidirectional else 1
    for hx in (None, random_state(kind, (2 * directions, 5, HIDDEN), torch.float32)):
        packed = pack_padded_sequence(padded, lengths, batch_first=True, enforce_sorted=enforce_sorted)
        assert_twins_agree(ours, theirs, packed, hx, torch.float32, x_leaf=padded)
        output, state = ours(packed, hx)
        reference = theirs(packed, hx)[0]
        for name in ("batch_sizes", "sorted_indices", "unsorted_indices"):
            a, b = getattr(output, name), getattr(reference, name)
            assert (a is None and b is None) or torch.equal(a, b), name
        # independently of torch: each sequence alone, unpadded, gives the same final state and outputs
        unpacked, _ = pad_packed_sequence(output, batch_first=True)
        for i, n in enumerate(lengths.tolist()):
            alone_hx = None if hx is None else tuple(s[:, i] for s in hx) if kind == "lstm" else hx[:, i]
            alone_out, alone_state = ours(padded[i, :n], alone_hx)
            torch.testing.assert_close(unpacked[i, :n], alone_out, rtol=1e-5, atol=1e-6)
            for a, b in zip(flat(state), flat(alone_state), strict=True):
                torch.testing.assert_close(a[:, i], b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", list(KINDS))
def test_layers_have_torch_parameters_and_state_dicts_load_both_ways(kind):
    options = dict(num_layers=2, bidirectional=True)
    ours, theirs = twins(KINDS, kind, **options)
    assert [(n, p.shape) for n, p in ours.named_parameters()] == [(n, p.shape) for n, p in theirs.named_parameters()]
    assert "weight_hh_l1_reverse" in dict(ours.named_parameters())
    for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
        assert torch.equal(a, b)  # torch's initialization, draw for draw
    assert repr(ours) == repr(theirs)
    trained = twins(KINDS, kind, seed=7, **options)[1]
    ours.load_state_dict(trained.state_dict())  # torch -> ours (strict: same names and shapes)
    back = twins(KINDS, kind, seed=8, **options)[1]
    back.load_state_dict(ours.state_dict())  # ours -> torch
    x = torch.randn(4, 2, INPUT)
    for a, b in zip(flat(ours(x)), flat(back(x)), strict=True):
        torch.testing.assert_close(a, b, **TOL[torch.float32])
    for a, b in zip(flat(ours(x)), flat(trained(x)), strict=True):
        torch.testing.assert_close(a, b, **TOL[torch.float32])


def test_one_layer_is_the_cell_unrolled():
    """What the chapter shows: LSTM(num_layers=1) is LSTMCell called once per time step."""
    layer, cell = LSTM(INPUT, HIDDEN), LSTMCell(INPUT, HIDDEN)
    cell.load_state_dict({name[:-3]: p for name, p in layer.state_dict().items()})  # weight_ih_l0 -> weight_ih
    x = torch.randn(6, 2, INPUT)
    h, c = torch.zeros(2, HIDDEN), torch.zeros(2, HIDDEN)
    outputs = []
    for x_t in x:
        h, c = cell(x_t, (h, c))
        outputs.append(h)
    output, (h_n, c_n) = layer(x)
    torch.testing.assert_close(output, torch.stack(outputs))
    torch.testing.assert_close((h_n[0], c_n[0]), (h, c))


def test_built_from_primitives_not_torch_recurrent_kernels(monkeypatch):
    """With torch's fused recurrent kernels made to fail, every layer and cell still runs."""

    def refuse(*args, **kwargs):
        raise AssertionError("a torch recurrent kernel was called")

    for name in ("rnn_tanh", "rnn_relu", "lstm", "gru", "rnn_tanh_cell", "rnn_relu_cell", "lstm_cell", "gru_cell"):
        monkeypatch.setattr(torch._VF, name, refuse)
        monkeypatch.setattr(torch, name, refuse)
    with pytest.raises(AssertionError, match="kernel was called"):
        nn.LSTM(INPUT, HIDDEN)(torch.randn(2, 1, INPUT))  # the patch does take effect
    for kind in KINDS:
        ours = twins(KINDS, kind, bidirectional=True)[0]
        ours(torch.randn(3, 2, INPUT))
        twins(CELLS, kind)[0](torch.randn(2, INPUT))


# Dropout between layers


@pytest.mark.parametrize("kind", list(KINDS))
def test_dropout_only_between_layers_in_training(kind):
    ours, theirs = twins(KINDS, kind, num_layers=3, dropout=0.5)
    x = torch.randn(5, 2, INPUT)
    ours.eval(), theirs.eval()
    for a, b in zip(flat(ours(x)), flat(theirs(x)), strict=True):
        torch.testing.assert_close(a, b, **TOL[torch.float32])  # eval: no dropout, torch's output
    evaluated = ours(x)[0]
    ours.train()
    torch.manual_seed(0)
    first = ours(x)[0]
    assert not torch.allclose(first, evaluated)
    assert not torch.allclose(ours(x)[0], first)  # a fresh mask every call
    torch.manual_seed(0)
    torch.testing.assert_close(ours(x)[0], first, rtol=0, atol=0)  # seeded: reproducible
    ours.dropout = 0.0
    torch.testing.assert_close(ours(x)[0], evaluated, rtol=0, atol=0)


@pytest.mark.parametrize("kind", list(KINDS))
def test_dropout_of_one_cuts_the_layers_apart_like_torch(kind):
    """p = 1 zeroes every value between layers (no randomness left): the top layer then sees only zeros,
    in both implementations; the first layer's final state is untouched."""
    ours, theirs = twins(KINDS, kind, num_layers=2, dropout=1.0)
    ours.train(), theirs.train()
    x = torch.randn(4, 2, INPUT)
    ours_out, theirs_out = flat(ours(x)), flat(theirs(x))
    for a, b in zip(ours_out, theirs_out, strict=True):
        torch.testing.assert_close(a, b, **TOL[torch.float32])
    ours.eval()
    assert not torch.allclose(ours(x)[0], ours_out[0])


def test_dropout_arguments_like_torch():
    with pytest.warns(UserWarning, match="num_layers=1"):
        LSTM(INPUT, HIDDEN, dropout=0.2)
    for bad in (-0.1, 1.5, True, "0.5"):
        with pytest.raises(ValueError, match=r"dropout must be a probability in \[0, 1\]"):
            GRU(INPUT, HIDDEN, num_layers=2, dropout=bad)


# Other dtypes


def test_autocast_allows_a_dtype_mix_as_torch_does():
    layer = LSTM(INPUT, HIDDEN, num_layers=2)
    x = torch.randn(4, 2, INPUT)
    reference = layer(x)[0]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output = layer(x.bfloat16())[0]
    torch.testing.assert_close(output.float(), reference, rtol=0, atol=0.05)


# Bad input


def test_layer_errors_say_what_is_wrong():
    layer = LSTM(3, 4, num_layers=2)
    with pytest.raises(ValueError, match=r"LSTM\(3, 4\) needs x: \(time, batch, 3\).*got a 4-D x.*PackedSequence"):
        layer(torch.randn(2, 5, 1, 3))
    with pytest.raises(ValueError, match=r"got a 1-D x of shape \(3,\)"):
        layer(torch.randn(3))
    with pytest.raises(ValueError, match=r"input_size=3 features in x's last dimension.*got shape \(5, 2, 4\)"):
        layer(torch.randn(5, 2, 4))
    with pytest.raises(ValueError, match=r"\(batch, time, 3\) \(batch_first=True\)"):
        GRU(3, 4, batch_first=True)(torch.randn(2, 5, 7))
    with pytest.raises(ValueError, match="at least one time step"):
        layer(torch.randn(0, 2, 3))
    with pytest.raises(ValueError, match=r"needs h0: \(2, 2, 4\).*got shape \(1, 2, 4\); pass None"):
        layer(torch.randn(5, 2, 3), (torch.zeros(1, 2, 4), torch.zeros(2, 2, 4)))
    with pytest.raises(ValueError, match=r"needs c0: \(2, 2, 4\).*got shape \(2, 4\)"):
        layer(torch.randn(5, 2, 3), (torch.zeros(2, 2, 4), torch.zeros(2, 4)))
    with pytest.raises(ValueError, match=r"needs h0: \(2, 4\) \(num_layers \* directions, hidden_size\)"):
        layer(torch.randn(5, 3), (torch.zeros(2, 1, 4), torch.zeros(2, 1, 4)))  # unbatched x, batched h0
    with pytest.raises(ValueError, match=r"pair \(h0, c0\)"):
        layer(torch.randn(5, 2, 3), torch.zeros(2, 2, 4))
    with pytest.raises(ValueError, match="hx as a tensor h0"):
        RNN(3, 4)(torch.randn(5, 2, 3), (torch.zeros(1, 2, 4), torch.zeros(1, 2, 4)))
    with pytest.raises(ValueError, match=r"needs h0: \(1, 2, 4\)"):
        RNN(3, 4)(torch.randn(5, 2, 3), torch.zeros(1, 3, 4))  # one initial state per sequence
    with pytest.raises(ValueError, match=r"x of dtype torch.float64 but its parameters are torch.float32.*x.to"):
        layer(torch.randn(5, 2, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"h0 of dtype torch.float64.*model.to\(torch.float64\)"):
        RNN(3, 4)(torch.randn(5, 2, 3), torch.zeros(1, 2, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"floating-point x, got torch.int64.*Embedding"):
        layer(torch.randint(0, 5, (5, 2, 3)))
    with pytest.raises(ValueError, match="PackedSequence of 3 features"):
        layer(pack_padded_sequence(torch.randn(5, 2, 4), torch.tensor([5, 3])))


def test_cell_errors_say_what_is_wrong():
    cell = LSTMCell(3, 4)
    with pytest.raises(ValueError, match=r"LSTMCell\(3, 4\) needs x: \(batch, 3\).*got shape \(5, 2, 3\).*to LSTM"):
        cell(torch.randn(5, 2, 3))
    with pytest.raises(ValueError, match=r"got shape \(2, 5\)"):
        cell(torch.randn(2, 5))
    with pytest.raises(ValueError, match=r"needs c: \(2, 4\).*got shape \(4,\)"):
        cell(torch.randn(2, 3), (torch.zeros(2, 4), torch.zeros(4)))
    with pytest.raises(ValueError, match=r"pair \(h, c\)"):
        cell(torch.randn(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="hx as a tensor"):
        GRUCell(3, 4)(torch.randn(2, 3), (torch.zeros(2, 4),))
    with pytest.raises(ValueError, match=r"needs hx: \(4,\)"):
        GRUCell(3, 4)(torch.randn(3), torch.zeros(1, 4))
    with pytest.raises(ValueError, match="dtype torch.float64"):
        RNNCell(3, 4)(torch.randn(2, 3, dtype=torch.float64))


def test_constructor_errors():
    for make in (RNNCell, LSTMCell, GRUCell, RNN, LSTM, GRU):
        with pytest.raises(ValueError, match="hidden_size must be a positive int"):
            make(3, 0)
        with pytest.raises(ValueError, match="input_size must be a positive int"):
            make(2.5, 4)
    with pytest.raises(ValueError, match="num_layers must be a positive int"):
        LSTM(3, 4, num_layers=0)
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu'"):
        RNN(3, 4, 1, "sigmoid")
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu'"):
        RNNCell(3, 4, nonlinearity="gelu")
    with pytest.raises(ValueError, match="batch_first must be True or False"):
        GRU(3, 4, batch_first=1)
