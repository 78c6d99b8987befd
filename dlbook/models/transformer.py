"""An encoder-decoder Transformer (Vaswani et al., 2017) for sequence-to-sequence tasks, with greedy and beam
search decoding.

Token ids ``pad_id``, ``bos_id`` and ``eos_id`` (0, 1, 2 by default) are padding, begin and end of a sequence in
both vocabularies. A target sequence is ``bos, y_1, ..., y_n, eos`` followed by padding; the model is trained
with teacher forcing to predict each next token::

    logits = model(src, tgt[:, :-1])                    # (batch, T - 1, tgt_vocab)
    loss = F.cross_entropy(logits.transpose(1, 2), tgt[:, 1:], ignore_index=model.pad_id)
"""

import math
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from dlbook.layers.attention import TransformerBlock, sinusoidal_positions
from dlbook.layers.norm import LayerNorm


class Seq2SeqTransformer(nn.Module):
    """src: ``(batch, S)`` and tgt: ``(batch, T)`` token ids -> logits ``(batch, T, tgt_vocab)``.

    The encoder (pre-norm :class:`~dlbook.layers.TransformerBlock`, padded source tokens hidden from attention)
    turns src into ``memory: (batch, S, embed_dim)``; the decoder (causal blocks with cross-attention to the
    memory) scores each next target token. Embeddings are scaled by ``sqrt(embed_dim)`` and added to sinusoidal
    positions, as in Vaswani et al.; sequences are at most ``max_length`` tokens long, bos and eos included.
    """

    def __init__(
        self,
        src_vocab: int,
        tgt_vocab: int,
        embed_dim: int = 64,
        num_heads: int = 4,
        num_encoder_layers: int = 2,
        num_decoder_layers: int = 2,
        mlp_ratio: int = 4,
        dropout: float = 0.0,
        max_length: int = 64,
        pad_id: int = 0,
        bos_id: int = 1,
        eos_id: int = 2,
        fused: bool = False,
    ):
        super().__init__()
        self.src_vocab, self.tgt_vocab, self.embed_dim, self.max_length = src_vocab, tgt_vocab, embed_dim, max_length
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        self.src_tokens = nn.Embedding(src_vocab, embed_dim)
        self.tgt_tokens = nn.Embedding(tgt_vocab, embed_dim)
        for embedding in (self.src_tokens, self.tgt_tokens):
            nn.init.normal_(embedding.weight, std=embed_dim**-0.5)  # times sqrt(embed_dim): unit variance
        self.register_buffer("positions", sinusoidal_positions(max_length, embed_dim), persistent=False)
        self.dropout = nn.Dropout(dropout)
        block = dict(embed_dim=embed_dim, num_heads=num_heads, mlp_ratio=mlp_ratio, dropout=dropout, fused=fused)
        self.encoder = nn.ModuleList(TransformerBlock(**block) for _ in range(num_encoder_layers))
        self.encoder_norm = LayerNorm(embed_dim)
        self.decoder = nn.ModuleList(
            TransformerBlock(**block, causal=True, cross_attention=True) for _ in range(num_decoder_layers)
        )
        self.decoder_norm = LayerNorm(embed_dim)
        self.head = nn.Linear(embed_dim, tgt_vocab)

    def forward(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        """src: ``(batch, S)``, tgt: ``(batch, T)`` (starting with bos) -> logits ``(batch, T, tgt_vocab)``."""
        return self.decode(tgt, self.encode(src), src)

    def encode(self, src: torch.Tensor) -> torch.Tensor:
        """src: ``(batch, S)`` token ids -> memory ``(batch, S, embed_dim)``."""
        x = self._embed(src, self.src_tokens, self.src_vocab, "src")
        keep = self._keep(src)
        for block in self.encoder:
            x = block(x, attn_mask=keep)
        return self.encoder_norm(x)

    def decode(self, tgt: torch.Tensor, memory: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
        """tgt: ``(batch, T)``, memory: ``(batch, S, embed_dim)``, src: ``(batch, S)`` (for its padding)
        -> logits ``(batch, T, tgt_vocab)``."""
        x = self._embed(tgt, self.tgt_tokens, self.tgt_vocab, "tgt")
        keep = self._keep(src)
        for block in self.decoder:
            x = block(x, memory=memory, memory_mask=keep)
        return self.head(self.decoder_norm(x))

    @torch.no_grad()
    def sequence_log_prob(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        """The log-probability of each target, its tokens after bos up to its eos: ``(batch, T)`` -> ``(batch,)``.

        Under the distribution the decoders use: padding and bos are never produced inside a sequence, so their
        probability is left out and the rest renormalized (a trained model gives them almost none anyway).
        """
        log_probs = self._next_log_probs(self(src, tgt[:, :-1]))
        picked = log_probs.gather(-1, tgt[:, 1:, None])[..., 0]  # (batch, T - 1)
        return picked.masked_fill(tgt[:, 1:] == self.pad_id, 0.0).sum(1)  # padding adds nothing

    @torch.no_grad()
    def greedy_decode(self, src: torch.Tensor, max_length: int | None = None) -> torch.Tensor:
        """The most likely next token at each step: src ``(batch, S)`` -> ``(batch, 1 + n)``, bos first.

        Stops when every sequence has its eos (later steps are padding), or after ``max_length`` tokens
        (default: as many as the positions allow).
        """
        steps = self._steps(max_length)
        with _eval_mode(self):
            memory = self.encode(src)
            seqs = torch.full((src.shape[0], 1), self.bos_id, dtype=torch.long, device=src.device)
            done = torch.zeros(src.shape[0], dtype=torch.bool, device=src.device)
            for _ in range(steps):
                log_probs = self._next_log_probs(self.decode(seqs, memory, src)[:, -1])  # (batch, tgt_vocab)
                tokens = torch.where(done, self.pad_id, log_probs.argmax(-1))  # padding after eos
                seqs = torch.cat([seqs, tokens[:, None]], dim=1)
                done = done | (tokens == self.eos_id)
                if done.all():
                    break
        return seqs

    @torch.no_grad()
    def beam_search(self, src: torch.Tensor, beam_size: int = 4, max_length: int | None = None) -> torch.Tensor:
        """Keep the ``beam_size`` most likely partial targets at each step: src ``(batch, S)`` -> ``(batch, 1 + n)``.

        Each step extends every unfinished candidate by every token and keeps the ``beam_size`` best by total
        log-probability (no length penalty); a candidate that has produced eos is kept as it is. Returns the most
        likely candidate for each source, bos first and padded after its eos; ``beam_size=1`` is greedy decoding.
        """
        if not isinstance(beam_size, int) or isinstance(beam_size, bool) or beam_size < 1:
            raise ValueError(f"beam_size must be a positive int, got {beam_size!r}.")
        steps, device = self._steps(max_length), src.device
        batch, k, vocab = src.shape[0], beam_size, self.tgt_vocab
        with _eval_mode(self):
            memory = self.encode(src).repeat_interleave(k, dim=0)  # (batch * k, S, embed_dim): a copy per beam
            src = src.repeat_interleave(k, dim=0)
            seqs = torch.full((batch * k, 1), self.bos_id, dtype=torch.long, device=device)
            scores = torch.full((batch, k), float("-inf"), device=device)
            scores[:, 0] = 0.0  # one live candidate to start with, the others empty
            done = torch.zeros(batch * k, dtype=torch.bool, device=device)
            finished = torch.full((vocab,), float("-inf"), device=device)
            finished[self.pad_id] = 0.0  # a finished candidate continues with padding, at no cost
            for _ in range(steps):
                log_probs = self._next_log_probs(self.decode(seqs, memory, src)[:, -1])  # (batch * k, vocab)
                log_probs = torch.where(done[:, None], finished, log_probs)
                total = (scores.view(-1, 1) + log_probs).view(batch, k * vocab)  # every extension of every beam
                scores, best = total.topk(k, dim=-1)  # (batch, k)
                rows = (torch.arange(batch, device=device)[:, None] * k + best // vocab).view(-1)  # their beams
                tokens = (best % vocab).view(-1, 1)
                seqs = torch.cat([seqs[rows], tokens], dim=1)
                done = done[rows] | (tokens[:, 0] == self.eos_id)
                if done.all():
                    break
        winner = scores.argmax(-1)  # (batch,)
        return seqs.view(batch, k, -1)[torch.arange(batch, device=device), winner]

    def _next_log_probs(self, logits: torch.Tensor) -> torch.Tensor:
        """log-softmax over the tokens a decoder may produce: ``(..., tgt_vocab)``, pad and bos at ``-inf``."""
        logits = logits.float().clone()
        logits[..., [self.pad_id, self.bos_id]] = float("-inf")  # never produced inside a sequence
        return F.log_softmax(logits, dim=-1)

    def _steps(self, max_length: int | None) -> int:
        """How many tokens a decoder may add after bos: ``max_length``, at most what the positions allow."""
        if max_length is None:
            return self.max_length - 1
        if not isinstance(max_length, int) or not 1 <= max_length < self.max_length:
            raise ValueError(f"max_length must be in 1..{self.max_length - 1} (the positions), got {max_length!r}.")
        return max_length

    def _embed(self, ids: torch.Tensor, embedding: nn.Embedding, vocab: int, name: str) -> torch.Tensor:
        """ids: ``(batch, time)`` -> ``(batch, time, embed_dim)``, scaled token embeddings plus positions."""
        if ids.is_floating_point() or ids.dtype == torch.bool or ids.ndim != 2:
            raise ValueError(f"Seq2SeqTransformer needs {name}: (batch, time) integer token ids, got {ids.dtype} "
                             f"of shape {tuple(ids.shape)}.")  # fmt: skip
        if not 1 <= ids.shape[1] <= self.max_length:
            raise ValueError(
                f"Seq2SeqTransformer(max_length={self.max_length}) takes 1..{self.max_length} tokens per sequence, "
                f"got {name} of shape {tuple(ids.shape)}."
            )
        if ids.min() < 0 or ids.max() >= vocab:
            raise ValueError(f"{name} token ids must be in 0..{vocab - 1}, got {ids.min().item()}..{ids.max().item()}.")
        x = embedding(ids) * math.sqrt(self.embed_dim) + self.positions[: ids.shape[1]]
        return self.dropout(x)

    def _keep(self, src: torch.Tensor) -> torch.Tensor:
        """True for the source tokens attention may look at: ``(batch, 1, 1, S)``, broadcast over heads and queries."""
        return (src != self.pad_id)[:, None, None, :]


@contextmanager
def _eval_mode(model: nn.Module):
    """Eval mode inside the block (no dropout), and the mode it had restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)
