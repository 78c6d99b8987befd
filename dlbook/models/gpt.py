"""A small GPT (Radford et al., 2018, 2019): a decoder-only Transformer that predicts the next token.

Token and learned position embeddings, a stack of causal pre-norm :class:`~dlbook.layers.TransformerBlock`, a
final LayerNorm, and a head that shares its weights with the token embedding. ``generate`` samples one token
at a time; with a KV cache each step feeds only the newest token instead of the whole context.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from dlbook.layers.attention import KVCache, LearnedPositions, MultiHeadAttention, TransformerBlock
from dlbook.layers.norm import LayerNorm


class GPT(nn.Module):
    """A decoder-only Transformer: idx: ``(batch, time)`` token ids -> logits ``(batch, time, vocab_size)``.

    ``logits[:, t]`` scores the token that follows ``idx[:, :t + 1]``: step t sees only steps up to t. The model
    reads at most ``context_length`` tokens (its learned positions). Weights are drawn as in GPT-2: normal with
    standard deviation 0.02, the projections that end each residual branch scaled down by
    ``1 / sqrt(2 * num_layers)``, biases zero. ``fused=True`` runs attention in torch's fused kernels.
    """

    def __init__(
        self,
        vocab_size: int,
        context_length: int,
        embed_dim: int,
        num_layers: int,
        num_heads: int,
        dropout: float = 0.0,
        mlp_ratio: int = 4,
        fused: bool = False,
    ):
        super().__init__()
        sizes = dict(vocab_size=vocab_size, context_length=context_length, embed_dim=embed_dim, num_layers=num_layers)
        for name, value in sizes.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}.")
        self.vocab_size, self.context_length, self.embed_dim = vocab_size, context_length, embed_dim
        self.num_layers, self.num_heads = num_layers, num_heads
        self.tokens = nn.Embedding(vocab_size, embed_dim)
        self.positions = LearnedPositions(context_length, embed_dim)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            TransformerBlock(embed_dim, num_heads, mlp_ratio, dropout, causal=True, fused=fused)
            for _ in range(num_layers)
        )
        self.norm = LayerNorm(embed_dim)
        self.head = nn.Linear(embed_dim, vocab_size, bias=False)
        self.head.weight = self.tokens.weight  # weight tying: one (vocab_size, embed_dim) matrix, used twice
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """GPT-2's initialization (see the class docstring); the LayerNorms keep theirs (the identity)."""
        for module in self.modules():
            if isinstance(module, nn.Linear | nn.Embedding | LearnedPositions):
                nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
            if isinstance(module, MultiHeadAttention):
                nn.init.normal_(module.in_proj_weight, std=0.02)  # its biases start at zero already
        for block in self.blocks:  # each residual branch adds to the sum; keep the sum's variance in check
            for linear in (block.attn.out_proj, block.mlp[-1]):
                nn.init.normal_(linear.weight, std=0.02 / math.sqrt(2 * self.num_layers))

    def forward(self, idx: torch.Tensor, kv_caches: list[KVCache] | None = None) -> torch.Tensor:
        """idx: ``(batch, time)`` token ids -> logits ``(batch, time, vocab_size)``.

        With ``kv_caches`` (one :class:`~dlbook.layers.KVCache` per block), idx holds only the new tokens: they
        take the positions after the cached ones, and their keys and values join the caches.
        """
        self._check(idx)
        start = 0 if kv_caches is None else len(kv_caches[0])
        if kv_caches is not None and len(kv_caches) != self.num_layers:
            raise ValueError(f"GPT needs one KVCache per block ({self.num_layers}), got {len(kv_caches)}.")
        if start + idx.shape[1] > self.context_length:
            raise ValueError(
                f"GPT(context_length={self.context_length}) reads at most {self.context_length} tokens, got "
                f"{start + idx.shape[1]}: crop the context to idx[:, -{self.context_length}:] (generate does)."
            )
        x = self.dropout(self.positions(self.tokens(idx), start))  # (batch, time, embed_dim)
        for i, block in enumerate(self.blocks):
            x = block(x, kv_cache=None if kv_caches is None else kv_caches[i])
        return self.head(self.norm(x))

    @torch.no_grad()
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        use_cache: bool = True,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Continue idx: ``(batch, time)`` by ``max_new_tokens`` sampled tokens -> ``(batch, time + max_new_tokens)``.

        Each token is drawn from ``softmax(logits / temperature)``, restricted to the ``top_k`` most likely when
        given; ``temperature=0`` takes the most likely token (greedy). ``generator`` makes the draws reproducible
        (it must be on the model's device). The model sees the last ``context_length`` tokens. With
        ``use_cache=True`` (the default) the first step reads the context and every later step feeds only the
        newest token, reusing the cached keys and values; ``use_cache=False`` reads the whole context at every
        step. Both give the same tokens. Once the sequence outgrows ``context_length``, the window slides and
        learned positions shift with it, so the cache is rebuilt from the window at each such step. Runs in
        eval mode (no dropout) and restores the mode it found.
        """
        self._check(idx)
        if temperature < 0 or (top_k is not None and top_k < 1):
            raise ValueError(f"temperature must be >= 0 and top_k >= 1 or None, got {temperature!r}, {top_k!r}.")
        was_training = self.training
        self.eval()
        caches = None
        try:
            for _ in range(max_new_tokens):
                if use_cache and caches is not None and len(caches[0]) < self.context_length:
                    logits = self(idx[:, -1:], caches)  # only the newest token; the rest is in the caches
                else:  # no cache, a fresh one, or a full one: read the window
                    caches = [KVCache() for _ in self.blocks] if use_cache else None
                    logits = self(idx[:, -self.context_length :], caches)
                next_token = _sample(logits[:, -1].float(), temperature, top_k, generator)  # (batch, 1)
                idx = torch.cat([idx, next_token.to(idx.dtype)], dim=1)
        finally:
            self.train(was_training)
        return idx

    def _check(self, idx: torch.Tensor) -> None:
        """Clear errors for token ids of the wrong kind, shape or range."""
        if not isinstance(idx, torch.Tensor) or idx.is_floating_point() or idx.is_complex() or idx.dtype == torch.bool:
            kind = idx.dtype if isinstance(idx, torch.Tensor) else type(idx).__name__
            raise ValueError(f"GPT needs idx: (batch, time) integer token ids (torch.long), got {kind}.")
        if idx.ndim != 2 or idx.shape[1] == 0:
            hint = ": add the batch axis with idx[None]" if idx.ndim == 1 else ""
            raise ValueError(f"GPT needs idx: (batch, time) with time >= 1, got shape {tuple(idx.shape)}{hint}.")
        if idx.numel() and (idx.min() < 0 or idx.max() >= self.vocab_size):
            raise ValueError(
                f"GPT(vocab_size={self.vocab_size}) needs token ids in 0..{self.vocab_size - 1}, got ids from "
                f"{idx.min().item()} to {idx.max().item()}."
            )

    def extra_repr(self) -> str:
        return f"context_length={self.context_length}"


def _sample(logits: torch.Tensor, temperature: float, top_k: int | None, generator) -> torch.Tensor:
    """One token per row of logits: ``(batch, vocab)`` -> ``(batch, 1)``; temperature 0 is the argmax."""
    if temperature == 0:
        return logits.argmax(-1, keepdim=True)
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]  # the k-th largest of each row
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return torch.multinomial(F.softmax(logits, dim=-1), 1, generator=generator)
