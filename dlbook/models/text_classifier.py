"""Classifying short texts by words: a word vocabulary, chapter 9's LSTM, a Transformer encoder, and saving
a trained classifier with its vocabulary so a script can serve it.

::

    vocab = WordVocabulary.from_texts(train_texts, min_count=2)
    ids = vocab.encode(texts)                            # (n, longest) word ids, 0 = padding
    model = TransformerClassifier(len(vocab), num_classes=2)
    logits = model(ids)                                  # (n, 2)
    save_classifier("sentiment.pt", model, vocab, classes=["rotten", "fresh"])
    model, vocab, classes = load_classifier("sentiment.pt")
"""

import math
import re

import torch
from torch import nn

from dlbook.checkpoint import load_checkpoint, save_checkpoint
from dlbook.layers.attention import TransformerBlock, sinusoidal_positions
from dlbook.layers.norm import LayerNorm

__all__ = ["LSTMClassifier", "TransformerClassifier", "WordVocabulary", "load_classifier", "save_classifier"]

WORD_PATTERN = r"[a-z0-9']+|[^\sa-z0-9']"  # chapter 9's words: lower-case words and punctuation marks
PAD, UNKNOWN = 0, 1


class WordVocabulary:
    """Lower-case words and punctuation marks -> ids; 0 is padding and 1 every word not in the vocabulary."""

    def __init__(self, words: list[str]):
        if len(set(words)) != len(words) or not all(isinstance(w, str) and w for w in words):
            raise ValueError("words must be distinct, non-empty strings.")
        self.words = list(words)
        self.ids = {w: i for i, w in enumerate(self.words, start=2)}

    @staticmethod
    def split(text: str) -> list[str]:
        """``"Not bad, at all!"`` -> ``["not", "bad", ",", "at", "all", "!"]``."""
        return re.findall(WORD_PATTERN, text.lower())

    @classmethod
    def from_texts(cls, texts: list[str], min_count: int = 2) -> "WordVocabulary":
        """Every word seen at least ``min_count`` times in ``texts``, the most frequent first."""
        counts: dict[str, int] = {}
        for text in texts:
            for word in cls.split(text):
                counts[word] = counts.get(word, 0) + 1
        return cls([w for w, n in sorted(counts.items(), key=lambda wn: -wn[1]) if n >= min_count])

    def __len__(self) -> int:
        """The number of ids, padding and unknown included."""
        return len(self.words) + 2

    def encode(self, texts: list[str], max_length: int | None = None) -> torch.Tensor:
        """texts -> ``(n, longest)`` int64 word ids, padded with 0 at the end; a text without words is one
        unknown id. ``max_length`` keeps each text's first ``max_length`` words."""
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise TypeError("encode takes a list of strings; wrap a single text as [text].")
        rows = [[self.ids.get(w, UNKNOWN) for w in self.split(t)][:max_length] or [UNKNOWN] for t in texts]
        out = torch.full((len(rows), max(map(len, rows), default=1)), PAD, dtype=torch.int64)
        for i, row in enumerate(rows):
            out[i, : len(row)] = torch.tensor(row)
        return out

    def __repr__(self) -> str:
        return f"WordVocabulary({len(self.words):,} words + padding and unknown)"


def _check_ids(ids: torch.Tensor, vocab_size: int, who: str) -> None:
    if ids.ndim != 2 or ids.is_floating_point() or ids.dtype == torch.bool or ids.shape[1] == 0:
        raise ValueError(f"{who} needs ids: (batch, time) integer word ids, got {ids.dtype} {tuple(ids.shape)}.")
    if ids.numel() and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"word ids must be in 0..{vocab_size - 1}, got {int(ids.min())}..{int(ids.max())}.")


class LSTMClassifier(nn.Module):
    """Chapter 9's review classifier: ids ``(batch, time)``, 0-padded -> embedding -> LSTM -> logits
    ``(batch, num_classes)``, read at each text's last word; dropout on the embeddings and the last output."""

    def __init__(self, vocab_size: int, num_classes: int = 2, size: int = 32, dropout: float = 0.3):
        super().__init__()
        self.config = dict(vocab_size=vocab_size, num_classes=num_classes, size=size, dropout=dropout)
        self.embed = nn.Embedding(vocab_size, size, padding_idx=PAD)
        self.lstm = nn.LSTM(size, size, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(size, num_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """ids: ``(batch, time)`` word ids, 0-padded -> logits ``(batch, num_classes)``."""
        _check_ids(ids, self.config["vocab_size"], "LSTMClassifier")
        lengths = (ids != PAD).sum(1).clamp(min=1)
        ids = ids[:, : lengths.max()]  # drop columns that are all padding
        output, _ = self.lstm(self.dropout(self.embed(ids)))
        last = output[torch.arange(len(ids)), lengths - 1]  # each text's end
        return self.head(self.dropout(last))


class TransformerClassifier(nn.Module):
    """ids ``(batch, time)``, 0-padded -> logits ``(batch, num_classes)``, with a Transformer encoder.

    Word embeddings (scaled by ``sqrt(embed_dim)``) plus sinusoidal positions go through ``num_layers``
    pre-norm :class:`~dlbook.layers.TransformerBlock` s, padding hidden from attention, then a LayerNorm;
    the outputs at the words (not the padding) are averaged and a linear layer gives the logits. Texts
    longer than ``max_length`` words are cut to their first ``max_length``.
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int = 2,
        embed_dim: int = 64,
        num_heads: int = 4,
        num_layers: int = 2,
        mlp_ratio: int = 2,
        dropout: float = 0.1,
        max_length: int = 128,
    ):
        super().__init__()
        self.config = dict(
            vocab_size=vocab_size, num_classes=num_classes, embed_dim=embed_dim, num_heads=num_heads,
            num_layers=num_layers, mlp_ratio=mlp_ratio, dropout=dropout, max_length=max_length,
        )  # fmt: skip
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD)
        nn.init.normal_(self.embed.weight, std=embed_dim**-0.5)
        self.register_buffer("positions", sinusoidal_positions(max_length, embed_dim), persistent=False)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            TransformerBlock(embed_dim, num_heads, mlp_ratio=mlp_ratio, dropout=dropout) for _ in range(num_layers)
        )
        self.norm = LayerNorm(embed_dim)
        self.head = nn.Linear(embed_dim, num_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """ids: ``(batch, time)`` word ids, 0-padded -> logits ``(batch, num_classes)``."""
        _check_ids(ids, self.config["vocab_size"], "TransformerClassifier")
        keep = ids[:, : self.config["max_length"]] != PAD  # (batch, time)
        keep[:, 0] |= ~keep.any(1)  # a text of padding alone still attends to something
        time = int(keep.sum(1).max())
        ids, keep = ids[:, :time], keep[:, :time]
        x = self.embed(ids) * math.sqrt(self.config["embed_dim"]) + self.positions[:time]
        x = self.dropout(x)
        for block in self.blocks:
            x = block(x, attn_mask=keep[:, None, None, :])  # keys that are padding are hidden
        x = self.norm(x)
        weights = keep.unsqueeze(-1).to(x.dtype)
        pooled = (x * weights).sum(1) / weights.sum(1)  # mean over the words
        return self.head(pooled)


KINDS = {"LSTMClassifier": LSTMClassifier, "TransformerClassifier": TransformerClassifier}


def save_classifier(path, model: nn.Module, vocab: WordVocabulary, classes: list[str]) -> None:
    """Save a trained :class:`LSTMClassifier` or :class:`TransformerClassifier` with its vocabulary and class
    names, atomically (:func:`dlbook.checkpoint.save_checkpoint`): weights and plain data, no code."""
    kind = type(model).__name__
    if kind not in KINDS:
        raise TypeError(f"save_classifier saves {sorted(KINDS)}, got {kind}.")
    if len(classes) != model.config["num_classes"]:
        raise ValueError(f"{len(classes)} class names for a model with {model.config['num_classes']} classes.")
    if len(vocab) != model.config["vocab_size"]:
        raise ValueError(f"the vocabulary has {len(vocab)} ids and the model {model.config['vocab_size']}.")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    save_checkpoint(path, kind=kind, config=dict(model.config), weights=state, words=vocab.words,
                    classes=list(classes), format="dlbook text classifier 1")  # fmt: skip


def load_classifier(path) -> tuple[nn.Module, WordVocabulary, list[str]]:
    """``(model, vocab, classes)`` from a file written by :func:`save_classifier`, the model in eval mode.

    Loaded with ``weights_only=True``. A missing file is a FileNotFoundError; a file that is not such a
    checkpoint (another checkpoint, or not a checkpoint at all) is a ValueError saying so.
    """
    try:
        state = load_checkpoint(path, map_location="cpu")
    except FileNotFoundError:
        raise FileNotFoundError(f"no model file at {path}: check the path, or save_classifier first.") from None
    except Exception as error:
        raise ValueError(
            f"{path} is not a model written by save_classifier (not a torch checkpoint at all, "
            f"{type(error.__cause__ or error).__name__}): pass the file that save_classifier wrote."
        ) from error
    if (
        not isinstance(state, dict)
        or state.get("format") != "dlbook text classifier 1"
        or state.get("kind") not in KINDS
    ):
        raise ValueError(f"{path} is a checkpoint, but not one written by save_classifier (no text classifier in it).")
    model = KINDS[state["kind"]](**state["config"])
    model.load_state_dict(state["weights"])
    return model.eval(), WordVocabulary(state["words"]), list(state["classes"])
