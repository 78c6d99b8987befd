"""Attention from primitives: scaled dot-product attention, multi-head attention with a KV cache, positional
encodings (sinusoidal, learned, rotary) and the pre-norm Transformer block.

Shapes are batch first: ``x: (batch, time, embed_dim)``. Inside attention, ``q: (..., L, E)`` holds L queries,
``k: (..., S, E)`` and ``v: (..., S, Ev)`` hold S keys and values, and the scores are ``(..., L, S)``; multi-head
attention splits ``embed_dim = num_heads * head_dim`` into ``(batch, num_heads, time, head_dim)``. Masks follow
``torch.nn.functional.scaled_dot_product_attention``: a boolean mask is True where a query may attend to a key
(the opposite of ``torch.nn.MultiheadAttention``'s boolean ``attn_mask``), and a float mask is added to the
scores (``-inf`` forbids). Half-precision inputs are computed in float32 and the result cast back.
"""

import torch
import torch.nn.functional as F
from torch import nn

from dlbook.layers.norm import LOW_PRECISION, LayerNorm


def causal_mask(q_length: int, k_length: int, offset: int = 0, device=None) -> torch.Tensor:
    """True where query i may see key j, that is ``j <= i + offset``: a boolean ``(q_length, k_length)``.

    ``offset=0`` is torch's ``is_causal`` (aligned top left); ``offset = k_length - q_length`` aligns it bottom
    right, for new queries that come after ``offset`` cached keys.
    """
    return torch.ones(q_length, k_length, dtype=torch.bool, device=device).tril(diagonal=offset)


def attention_weights(
    q: torch.Tensor,
    k: torch.Tensor,
    attn_mask: torch.Tensor | None = None,
    is_causal: bool = False,
    scale: float | None = None,
) -> torch.Tensor:
    """``softmax(q k^T * scale + mask)`` over the keys: q: ``(..., L, E)``, k: ``(..., S, E)`` -> ``(..., L, S)``.

    How much each query takes from each key; ``scale`` defaults to ``1 / sqrt(E)``. Each row sums to 1, except a
    row whose keys are all masked: it is all zeros, and so is its output and its gradient, as in torch (2.5 and
    later; earlier versions gave NaN).
    """
    _check(q, k, None, attn_mask, is_causal, "attention_weights")
    dtype = torch.float32 if q.dtype in LOW_PRECISION else q.dtype  # half precision: computed in float32
    if is_causal:
        attn_mask = causal_mask(q.shape[-2], k.shape[-2], device=q.device)
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    scores = (q.to(dtype) @ k.to(dtype).transpose(-2, -1)) * scale  # (..., L, S): each query with each key
    if attn_mask is None:
        return torch.softmax(scores, dim=-1).to(q.dtype)
    if attn_mask.dtype == torch.bool:
        scores = scores.masked_fill(~attn_mask, float("-inf"))  # a hidden key gets weight exp(-inf) = 0
        hidden = ~attn_mask.any(-1, keepdim=True)  # the rows with every key hidden, in the mask's shape
    else:
        scores = scores + attn_mask.to(dtype)
        hidden = torch.isneginf(attn_mask).all(-1, keepdim=True)
    if not hidden.any():
        return torch.softmax(scores, dim=-1).to(q.dtype)
    weights = torch.softmax(scores.masked_fill(hidden, 0.0), dim=-1)  # a softmax of only -inf would be NaN
    return weights.masked_fill(hidden, 0.0).to(q.dtype)  # nothing to attend to: zeros, as in torch


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    attn_mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
) -> torch.Tensor:
    """``attention_weights(q, k) @ v``: q: ``(..., L, E)``, k: ``(..., S, E)``, v: ``(..., S, Ev)`` -> ``(..., L, Ev)``.

    The arguments of ``torch.nn.functional.scaled_dot_product_attention``, in its order: ``attn_mask``
    (boolean, True = may attend, or float, added to the scores) broadcasts against ``(..., L, S)``;
    ``is_causal=True`` lets query i see keys ``j <= i`` (:func:`causal_mask`); ``dropout_p`` zeroes attention
    weights at random (whenever it is above 0, as torch's). The leading dimensions broadcast, as in a matrix
    product. A query whose keys are all masked gets zeros, as in torch.
    """
    _check(q, k, v, attn_mask, is_causal, "scaled_dot_product_attention")
    dtype = q.dtype
    if dtype in LOW_PRECISION:  # the weights and their sums in float32, as torch's kernels do
        q, k, v = q.float(), k.float(), v.float()
    weights = attention_weights(q, k, attn_mask, is_causal, scale)  # (..., L, S)
    if dropout_p > 0:
        weights = F.dropout(weights, dropout_p)
    return (weights @ v).to(dtype)


def _check(q, k, v, attn_mask, is_causal, who) -> None:
    """Clear errors for what the attention functions cannot take, naming the shapes."""
    if q.ndim < 2 or k.ndim < 2 or q.shape[-1] != k.shape[-1]:
        raise ValueError(f"{who} needs q: (..., L, E) and k: (..., S, E) with the same E, got q {tuple(q.shape)} "
                         f"and k {tuple(k.shape)}.")  # fmt: skip
    if v is not None and (v.ndim < 2 or v.shape[-2] != k.shape[-2]):
        raise ValueError(f"{who} needs k: (..., S, E) and v: (..., S, Ev) with the same S (one value per key), "
                         f"got k {tuple(k.shape)} and v {tuple(v.shape)}.")  # fmt: skip
    if not q.is_floating_point() or any(t.dtype != q.dtype for t in (k, v) if t is not None):
        raise ValueError(f"{who} needs floating-point q, k and v of one dtype, got " +
                         ", ".join(str(t.dtype) for t in (q, k, v) if t is not None) + ".")  # fmt: skip
    try:
        batch = torch.broadcast_shapes(*(t.shape[:-2] for t in (q, k, v) if t is not None))
    except RuntimeError:
        shapes = ", ".join(str(tuple(t.shape)) for t in (q, k, v) if t is not None)
        raise ValueError(f"{who}: the leading dimensions of q, k (and v) do not broadcast: {shapes}.") from None
    if attn_mask is not None and is_causal:
        raise ValueError(f"{who} takes attn_mask or is_causal=True, not both (as torch): combine them into one "
                         "mask, e.g. attn_mask & causal_mask(L, S).")  # fmt: skip
    scores = (*batch, q.shape[-2], k.shape[-2])
    if attn_mask is not None:
        try:
            fits = torch.broadcast_shapes(attn_mask.shape, scores) == scores
        except RuntimeError:
            fits = False
        if not fits or not (attn_mask.dtype == torch.bool or attn_mask.is_floating_point()):
            raise ValueError(f"{who} needs a boolean or float attn_mask that broadcasts to the scores (..., L, S) "
                             f"= {scores}, got {attn_mask.dtype} of shape {tuple(attn_mask.shape)}.")  # fmt: skip


class KVCache:
    """The keys and values one attention layer has computed so far, kept for incremental decoding.

    ``k`` and ``v``: ``(batch, num_heads, time, head_dim)``, None before the first step. ``update(k, v)`` appends
    the new steps and returns all of them; ``len(cache)`` is the number of steps cached, the position of the
    next one. A model keeps one cache per attention layer (a list), made fresh for every new sequence.
    """

    def __init__(self):
        self.k: torch.Tensor | None = None  # None until the first update
        self.v: torch.Tensor | None = None

    def __len__(self) -> int:
        return 0 if self.k is None else self.k.shape[-2]

    def update(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append k, v: ``(batch, num_heads, new, head_dim)``; return all keys and values cached so far."""
        self.k = k if self.k is None else torch.cat([self.k, k], dim=-2)
        self.v = v if self.v is None else torch.cat([self.v, v], dim=-2)
        return self.k, self.v


class MultiHeadAttention(nn.Module):
    """Multi-head attention: ``num_heads`` attentions of ``head_dim = embed_dim // num_heads`` side by side.

    x: ``(batch, L, embed_dim)`` -> ``(batch, L, embed_dim)``. The queries come from x; the keys and values from x
    (self-attention) or from ``memory: (batch, S, embed_dim)`` (cross-attention). Each of q, k, v is projected,
    split into heads ``(batch, num_heads, time, head_dim)``, attended, merged back to ``(batch, L, embed_dim)``
    and projected by ``out_proj``. Parameters, their names and initialization are ``torch.nn.MultiheadAttention``'s
    (``in_proj_weight: (3 * embed_dim, embed_dim)`` stacks the q, k and v projections), so state_dicts move both
    ways; unlike torch's, inputs are always batch first and a boolean mask is True where attention is allowed.
    ``fused=True`` calls torch's ``scaled_dot_product_attention`` (flash kernels on a GPU) instead of
    :func:`scaled_dot_product_attention`: the same numbers, faster. ``dropout`` acts on the attention weights.
    """

    def __init__(self, embed_dim: int, num_heads: int, bias: bool = True, dropout: float = 0.0, fused: bool = False):
        super().__init__()
        for name, value in (("embed_dim", embed_dim), ("num_heads", num_heads)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}.")
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim={embed_dim} must split evenly into num_heads={num_heads} heads.")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}.")
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, embed_dim // num_heads
        self.dropout, self.fused = float(dropout), fused
        self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * embed_dim)) if bias else None
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)  # draws its weight first, as in torch
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """torch's initialization: ``in_proj_weight`` Xavier-uniform, the biases zero."""
        nn.init.xavier_uniform_(self.in_proj_weight)
        for b in (self.in_proj_bias, self.out_proj.bias):
            if b is not None:
                b.zero_()

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
        is_causal: bool = False,
        kv_cache: KVCache | None = None,
    ) -> torch.Tensor:
        """x: ``(batch, L, embed_dim)``, memory: ``(batch, S, embed_dim)`` or None -> ``(batch, L, embed_dim)``.

        ``attn_mask`` broadcasts to ``(batch, num_heads, L, S)``: ``(L, S)`` for all, or ``(batch, 1, 1, S)`` to
        hide padded keys (``keep[:, None, None, :]``). ``is_causal`` may come with a mask (both apply). With a
        ``kv_cache`` (self-attention only), x holds the new steps: their keys and values are appended to the
        cache, and with ``is_causal`` each new step sees the cached steps and the new steps up to itself.
        """
        q, k, v = self._project(x, memory, kv_cache)  # (batch, heads, L or S, head_dim)
        attn_mask, is_causal = self._mask(attn_mask, is_causal, q.shape[-2], k.shape[-2], x.device)
        attend = F.scaled_dot_product_attention if self.fused else scaled_dot_product_attention
        dropout = self.dropout if self.training else 0.0
        out = attend(q, k, v, attn_mask=attn_mask, dropout_p=dropout, is_causal=is_causal)
        return self.out_proj(self._merge(out))

    def attention_weights(
        self,
        x: torch.Tensor,
        memory: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
        is_causal: bool = False,
    ) -> torch.Tensor:
        """What each head attends to, for plots: x: ``(batch, L, embed_dim)`` -> ``(batch, num_heads, L, S)``."""
        q, k, _ = self._project(x, memory, None)
        attn_mask, is_causal = self._mask(attn_mask, is_causal, q.shape[-2], k.shape[-2], x.device)
        return attention_weights(q, k, attn_mask=attn_mask, is_causal=is_causal)

    def _project(self, x, memory, kv_cache) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Check the shapes, then q from x and k, v from memory (or x), each split into heads."""
        who, e = f"MultiHeadAttention({self.embed_dim}, {self.num_heads})", self.embed_dim
        if x.ndim != 3 or x.shape[-1] != e:
            raise ValueError(f"{who} needs x: (batch, time, {e}), got {tuple(x.shape)}.")
        if memory is not None and (memory.ndim != 3 or memory.shape[-1] != e or memory.shape[0] != x.shape[0]):
            raise ValueError(
                f"{who} needs memory: (batch, time, {e}) with x's batch, got memory {tuple(memory.shape)} "
                f"and x {tuple(x.shape)}."
            )
        if memory is not None and kv_cache is not None:
            raise ValueError(f"{who}: kv_cache holds self-attention keys and values; pass it without memory.")
        w, b = self.in_proj_weight, self.in_proj_bias
        if memory is None:
            q, k, v = F.linear(x, w, b).chunk(3, dim=-1)  # one matrix product for all three
        else:
            q = F.linear(x, w[:e], None if b is None else b[:e])
            k, v = F.linear(memory, w[e:], None if b is None else b[e:]).chunk(2, dim=-1)
        q, k, v = self._split(q), self._split(k), self._split(v)
        if kv_cache is not None:
            k, v = kv_cache.update(k, v)
        return q, k, v

    def _mask(self, attn_mask, is_causal, q_length, k_length, device) -> tuple[torch.Tensor | None, bool]:
        """(mask, is_causal) for the attention function: causality as a mask when it is not torch's plain case."""
        if not is_causal or q_length == 1:
            return attn_mask, False  # one new query, the last of the sequence, may see every key
        if attn_mask is None and q_length == k_length:
            return None, True  # torch's is_causal covers it (and lets fused kernels skip the mask)
        causal = causal_mask(q_length, k_length, offset=k_length - q_length, device=device)  # after the cache
        if attn_mask is None:
            return causal, False
        if attn_mask.dtype == torch.bool:
            return attn_mask & causal, False
        return attn_mask.masked_fill(~causal, float("-inf")), False

    def _split(self, t: torch.Tensor) -> torch.Tensor:
        """``(batch, time, embed_dim)`` -> ``(batch, num_heads, time, head_dim)``."""
        batch, time, _ = t.shape
        return t.view(batch, time, self.num_heads, self.head_dim).transpose(1, 2)

    def _merge(self, t: torch.Tensor) -> torch.Tensor:
        """``(batch, num_heads, time, head_dim)`` -> ``(batch, time, embed_dim)``: the heads side by side."""
        batch, _, time, _ = t.shape
        return t.transpose(1, 2).reshape(batch, time, self.embed_dim)

    def extra_repr(self) -> str:
        bias = "" if self.in_proj_bias is not None else ", bias=False"
        return f"{self.embed_dim}, num_heads={self.num_heads}{bias}, dropout={self.dropout}, fused={self.fused}"


def sinusoidal_positions(
    length: int, dim: int, base: float = 10000.0, device=None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Vaswani et al.'s fixed position codes: ``P[p, 2i] = sin(p w_i)``, ``P[p, 2i+1] = cos(p w_i)``.

    ``w_i = base^(-2i / dim)``: each pair of features turns at its own frequency. Returns ``(length, dim)``,
    added to the token embeddings ``(batch, length, dim)``.
    """
    position = torch.arange(length, dtype=torch.float64)[:, None]
    angle = position * base ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)  # (length, ceil(dim / 2))
    p = torch.zeros(length, dim, dtype=torch.float64)
    p[:, 0::2] = torch.sin(angle)
    p[:, 1::2] = torch.cos(angle[:, : dim // 2])
    return p.to(device=device, dtype=dtype)


class LearnedPositions(nn.Module):
    """One learned vector per position, added to the token embeddings (GPT's way).

    ``weight: (max_length, dim)``, drawn from N(0, 0.02^2). x: ``(batch, time, dim)`` -> x plus rows
    ``start .. start + time - 1`` of ``weight``; a sequence can be at most ``max_length`` long.
    """

    def __init__(self, max_length: int, dim: int):
        super().__init__()
        self.max_length, self.dim = max_length, dim
        self.weight = nn.Parameter(torch.randn(max_length, dim) * 0.02)

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        """x: ``(batch, time, dim)`` -> the same shape, position ``start + t`` added to step t."""
        time = x.shape[-2]
        if start + time > self.max_length:
            raise ValueError(
                f"LearnedPositions({self.max_length}, {self.dim}) has positions 0..{self.max_length - 1}, but "
                f"positions {start}..{start + time - 1} were asked for: crop the sequence to its last "
                f"{self.max_length} steps."
            )
        return x + self.weight[start : start + time]

    def extra_repr(self) -> str:
        return f"{self.max_length}, {self.dim}"


def apply_rotary(x: torch.Tensor, positions: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """Rotary position embedding (Su et al., 2021): turn pairs of features by an angle that grows with position.

    x: ``(..., time, dim)`` with dim even, positions: ``(time,)`` -> the same shape. Feature i is paired with
    feature ``i + dim / 2`` (GPT-NeoX's layout; the paper pairs neighbours, the same up to an order of features)
    and turned by ``positions * base^(-2i / dim)``. Applied to queries and keys, the score of a query at m and a
    key at n then depends on ``m - n`` only.
    """
    if x.shape[-1] % 2:
        raise ValueError(f"apply_rotary needs an even number of features, got x {tuple(x.shape)}.")
    half = x.shape[-1] // 2
    dtype = torch.float32 if x.dtype in LOW_PRECISION else x.dtype
    freq = base ** (-torch.arange(half, dtype=dtype, device=x.device) * 2 / x.shape[-1])
    angle = positions.to(device=x.device, dtype=dtype)[..., None] * freq  # (time, dim / 2)
    cos, sin = torch.cos(angle), torch.sin(angle)
    x1, x2 = x[..., :half].to(dtype), x[..., half:].to(dtype)
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).to(x.dtype)


class RotaryEmbedding(nn.Module):
    """:func:`apply_rotary` as a layer for one head's q or k: ``(..., time, dim)``, positions from ``start``."""

    def __init__(self, dim: int, base: float = 10000.0):
        super().__init__()
        self.dim, self.base = dim, base

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        """x: ``(..., time, dim)`` -> the same shape, step t rotated for position ``start + t``."""
        positions = torch.arange(start, start + x.shape[-2], device=x.device)
        return apply_rotary(x, positions, self.base)

    def extra_repr(self) -> str:
        return f"{self.dim}, base={self.base}"


class TransformerBlock(nn.Module):
    """A pre-norm Transformer block: x: ``(batch, time, embed_dim)`` -> the same shape.

    ``x = x + attention(norm1(x))``, then ``x = x + mlp(norm2(x))``, where the MLP is
    ``Linear(embed_dim, mlp_ratio * embed_dim)``, GELU, ``Linear(mlp_ratio * embed_dim, embed_dim)``. With
    ``causal=True`` each step attends only to itself and earlier steps (a decoder); with
    ``cross_attention=True`` a third sub-layer ``x = x + cross_attn(norm_cross(x), memory)`` between the two
    attends to an encoder's output ``memory: (batch, S, embed_dim)``. ``dropout`` acts on the attention
    weights and on each sub-layer's output before it is added.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        mlp_ratio: int = 4,
        dropout: float = 0.0,
        causal: bool = False,
        cross_attention: bool = False,
        bias: bool = True,
        fused: bool = False,
    ):
        super().__init__()
        self.causal = causal
        self.norm1 = LayerNorm(embed_dim)
        self.attn = MultiHeadAttention(embed_dim, num_heads, bias, dropout, fused)
        self.norm_cross = LayerNorm(embed_dim) if cross_attention else None
        self.cross_attn = MultiHeadAttention(embed_dim, num_heads, bias, dropout, fused) if cross_attention else None
        self.norm2 = LayerNorm(embed_dim)
        hidden = mlp_ratio * embed_dim
        self.mlp = nn.Sequential(nn.Linear(embed_dim, hidden, bias), nn.GELU(), nn.Linear(hidden, embed_dim, bias))
        self.dropout = nn.Dropout(dropout)

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
        kv_cache: KVCache | None = None,
    ) -> torch.Tensor:
        """x: ``(batch, L, embed_dim)``, memory: ``(batch, S, embed_dim)`` -> ``(batch, L, embed_dim)``.

        ``attn_mask`` (to ``(batch, heads, L, L)``) for self-attention, ``memory_mask`` (to
        ``(batch, heads, L, S)``, e.g. the encoder's padding) for cross-attention; ``kv_cache`` for
        self-attention, when x holds only the new steps.
        """
        if memory is None and self.cross_attn is not None:
            raise ValueError("this TransformerBlock has cross-attention: it needs memory (batch, S, embed_dim).")
        if memory is not None and self.cross_attn is None:
            raise ValueError("this TransformerBlock has no cross-attention: build it with cross_attention=True.")
        attended = self.attn(self.norm1(x), attn_mask=attn_mask, is_causal=self.causal, kv_cache=kv_cache)
        x = x + self.dropout(attended)
        if self.cross_attn is not None:
            x = x + self.dropout(self.cross_attn(self.norm_cross(x), memory=memory, attn_mask=memory_mask))
        return x + self.dropout(self.mlp(self.norm2(x)))

    def extra_repr(self) -> str:
        return f"causal={self.causal}"
