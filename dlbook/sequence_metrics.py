"""Scoring generated sequences against references: exact match, and BLEU (Papineni et al., 2002).

A sequence is a string, read as a sequence of characters (right for dates such as ``"1987-03-05"``), or a
list of tokens (words from ``text.split()``, or token ids). Both functions take parallel lists, one
reference per candidate, and return a fraction in [0, 1]::

    exact_match(["1987-03-05", "2001-12-24"], ["1987-03-05", "2001-12-25"])   # 0.5
    bleu([c.split() for c in candidates], [r.split() for r in references])     # word-level BLEU-4
"""

import math
from collections import Counter

__all__ = ["bleu", "exact_match"]


def _tokens(sequence) -> tuple:
    """A string as its characters, any other sequence (list, tuple, 1-d tensor) as its items."""
    if isinstance(sequence, str):
        return tuple(sequence)
    if hasattr(sequence, "tolist"):
        sequence = sequence.tolist()
    try:
        return tuple(sequence)
    except TypeError:
        raise TypeError(f"a candidate or reference must be a string or a sequence of tokens, got "
                        f"{type(sequence).__name__}.") from None  # fmt: skip


def _pairs(candidates, references) -> list[tuple[tuple, tuple]]:
    """Check two parallel, non-empty lists; return them as (candidate, reference) token tuples."""
    if isinstance(candidates, str) or isinstance(references, str):
        raise TypeError("pass lists of sequences (one per example), not a single string.")
    candidates, references = list(candidates), list(references)
    if len(candidates) != len(references) or not candidates:
        raise ValueError(
            f"need one reference per candidate and at least one of each, got {len(candidates)} candidates "
            f"and {len(references)} references."
        )
    return [(_tokens(c), _tokens(r)) for c, r in zip(candidates, references, strict=True)]


def exact_match(candidates, references) -> float:
    """The fraction of candidates identical to their reference (every token, and the length)."""
    pairs = _pairs(candidates, references)
    return sum(c == r for c, r in pairs) / len(pairs)


def _ngrams(tokens: tuple, n: int) -> Counter:
    return Counter(tokens[i : i + n] for i in range(len(tokens) - n + 1))


def bleu(candidates, references, max_n: int = 4) -> float:
    """Corpus-level BLEU: the geometric mean of the n-gram precisions, n = 1 ... ``max_n``, times a brevity
    penalty.

    The precision of n-grams pools all candidates: matches over the candidates' n-grams, where an n-gram
    matches at most as often as it occurs in its reference (clipping: "the the the" earns one "the" from
    "the cat"). The brevity penalty is ``exp(1 - r / c)`` when the candidates' total length ``c`` is shorter
    than the references' ``r``, else 1. No smoothing: if some order n has no match at all, BLEU is 0.
    """
    if isinstance(max_n, bool) or not isinstance(max_n, int) or max_n < 1:
        raise ValueError(f"max_n must be a positive int, got {max_n!r}.")
    pairs = _pairs(candidates, references)
    matches, totals = [0] * max_n, [0] * max_n
    for candidate, reference in pairs:
        for n in range(1, max_n + 1):
            counts, allowed = _ngrams(candidate, n), _ngrams(reference, n)
            matches[n - 1] += sum(min(k, allowed[gram]) for gram, k in counts.items())
            totals[n - 1] += max(len(candidate) - n + 1, 0)
    if min(matches) == 0:
        return 0.0
    c, r = sum(len(candidate) for candidate, _ in pairs), sum(len(reference) for _, reference in pairs)
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals, strict=True)) / max_n
    brevity = 1.0 if c >= r else math.exp(1 - r / c)
    return brevity * math.exp(log_precision)
