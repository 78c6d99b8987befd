"""Tokenizers built from scratch: one id per character, and a byte-pair encoding learned from a corpus.

A model reads integers, not text. :class:`CharTokenizer` gives each character seen in a text its own id;
:class:`BPETokenizer` starts from the 256 byte values, so that any text can be encoded, and learns to merge
the most frequent neighbouring pair of tokens into a new token, again and again, until the vocabulary has
the size asked for (Sennrich et al., 2016; byte-level as in GPT-2)::

    text = dlbook.data.shakespeare()[:1_000_000]
    chars = CharTokenizer.from_text(text)              # 1 token per character
    bpe = BPETokenizer.train(text, vocab_size=512)     # 256 bytes + 256 merges
    ids = bpe.encode("To be, or not to be")            # fewer tokens than characters
    assert bpe.decode(ids) == "To be, or not to be"

Both save to and load from a dictionary of strings and ints that ``json.dump`` can write
(``state_dict()`` and ``from_state_dict(state)``).
"""

import heapq
import re
from collections import Counter
from itertools import pairwise

import numpy as np
import torch

from dlbook.checks import check_int

__all__ = ["SPLIT_PATTERN", "BPETokenizer", "CharTokenizer"]

# GPT-2's pre-split (Radford et al., 2019) in the standard library's ``re``: English contractions, a word of
# letters, a run of digits, a run of other symbols (each may take the one space before it), then whitespace.
# ``[^\W\d_]`` is a letter; ``_`` goes with the symbols, as in GPT-2. Every character lands in some piece.
SPLIT_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+"""


def _ids_list(ids) -> list[int]:
    """A sequence of ids (list, tuple, 1-d tensor or array) as a list of Python ints."""
    if isinstance(ids, torch.Tensor | np.ndarray):
        if ids.ndim != 1:
            raise ValueError(f"decode takes one sequence of ids, shape (length,), got shape {tuple(ids.shape)}; "
                             "for a batch, decode each row.")  # fmt: skip
        if ids.dtype.kind == "f" if isinstance(ids, np.ndarray) else ids.is_floating_point():
            raise TypeError(f"ids must be integers, got {ids.dtype}.")
        return ids.tolist()
    ids = list(ids)
    bad = [i for i in ids if isinstance(i, bool) or not isinstance(i, int | np.integer)]
    if bad:
        raise TypeError(f"ids must be ints, got {bad[0]!r} ({type(bad[0]).__name__}).")
    return [int(i) for i in ids]


def _check_range(ids: list[int], size: int) -> None:
    bad = [i for i in ids if not 0 <= i < size]
    if bad:
        raise ValueError(f"ids must be in [0, {size}) for this vocabulary of {size}, got {bad[0]}.")


def _as_output(ids: list[int], tensor: bool):
    return torch.tensor(ids, dtype=torch.long) if tensor else ids


class CharTokenizer:
    """One id per character: ``specials`` (if any) take ids ``0, 1, ...``, then ``chars`` in their order.

    ``itos[i]`` is the token of id ``i`` and ``stoi[token]`` its id. Special tokens such as ``"<pad>"`` are
    whole tokens that :meth:`encode` never produces from text; they are for padding and marking the start
    and end of a sequence. Build one from a corpus with :meth:`from_text`.
    """

    def __init__(self, chars, specials=()):
        chars, specials = list(chars), list(specials)
        if not all(isinstance(c, str) and len(c) == 1 for c in chars):
            raise ValueError(f"chars must be single characters, got {[c for c in chars if len(str(c)) != 1][:3]}.")
        if not all(isinstance(s, str) and s for s in specials):
            raise ValueError(f"specials must be non-empty strings, got {specials!r}.")
        itos = specials + chars
        repeated = sorted({t for t in itos if itos.count(t) > 1})
        if repeated:
            raise ValueError(f"each token must appear once, got {repeated} more than once.")
        self.chars, self.specials, self.itos = chars, specials, itos
        self.stoi = {token: i for i, token in enumerate(itos)}
        codes = np.array([ord(c) for c in chars], dtype=np.int64)
        self._order = np.argsort(codes, kind="stable")
        self._codes = codes[self._order]  # sorted code points, for a vectorized look-up in encode

    @classmethod
    def from_text(cls, text, specials=()) -> "CharTokenizer":
        """The characters of ``text`` (a string, or a list of strings), sorted by code point, after
        ``specials``."""
        texts = [text] if isinstance(text, str) else list(text)
        if not all(isinstance(t, str) for t in texts):
            raise TypeError("text must be a string or a list of strings.")
        return cls(sorted(set().union(*map(set, texts))), specials)

    @property
    def vocab_size(self) -> int:
        """The number of ids: special tokens plus characters."""
        return len(self.itos)

    def encode(self, text: str, tensor: bool = False):
        """``text`` -> its ids, a list of ints (or a ``(len(text),)`` long tensor with ``tensor=True``).

        A character outside the vocabulary is a ValueError that names it.
        """
        if not isinstance(text, str):
            raise TypeError(f"encode takes a string, got {type(text).__name__}.")
        points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        where = np.searchsorted(self._codes, points).clip(max=max(len(self._codes) - 1, 0))
        known = self._codes[where] == points if len(self._codes) else np.zeros(len(points), bool)
        if not known.all():
            unknown = sorted({text[i] for i in np.flatnonzero(~known)})
            raise ValueError(
                f"characters not in the vocabulary: {', '.join(map(repr, unknown[:10]))}"
                f"{' ...' if len(unknown) > 10 else ''} (first at position {np.argmin(known)}); build the "
                "tokenizer from a text that holds them, or replace them before encoding."
            )
        ids = (self._order[where] + len(self.specials)).tolist()
        return _as_output(ids, tensor)

    def decode(self, ids) -> str:
        """Ids (a list, or a 1-d tensor or array) -> the string; a special token appears as its name."""
        ids = _ids_list(ids)
        _check_range(ids, self.vocab_size)
        return "".join(self.itos[i] for i in ids)

    def state_dict(self) -> dict:
        """Everything needed to rebuild this tokenizer, as plain strings and lists (JSON-able)."""
        return {"kind": "CharTokenizer", "chars": "".join(self.chars), "specials": list(self.specials)}

    @classmethod
    def from_state_dict(cls, state: dict) -> "CharTokenizer":
        """The tokenizer saved by :meth:`state_dict`."""
        if not isinstance(state, dict) or state.get("kind") != "CharTokenizer":
            raise ValueError("not the state of a CharTokenizer: need a dict from CharTokenizer.state_dict().")
        return cls(state["chars"], state["specials"])

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size}, specials={self.specials})"


class BPETokenizer:
    """A byte-level byte-pair encoding: ids 0-255 are the bytes, id ``256 + k`` is the ``k``-th merge.

    ``merges[k] = (a, b)`` means tokens ``a`` and ``b``, side by side, become token ``256 + k``. Text is
    first cut into pieces with the regular expression ``pattern`` (default ``SPLIT_PATTERN``, GPT-2's:
    words with the space before them, runs of digits, runs of punctuation, whitespace), and merges act
    inside a piece, never across two. Learn the merges with :meth:`train`.
    """

    def __init__(self, merges=(), pattern: str = SPLIT_PATTERN):
        merges = [tuple(pair) for pair in merges]
        for k, pair in enumerate(merges):
            ok = len(pair) == 2 and all(isinstance(t, int) and not isinstance(t, bool) for t in pair)
            if not ok or not all(0 <= t < 256 + k for t in pair):
                raise ValueError(f"merge {k} must be a pair of ids below {256 + k} (made earlier), got {pair!r}.")
        try:
            self._split = re.compile(pattern)
        except (re.error, TypeError) as error:
            raise ValueError(f"pattern must be a regular expression, got {pattern!r}: {error}") from None
        self.merges, self.pattern = merges, pattern
        self.ranks = {pair: k for k, pair in enumerate(merges)}  # (a, b) -> k; the merge makes id 256 + k
        self.vocab = [bytes([b]) for b in range(256)]  # id -> its bytes
        for a, b in merges:
            self.vocab.append(self.vocab[a] + self.vocab[b])
        self._cache: dict[str, list[int]] = {}

    @classmethod
    def train(cls, text: str, vocab_size: int, pattern: str = SPLIT_PATTERN, min_frequency: int = 2) -> "BPETokenizer":
        """Learn ``vocab_size - 256`` merges from ``text``: each time, the most frequent pair of neighbouring
        tokens (ties to the pair of smallest ids) becomes a new token.

        Pairs are counted once, then updated only in the pieces a merge changes, so a merge costs time in
        proportion to where its pair occurs, not to the whole text. Training stops early, with a smaller
        vocabulary, when no pair occurs ``min_frequency`` times. ``pattern`` is the pre-split (see the class);
        about a second for 500 merges on 1 MB of Shakespeare, on one CPU thread.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, got {type(text).__name__}.")
        vocab_size = check_int("vocab_size", vocab_size, minimum=256, hint="The 256 byte values come first.")
        min_frequency = check_int("min_frequency", min_frequency, minimum=1)
        tokenizer = cls((), pattern)
        pieces = Counter(tokenizer._split.findall(text))
        words = [list(piece.encode("utf-8")) for piece in pieces]
        counts = list(pieces.values())
        pairs: Counter = Counter()  # (a, b) -> occurrences in the text
        where: dict[tuple[int, int], set[int]] = {}  # (a, b) -> the pieces that may hold it
        for w, (word, count) in enumerate(zip(words, counts, strict=True)):
            for pair in pairwise(word):
                pairs[pair] += count
                where.setdefault(pair, set()).add(w)
        heap = [(-n, pair) for pair, n in pairs.items()]
        heapq.heapify(heap)
        merges = []
        while len(merges) < vocab_size - 256 and heap:
            n, pair = heapq.heappop(heap)
            if pairs.get(pair, 0) != -n:
                continue  # a stale entry: the count changed after it was pushed
            if -n < min_frequency:
                break
            new = 256 + len(merges)
            merges.append(pair)
            changed = set()
            for w in where.pop(pair):
                word, count = words[w], counts[w]
                if len(word) < 2:
                    continue
                merged = _merge(word, pair, new)
                if len(merged) == len(word):
                    continue  # the pair left this piece in an earlier merge
                for old in pairwise(word):
                    pairs[old] -= count
                    changed.add(old)
                for fresh in pairwise(merged):
                    pairs[fresh] += count
                    changed.add(fresh)
                    where.setdefault(fresh, set()).add(w)
                words[w] = merged
            for p in changed:
                if pairs[p] > 0:
                    heapq.heappush(heap, (-pairs[p], p))
                else:
                    del pairs[p]
        return cls(merges, pattern)

    @property
    def vocab_size(self) -> int:
        """256 bytes plus one token per merge."""
        return 256 + len(self.merges)

    def _encode_piece(self, piece: str) -> list[int]:
        """One piece of the pre-split: its bytes, then the merges by rank (the earliest learned first)."""
        ids = self._cache.get(piece)
        if ids is None:
            ids = list(piece.encode("utf-8"))
            while len(ids) > 1:
                pair = min(pairwise(ids), key=lambda p: self.ranks.get(p, len(self.ranks)))
                if pair not in self.ranks:
                    break
                ids = _merge(ids, pair, 256 + self.ranks[pair])
            if len(self._cache) >= 1 << 17:
                self._cache.clear()  # bounded memory for endless streams of new pieces
            self._cache[piece] = ids
        return ids

    def encode(self, text: str, tensor: bool = False):
        """``text`` -> token ids, a list of ints (or a ``(tokens,)`` long tensor with ``tensor=True``).

        Every string can be encoded: it is UTF-8 bytes before it is merged (only a lone surrogate, which
        UTF-8 cannot hold, is a ``UnicodeEncodeError``). Pieces already seen are looked up in a cache, so a
        long text costs little more than its distinct pieces.
        """
        if not isinstance(text, str):
            raise TypeError(f"encode takes a string, got {type(text).__name__}.")
        ids: list[int] = []
        for piece in self._split.findall(text):
            ids += self._encode_piece(piece)
        return _as_output(ids, tensor)

    def decode(self, ids) -> str:
        """Token ids (a list, or a 1-d tensor or array) -> the string.

        ``decode(encode(text)) == text`` for every string. Ids that cut a multi-byte character in two
        (possible with a single token, or with ids a model generated) decode it as the replacement
        character U+FFFD.
        """
        ids = _ids_list(ids)
        _check_range(ids, self.vocab_size)
        return b"".join(self.vocab[i] for i in ids).decode("utf-8", errors="replace")

    def pieces(self, text: str) -> list[str]:
        """The tokens of ``text`` as strings, to look at how a text is cut: ``"".join(pieces) == text``
        when no token splits a character."""
        return [self.vocab[i].decode("utf-8", errors="replace") for i in self.encode(text)]

    def state_dict(self) -> dict:
        """The merges and the pre-split pattern, as plain lists and strings (JSON-able)."""
        return {"kind": "BPETokenizer", "pattern": self.pattern, "merges": [list(pair) for pair in self.merges]}

    @classmethod
    def from_state_dict(cls, state: dict) -> "BPETokenizer":
        """The tokenizer saved by :meth:`state_dict`."""
        if not isinstance(state, dict) or state.get("kind") != "BPETokenizer":
            raise ValueError("not the state of a BPETokenizer: need a dict from BPETokenizer.state_dict().")
        return cls(state["merges"], state["pattern"])

    def __repr__(self) -> str:
        return f"BPETokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)})"


def _merge(ids: list[int], pair: tuple[int, int], new: int) -> list[int]:
    """``ids`` with every occurrence of ``pair``, read left to right without overlap, replaced by ``new``."""
    out, i, a, b = [], 0, *pair
    n = len(ids)
    while i < n:
        if i < n - 1 and ids[i] == a and ids[i + 1] == b:
            out.append(new)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out
