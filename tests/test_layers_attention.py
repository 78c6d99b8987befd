"""dlbook.layers attention against torch: scaled_dot_product_attention against the functional (dtypes, masks,
batch and head shapes, broadcasting, fully masked rows, gradients), MultiHeadAttention against
torch.nn.MultiheadAttention (state_dicts both ways, self- and cross-attention, padding and causal masks), the
fused path against the from-scratch one, the KV cache against a full pass, positional encodings (rotary's
relative-position property), TransformerBlock against torch.nn.TransformerEncoderLayer/DecoderLayer, and errors."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlbook.layers import (
    KVCache,
    LearnedPositions,
    MultiHeadAttention,
    RotaryEmbedding,
    TransformerBlock,
    apply_rotary,
    attention_weights,
    causal_mask,
    scaled_dot_product_attention,
    sinusoidal_positions,
)

TOL = {
    torch.float32: {"rtol": 1e-5, "atol": 1e-5},
    torch.float64: {"rtol": 1e-10, "atol": 1e-10},
    torch.bfloat16: {"rtol": 2e-2, "atol": 2e-2},
    torch.float16: {"rtol": 2e-3, "atol": 2e-3},
}


def randn(*shape, dtype=torch.float32, seed=0, grad=False):
    t = torch.randn(shape, generator=torch.Generator().manual_seed(seed)).to(dtype)
    return t.requires_grad_() if grad else t


def outputs_and_grads(fn, inputs):
    """fn(*inputs) and the gradients of a fixed random weighting of it with respect to the inputs."""
    out = fn(*inputs)
    weights = randn(*out.shape, seed=99).to(out.dtype)
    return out, torch.autograd.grad((out * weights).sum(), inputs)


# scaled_dot_product_attention

SHAPES = {  # name: (q, k, v) shapes
    "unbatched": ((4, 8), (5, 8), (5, 6)),
    "batch_heads": ((2, 3, 4, 8), (2, 3, 5, 8), (2, 3, 5, 6)),
    "one_query": ((2, 3, 1, 8), (2, 3, 7, 8), (2, 3, 7, 8)),
    "broadcast_kv": ((2, 3, 4, 8), (1, 3, 5, 8), (3, 5, 6)),
    "more_queries": ((2, 6, 8), (2, 3, 8), (2, 3, 4)),
}


def mask_for(kind, q_shape, k_shape, dtype):
    """(attn_mask, is_causal) of one kind for scores (..., L, S); a seeded draw, no row fully masked."""
    L, S = q_shape[-2], k_shape[-2]
    batch = torch.broadcast_shapes(q_shape[:-2], k_shape[:-2])
    g = torch.Generator().manual_seed(5)
    if kind == "none":
        return None, False
    if kind == "causal":
        return None, True
    if kind == "bool":
        mask = torch.rand((L, S), generator=g) > 0.3
        mask[:, 0] = True
        return mask, False
    if kind == "padding":  # (batch..., 1, S): the last key of the first example is padding
        mask = torch.ones((*batch[:1], *[1] * (len(batch) - 1), 1, S), dtype=torch.bool)
        if batch:
            mask[0, ..., -1] = False
        return mask, False
    if kind == "float":
        return torch.randn((*batch, L, S), generator=g).to(dtype), False
    raise AssertionError(kind)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("mask", ["none", "bool", "padding", "float", "causal"])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_attention_matches_torch(shape, mask, dtype):
    """Output, dtype and the gradients for q, k and v (gradients in float32 and float64)."""
    q_shape, k_shape, v_shape = SHAPES[shape]
    grad = dtype in (torch.float32, torch.float64)
    q, k, v = (randn(*s, dtype=dtype, seed=i, grad=grad) for i, s in enumerate(SHAPES[shape]))
    attn_mask, is_causal = mask_for(mask, q_shape, k_shape, dtype)
    kwargs = dict(attn_mask=attn_mask, is_causal=is_causal)
    ours = scaled_dot_product_attention(q, k, v, **kwargs)
    theirs = F.scaled_dot_product_attention(q, k, v, **kwargs)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype == dtype
    torch.testing.assert_close(ours, theirs, **TOL[dtype])
    if grad:
        _, ours_grads = outputs_and_grads(lambda *t: scaled_dot_product_attention(*t, **kwargs), (q, k, v))
        _, theirs_grads = outputs_and_grads(lambda *t: F.scaled_dot_product_attention(*t, **kwargs), (q, k, v))
        torch.testing.assert_close(ours_grads, theirs_grads, **TOL[dtype])


def test_scale_and_causal_alignment_match_torch():
    """A given scale; is_causal with more keys than queries and more queries than keys (aligned top left)."""
    for L, S in ((3, 6), (6, 3)):
        q, k, v = randn(2, L, 8, seed=1), randn(2, S, 8, seed=2), randn(2, S, 4, seed=3)
        for kwargs in (dict(scale=0.3), dict(is_causal=True), dict(is_causal=True, scale=2.0)):
            torch.testing.assert_close(
                scaled_dot_product_attention(q, k, v, **kwargs), F.scaled_dot_product_attention(q, k, v, **kwargs)
            )
    assert causal_mask(2, 4).tolist() == [[True, False, False, False], [True, True, False, False]]
    assert causal_mask(2, 4, offset=2).tolist() == [[True, True, True, False], [True, True, True, True]]


def test_attention_weights_are_the_softmax_of_scaled_scores():
    q, k, v = randn(2, 3, 4, 8, seed=1), randn(2, 3, 5, 8, seed=2), randn(2, 3, 5, 6, seed=3)
    mask = torch.rand(4, 5, generator=torch.Generator().manual_seed(0)) > 0.5
    mask[:, 0] = True
    weights = attention_weights(q, k, attn_mask=mask)
    expected = torch.softmax((q @ k.transpose(-2, -1) / math.sqrt(8)).masked_fill(~mask, -torch.inf), dim=-1)
    torch.testing.assert_close(weights, expected)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3, 4))
    assert (weights[..., ~mask] == 0).all()
    torch.testing.assert_close(weights @ v, scaled_dot_product_attention(q, k, v, attn_mask=mask))


@pytest.mark.parametrize("kind", ["bool", "float"])
def test_fully_masked_rows_give_zeros_like_torch(kind):
    """A query that may attend to no key: torch (2.5 and later) returns zeros and zero gradients, and so do we."""
    q, k, v = randn(2, 4, 8, seed=1, grad=True), randn(2, 5, 8, seed=2, grad=True), randn(2, 5, 6, seed=3, grad=True)
    keep = torch.ones(4, 5, dtype=torch.bool)
    keep[1] = False
    mask = keep if kind == "bool" else torch.zeros(4, 5).masked_fill(~keep, -torch.inf)
    ours, ours_grads = outputs_and_grads(lambda *t: scaled_dot_product_attention(*t, attn_mask=mask), (q, k, v))
    theirs, theirs_grads = outputs_and_grads(lambda *t: F.scaled_dot_product_attention(*t, attn_mask=mask), (q, k, v))
    assert (ours[:, 1] == 0).all() and torch.isfinite(ours).all()
    assert (attention_weights(q, k, attn_mask=mask)[:, 1] == 0).all()
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(ours_grads, theirs_grads)
    assert (ours_grads[0][:, 1] == 0).all()


def test_dropout_acts_on_the_weights():
    q, k, v = randn(2, 4, 8, seed=1), randn(2, 5, 8, seed=2), randn(2, 5, 6, seed=3)
    torch.manual_seed(0)
    dropped = scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    torch.manual_seed(0)
    expected = F.dropout(attention_weights(q, k), 0.5) @ v
    torch.testing.assert_close(dropped, expected)
    assert not torch.allclose(dropped, scaled_dot_product_attention(q, k, v))


def test_attention_errors_name_the_shapes():
    q, k, v = randn(2, 4, 8), randn(2, 5, 8), randn(2, 5, 6)
    with pytest.raises(ValueError, match=r"same E, got q \(2, 4, 8\) and k \(2, 5, 7\)"):
        scaled_dot_product_attention(q, randn(2, 5, 7), v)
    with pytest.raises(ValueError, match=r"same S \(one value per key\), got k \(2, 5, 8\) and v \(2, 6, 6\)"):
        scaled_dot_product_attention(q, k, randn(2, 6, 6))
    with pytest.raises(ValueError, match=r"attn_mask that broadcasts to the scores \(\.\.\., L, S\) = \(2, 4, 5\), "
                       r"got torch.bool of shape \(4, 6\)"):  # fmt: skip
        scaled_dot_product_attention(q, k, v, attn_mask=torch.ones(4, 6, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"broadcasts to the scores.*shape \(3, 4, 5\)"):  # would grow the batch
        scaled_dot_product_attention(q, k, v, attn_mask=torch.ones(3, 4, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="boolean or float attn_mask.*torch.int64"):
        scaled_dot_product_attention(q, k, v, attn_mask=torch.ones(4, 5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"attn_mask or is_causal=True, not both.*causal_mask\(L, S\)"):
        scaled_dot_product_attention(q, k, v, attn_mask=torch.ones(4, 5, dtype=torch.bool), is_causal=True)
    with pytest.raises(ValueError, match=r"do not broadcast: \(2, 4, 8\), \(3, 5, 8\), \(2, 5, 6\)"):
        scaled_dot_product_attention(q, randn(3, 5, 8), v)
    with pytest.raises(ValueError, match="one dtype, got torch.float32, torch.float32, torch.float64"):
        scaled_dot_product_attention(q, k, v.double())
    with pytest.raises(ValueError, match="floating-point q, k"):
        attention_weights(torch.ones(4, 8, dtype=torch.long), torch.ones(5, 8, dtype=torch.long))
    with pytest.raises(ValueError, match=r"q: \(\.\.\., L, E\).*got q \(8,\)"):
        attention_weights(randn(8), k)


# MultiHeadAttention

E, HEADS = 8, 2


def twins(seed=0, dtype=torch.float32, **kwargs):
    """dlbook's MultiHeadAttention and torch's (batch first), each built right after seeding with ``seed``."""
    torch.manual_seed(seed)
    ours = MultiHeadAttention(E, HEADS, **kwargs).to(dtype)
    torch.manual_seed(seed)
    theirs = nn.MultiheadAttention(E, HEADS, batch_first=True, **kwargs).to(dtype)
    return ours, theirs


@pytest.mark.parametrize("bias", [True, False])
def test_mha_has_torch_parameters_initialization_and_state_dicts(bias):
    ours, theirs = twins(bias=bias)
    assert [(n, p.shape) for n, p in ours.named_parameters()] == [(n, p.shape) for n, p in theirs.named_parameters()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
        assert torch.equal(a, b)  # the same draws from the same generator state
    theirs.load_state_dict(twins(seed=5, bias=bias)[0].state_dict())  # ours -> torch
    ours.load_state_dict(theirs.state_dict())  # torch -> ours
    assert all(torch.equal(a, b) for a, b in zip(ours.parameters(), theirs.parameters(), strict=True))


def mha_cases(batch=3, L=5, S=4):
    """(name, ours kwargs, torch kwargs, memory shape or None) for self- and cross-attention with masks.

    torch's boolean masks are True where attention is *not* allowed, ours where it is."""
    g = torch.Generator().manual_seed(4)
    keep_self = torch.ones(batch, L, dtype=torch.bool)
    keep_self[0, -2:] = False
    keep_mem = torch.ones(batch, S, dtype=torch.bool)
    keep_mem[1, -1] = False
    float_mask = torch.randn(L, L, generator=g)
    return [
        ("self", {}, {}, None),
        ("causal", dict(is_causal=True), dict(attn_mask=~causal_mask(L, L), is_causal=True), None),
        ("padding", dict(attn_mask=keep_self[:, None, None, :]), dict(key_padding_mask=~keep_self), None),
        ("causal_padding", dict(attn_mask=keep_self[:, None, None, :], is_causal=True),
         dict(attn_mask=~causal_mask(L, L), key_padding_mask=~keep_self), None),
        ("float", dict(attn_mask=float_mask), dict(attn_mask=float_mask), None),
        ("cross", {}, {}, (batch, S, E)),
        ("cross_padding", dict(attn_mask=keep_mem[:, None, None, :]), dict(key_padding_mask=~keep_mem), (batch, S, E)),
    ]  # fmt: skip


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("case", range(len(mha_cases())))
def test_mha_matches_torch(case, bias, dtype):
    """Output and the gradients for x, memory and every parameter, torch's weights loaded into ours."""
    name, ours_kwargs, theirs_kwargs, memory_shape = mha_cases()[case]
    ours, theirs = twins(bias=bias, dtype=dtype)
    ours.load_state_dict(theirs.state_dict())
    x = randn(3, 5, E, dtype=dtype, seed=1, grad=True)
    memory = None if memory_shape is None else randn(*memory_shape, dtype=dtype, seed=2, grad=True)
    if "attn_mask" in theirs_kwargs and theirs_kwargs["attn_mask"].is_floating_point():
        ours_kwargs = dict(attn_mask=ours_kwargs["attn_mask"].to(dtype))
        theirs_kwargs = dict(attn_mask=theirs_kwargs["attn_mask"].to(dtype))
    inputs = [x] if memory is None else [x, memory]
    source = (lambda t: t[0]) if memory is None else (lambda t: t[1])
    ours_out, ours_grads = outputs_and_grads(
        lambda *t: ours(t[0], memory=None if memory is None else t[1], **ours_kwargs), (*inputs, *ours.parameters())
    )
    theirs_out, theirs_grads = outputs_and_grads(
        lambda *t: theirs(t[0], source(t), source(t), need_weights=False, **theirs_kwargs)[0],
        (*inputs, *theirs.parameters()),
    )
    assert ours_out.shape == (3, 5, E)
    torch.testing.assert_close(ours_out, theirs_out, **TOL[dtype])
    torch.testing.assert_close(ours_grads, theirs_grads, **TOL[dtype])
    if name in ("self", "cross"):  # torch's averaged attention weights, from ours per head
        weights = ours.attention_weights(x, memory)
        _, theirs_weights = theirs(x, source(inputs), source(inputs), average_attn_weights=False)
        torch.testing.assert_close(weights, theirs_weights, **TOL[dtype])


@pytest.mark.parametrize("case", range(len(mha_cases())))
def test_fused_and_from_scratch_agree(case):
    """fused=True (torch's kernels) and fused=False (ours): the same outputs and gradients."""
    _, kwargs, _, memory_shape = mha_cases()[case]
    scratch = MultiHeadAttention(E, HEADS)
    fused = MultiHeadAttention(E, HEADS, fused=True)
    fused.load_state_dict(scratch.state_dict())
    x = randn(3, 5, E, seed=1, grad=True)
    memory = None if memory_shape is None else randn(*memory_shape, seed=2)
    run = lambda m: outputs_and_grads(lambda x, *p: m(x, memory, **kwargs), (x, *m.parameters()))  # noqa: E731
    outs = [run(scratch), run(fused)]
    torch.testing.assert_close(outs[0], outs[1])


def test_from_scratch_path_does_not_call_torch_attention(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("torch's attention was called")

    monkeypatch.setattr(F, "scaled_dot_product_attention", refuse)
    x = randn(2, 5, E)
    MultiHeadAttention(E, HEADS)(x, is_causal=True)
    TransformerBlock(E, HEADS, causal=True, cross_attention=True)(x, memory=randn(2, 3, E))
    with pytest.raises(AssertionError, match="torch's attention was called"):
        MultiHeadAttention(E, HEADS, fused=True)(x)


@pytest.mark.parametrize("fused", [False, True])
def test_kv_cache_gives_the_full_causal_pass(fused):
    """Feeding a sequence in pieces through a KVCache gives, step for step, the output of one causal pass,
    with a padding mask on the keys too."""
    mha = MultiHeadAttention(E, HEADS, fused=fused)
    x = randn(2, 7, E, seed=1)
    torch.testing.assert_close(mha(x, is_causal=True), mha(x, attn_mask=causal_mask(7, 7)))
    full = mha(x, is_causal=True)
    cache = KVCache()
    pieces = [mha(x[:, a:b], is_causal=True, kv_cache=cache) for a, b in ((0, 3), (3, 4), (4, 6), (6, 7))]
    assert len(cache) == 7 and cache.k.shape == cache.v.shape == (2, HEADS, 7, E // HEADS)
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, rtol=1e-5, atol=1e-6)
    keep = torch.ones(2, 1, 1, 7, dtype=torch.bool)
    keep[0, ..., 1] = False
    full = mha(x, attn_mask=keep, is_causal=True)
    cache = KVCache()
    pieces = [mha(x[:, a:b], attn_mask=keep[..., :b], is_causal=True, kv_cache=cache) for a, b in ((0, 4), (4, 7))]
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, rtol=1e-5, atol=1e-6)


def test_heads_split_and_merge():
    """One head of MultiHeadAttention is attention on its slice of the projections."""
    mha = MultiHeadAttention(E, HEADS, bias=False)
    x = randn(2, 5, E)
    w_q, w_k, w_v = mha.in_proj_weight.chunk(3)
    d = E // HEADS
    heads = [
        scaled_dot_product_attention(x @ w_q[h * d : (h + 1) * d].T, x @ w_k[h * d : (h + 1) * d].T,
                                     x @ w_v[h * d : (h + 1) * d].T)
        for h in range(HEADS)
    ]  # fmt: skip
    torch.testing.assert_close(mha(x), torch.cat(heads, dim=-1) @ mha.out_proj.weight.T)


def test_mha_errors():
    with pytest.raises(ValueError, match="embed_dim=10 must split evenly into num_heads=4"):
        MultiHeadAttention(10, 4)
    with pytest.raises(ValueError, match="num_heads must be a positive int"):
        MultiHeadAttention(8, 0)
    mha = MultiHeadAttention(E, HEADS)
    with pytest.raises(ValueError, match=r"MultiHeadAttention\(8, 2\) needs x: \(batch, time, 8\), got \(5, 8\)"):
        mha(randn(5, E))
    with pytest.raises(ValueError, match=r"memory: \(batch, time, 8\) with x's batch, got memory \(3, 4, 8\)"):
        mha(randn(2, 5, E), memory=randn(3, 4, E))
    with pytest.raises(ValueError, match="kv_cache holds self-attention"):
        mha(randn(2, 5, E), memory=randn(2, 4, E), kv_cache=KVCache())
    with pytest.raises(ValueError, match=r"broadcasts to the scores.*\(2, 2, 5, 5\)"):
        mha(randn(2, 5, E), attn_mask=torch.ones(3, 1, 1, 5, dtype=torch.bool))


# Positional encodings


def test_sinusoidal_positions_follow_the_formula():
    p = sinusoidal_positions(50, 16)
    assert p.shape == (50, 16) and p.dtype == torch.float32
    for pos, i in ((0, 0), (7, 3), (49, 7)):
        angle = pos / 10000 ** (2 * i / 16)
        assert p[pos, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
        assert p[pos, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)
    dots = p[:-5] @ p[5:].T  # P[a] . P[a + 5] = sum_i cos(5 w_i), whatever a
    torch.testing.assert_close(dots.diagonal(), torch.full((45,), dots[0, 0].item()), rtol=0, atol=1e-4)
    odd = sinusoidal_positions(10, 7)  # an odd width ends with a sine
    assert odd.shape == (10, 7)
    torch.testing.assert_close(odd[:, 6], torch.sin(torch.arange(10) * 10000 ** (-6 / 7)))


def test_learned_positions_add_their_rows():
    positions = LearnedPositions(6, 4)
    assert positions.weight.shape == (6, 4)
    x = randn(2, 3, 4)
    torch.testing.assert_close(positions(x), x + positions.weight[:3])
    torch.testing.assert_close(positions(x, start=2), x + positions.weight[2:5])
    with pytest.raises(ValueError, match=r"positions 0..5, but positions 4..6 were asked for.*last 6 steps"):
        positions(x, start=4)


def test_rotary_scores_depend_only_on_the_offset():
    """q at position m and k at n: ``rot(q, m) . rot(k, n)`` is the same for every shift of both."""
    q, k = randn(16, seed=1), randn(16, seed=2)
    rot = lambda x, pos: apply_rotary(x[None], torch.tensor([pos]))[0]  # noqa: E731
    for m, n in ((3, 1), (0, 5), (10, 10)):
        scores = torch.stack([rot(q, m + s) @ rot(k, n + s) for s in (0, 1, 7, 100)])
        torch.testing.assert_close(scores, scores[:1].expand(4), rtol=1e-5, atol=1e-5)
    assert not torch.allclose(rot(q, 3) @ rot(k, 1), rot(q, 4) @ rot(k, 1))  # but the offset matters
    torch.testing.assert_close(rot(q, 0), q)  # position 0: no turn
    x = randn(2, 3, 9, 16)
    torch.testing.assert_close(apply_rotary(x, torch.arange(9)).norm(dim=-1), x.norm(dim=-1))  # a rotation
    torch.testing.assert_close(RotaryEmbedding(16)(x, start=4), apply_rotary(x, torch.arange(4, 13)))
    with pytest.raises(ValueError, match="even number of features"):
        apply_rotary(randn(3, 5), torch.arange(3))


# TransformerBlock


def torch_layer_name(block: TransformerBlock, name: str) -> str:
    """A block's parameter name in torch.nn.TransformerEncoderLayer or TransformerDecoderLayer (norm_first)."""
    names = {"attn": "self_attn", "mlp.0": "linear1", "mlp.2": "linear2"}
    if block.cross_attn is not None:
        names |= {"cross_attn": "multihead_attn", "norm_cross": "norm2", "norm2": "norm3"}
    prefix = next((p for p in names if name.startswith(p + ".")), None)
    return name if prefix is None else names[prefix] + name[len(prefix) :]


def assert_block_matches_layer(block, layer, inputs, ours_fn, theirs_fn, dtype):
    """Load the block's weights into torch's layer; the same output, input gradients and, name by name,
    parameter gradients."""
    layer.load_state_dict({torch_layer_name(block, n): t for n, t in block.state_dict().items()})
    names, params = zip(*block.named_parameters(), strict=True)
    ours_out, ours_grads = outputs_and_grads(lambda *t: ours_fn(*t[: len(inputs)]), (*inputs, *params))
    theirs_params = dict(layer.named_parameters())
    theirs_order = [theirs_params[torch_layer_name(block, n)] for n in names]
    theirs_out, theirs_grads = outputs_and_grads(lambda *t: theirs_fn(*t[: len(inputs)]), (*inputs, *theirs_order))
    torch.testing.assert_close(ours_out, theirs_out, **TOL[dtype])
    for name, a, b in zip(("input",) * len(inputs) + names, ours_grads, theirs_grads, strict=True):
        torch.testing.assert_close(a, b, **TOL[dtype], msg=lambda m, name=name: f"{name}: {m}")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_encoder_block_matches_torch_pre_norm_layer(dtype):
    block = TransformerBlock(E, HEADS, mlp_ratio=3).to(dtype)
    layer = nn.TransformerEncoderLayer(E, HEADS, 3 * E, dropout=0.0, activation="gelu", batch_first=True,
                                       norm_first=True).to(dtype)  # fmt: skip
    x = randn(3, 5, E, dtype=dtype, grad=True)
    keep = torch.ones(3, 5, dtype=torch.bool)
    keep[2, 3:] = False
    ours = lambda x: block(x, attn_mask=keep[:, None, None, :])  # noqa: E731
    theirs = lambda x: layer(x, src_key_padding_mask=~keep)  # noqa: E731
    assert_block_matches_layer(block, layer, [x], ours, theirs, dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_decoder_block_matches_torch_pre_norm_layer(dtype):
    block = TransformerBlock(E, HEADS, causal=True, cross_attention=True).to(dtype)
    layer = nn.TransformerDecoderLayer(E, HEADS, 4 * E, dropout=0.0, activation="gelu", batch_first=True,
                                       norm_first=True).to(dtype)  # fmt: skip
    x, memory = randn(3, 5, E, dtype=dtype, grad=True), randn(3, 4, E, dtype=dtype, seed=1, grad=True)
    keep = torch.ones(3, 4, dtype=torch.bool)
    keep[0, -1] = False
    ours = lambda x, m: block(x, memory=m, memory_mask=keep[:, None, None, :])  # noqa: E731
    theirs = lambda x, m: layer(  # noqa: E731
        x, m, tgt_mask=~causal_mask(5, 5), memory_key_padding_mask=~keep, tgt_is_causal=True
    )
    assert_block_matches_layer(block, layer, [x, memory], ours, theirs, dtype)


def test_causal_block_with_cache_and_dropout():
    """A causal block fed step by step through a KVCache gives the full pass; dropout only in training."""
    block = TransformerBlock(E, HEADS, causal=True, dropout=0.5)
    block.eval()
    x = randn(2, 6, E)
    full = block(x)
    cache = KVCache()
    steps = torch.cat([block(x[:, t : t + 1], kv_cache=cache) for t in range(6)], dim=1)
    torch.testing.assert_close(steps, full, rtol=1e-5, atol=1e-6)
    x2 = x.clone()
    x2[:, 4] += 1  # a later step does not change earlier outputs
    torch.testing.assert_close(block(x2)[:, :4], full[:, :4])
    block.train()
    assert not torch.allclose(block(x), full)


def test_block_errors():
    x = randn(2, 5, E)
    with pytest.raises(ValueError, match="has cross-attention: it needs memory"):
        TransformerBlock(E, HEADS, cross_attention=True)(x)
    with pytest.raises(ValueError, match="has no cross-attention: build it with cross_attention=True"):
        TransformerBlock(E, HEADS)(x, memory=x)
