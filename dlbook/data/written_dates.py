"""A generated translation task that fits a CPU: dates written the ways people write them -> one format.

Generated, not collected: every pair is a real calendar date between 1 January 1950 and 31 December 2049,
written in one of the twelve source formats of ``FORMATS`` (drawn at random) and, as the target, in ISO
form (``"1987-03-05"``) or written out in French (``"5 mars 1987"``, ``"1er mai 2001"``) or German
(``"5. März 1987"``). The source formats, shown for Thursday 5 March 1987::

    thursday, march 5th 1987      Thursday, March 5, 1987      March 5, 1987       march 5th, 1987
    5 March 1987                  5 Mar 1987                   5th of march 1987   Thu 5 MAR 1987
    05 mar 87                     03/05/87                     3/5/1987            05.03.1987

With a slash the month comes first (US order), with a dot the day comes first (European order), so no
source is ambiguous. A two-digit year means 1950-1999 for 50-99 and 2000-2049 for 00-49. The weekday is
the true one (the model may learn to ignore it). A model must learn month names, ordinals, two date orders
and the century rule; its vocabulary is characters (:func:`~dlbook.data.date_vocabularies`).
"""

import datetime
import string

import numpy as np
import torch

from dlbook.checks import check_int
from dlbook.tokenize import CharTokenizer

FIRST_DAY, DAYS = datetime.date(1950, 1, 1), 36_525  # 1950-01-01 ... 2049-12-31
FORMATS = (
    "{weekday}, {month} {dth} {yyyy}",
    "{Weekday}, {Month} {d}, {yyyy}",
    "{Month} {d}, {yyyy}",
    "{month} {dth}, {yyyy}",
    "{d} {Month} {yyyy}",
    "{d} {Mon} {yyyy}",
    "{dth} of {month} {yyyy}",
    "{Wkd} {d} {MON} {yyyy}",
    "{dd} {mon} {yy}",
    "{mm}/{dd}/{yy}",
    "{m}/{d}/{yyyy}",
    "{dd}.{mm}.{yyyy}",
)
TARGETS = {"iso": "{yyyy}-{mm}-{dd}", "french": "{d_fr} {mois} {yyyy}", "german": "{d}. {Monat} {yyyy}"}
SPECIALS = ("<pad>", "<s>", "</s>")  # ids 0, 1, 2 in both vocabularies
PAD, BOS, EOS = 0, 1, 2

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]  # fmt: skip
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MOIS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
        "novembre", "décembre"]  # fmt: skip
MONATE = ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
          "November", "Dezember"]  # fmt: skip


def _ordinal(day: int) -> str:
    """1 -> '1st', 2 -> '2nd', 3 -> '3rd', 11 -> '11th', 22 -> '22nd' ..."""
    suffix = "th" if 11 <= day <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def render_date(day, template: str) -> str:
    """``day`` (a ``datetime.date``) written with a ``template`` of ``FORMATS`` or ``TARGETS``, e.g.
    ``render_date(datetime.date(1987, 3, 5), "{d} {Mon} {yyyy}") == "5 Mar 1987"``.

    Fields: ``d``/``dd`` day (``5``/``05``), ``dth`` ordinal (``5th``), ``m``/``mm`` month, ``yy``/``yyyy``
    year; ``weekday``/``Weekday``/``Wkd`` (``thursday``/``Thursday``/``Thu``); ``month``/``Month``/``Mon``/
    ``mon``/``MON`` (``march``/``March``/``Mar``/``mar``/``MAR``); French ``d_fr`` (``1er`` on the first,
    else the day) and ``mois`` (``mars``); German ``Monat`` (``März``).
    """
    month, weekday = MONTHS[day.month - 1], WEEKDAYS[day.weekday()]
    return template.format(
        d=day.day, dd=f"{day.day:02d}", dth=_ordinal(day.day), m=day.month, mm=f"{day.month:02d}",
        yy=f"{day.year % 100:02d}", yyyy=f"{day.year:04d}", weekday=weekday.lower(), Weekday=weekday,
        Wkd=weekday[:3], month=month.lower(), Month=month, Mon=month[:3], mon=month[:3].lower(),
        MON=month[:3].upper(), d_fr="1er" if day.day == 1 else day.day, mois=MOIS[day.month - 1],
        Monat=MONATE[day.month - 1],
    )  # fmt: skip


def _check_target(target: str) -> str:
    if target not in TARGETS:
        raise ValueError(f"target must be one of {sorted(TARGETS)}, got {target!r}.")
    return target


def dates(n: int, seed: int = 0, target: str = "iso") -> list[tuple[str, str]]:
    """``n`` generated ``(source, target)`` pairs of distinct dates, e.g. ``("5 Mar 1987", "1987-03-05")``.

    The dates are drawn without replacement from 1950-01-01 ... 2049-12-31 (so ``n <= 36,525``), in random
    order, each written in a source format of ``FORMATS`` drawn at random; ``target`` is ``"iso"``,
    ``"french"`` or ``"german"`` (see ``TARGETS``). The same ``seed`` gives the same pairs, and
    ``dates(n, seed)`` is the start of ``dates(m, seed)`` for ``m > n``.
    """
    n = check_int("n", n, minimum=1, maximum=DAYS, hint="There are 36,525 days in 1950-2049.")
    seed = check_int("seed", seed, minimum=0)
    template = TARGETS[_check_target(target)]
    rng = np.random.default_rng(seed)
    offsets, formats = rng.permutation(DAYS)[:n], rng.integers(len(FORMATS), size=DAYS)[:n]
    days = [FIRST_DAY + datetime.timedelta(days=int(k)) for k in offsets]
    return [(render_date(day, FORMATS[f]), render_date(day, template)) for day, f in zip(days, formats, strict=True)]


def dates_splits(
    n_train: int, n_val: int, n_test: int, seed: int = 0, target: str = "iso"
) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]:
    """Train, validation and test pairs of :func:`dates` with no date in two parts (in any format), so a
    model is scored on dates it has never seen. ``n_train + n_val + n_test <= 36,525``."""
    sizes = [check_int(name, k, minimum=1) for name, k in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test))]
    if sum(sizes) > DAYS:
        raise ValueError(
            f"n_train + n_val + n_test must be at most {DAYS:,} (the days of 1950-2049), got {sum(sizes):,}."
        )
    pairs = dates(sum(sizes), seed, target)
    return pairs[: sizes[0]], pairs[sizes[0] : sizes[0] + sizes[1]], pairs[sizes[0] + sizes[1] :]


def date_vocabularies(target: str = "iso") -> tuple[CharTokenizer, CharTokenizer]:
    """Character vocabularies ``(source, target)`` for :func:`dates`: every character any source format (or
    the ``target`` format) can write, after the special tokens ``<pad>``, ``<s>``, ``</s>`` (ids 0, 1, 2)."""
    template = TARGETS[_check_target(target)]
    year = [datetime.date(2000, 1, 1) + datetime.timedelta(days=k) for k in range(366)]  # every month, weekday, day
    sources = [render_date(day, f) for day in year for f in FORMATS]
    targets = [render_date(day, template) for day in year]
    return (CharTokenizer.from_text(sources + [string.digits], SPECIALS),
            CharTokenizer.from_text(targets + [string.digits], SPECIALS))  # fmt: skip


def pad_batch(sequences, pad_id: int = PAD) -> tuple[torch.Tensor, torch.Tensor]:
    """Sequences of ids of different lengths (lists or 1-d tensors) -> ``(ids: (batch, max_len), lengths:
    (batch,))``, both int64, each row padded on the right with ``pad_id``."""
    rows = [s.tolist() if isinstance(s, torch.Tensor | np.ndarray) else list(s) for s in sequences]
    if not rows:
        raise ValueError("pad_batch needs at least one sequence.")
    lengths = torch.tensor([len(row) for row in rows], dtype=torch.int64)
    ids = torch.full((len(rows), int(lengths.max())), check_int("pad_id", pad_id), dtype=torch.int64)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row, dtype=torch.int64)
    return ids, lengths


def encode_pairs(pairs, source: CharTokenizer, target: CharTokenizer) -> tuple[torch.Tensor, ...]:
    """``(source, target)`` string pairs -> ``(x: (batch, S), x_lengths: (batch,), y: (batch, T + 2),
    y_lengths: (batch,))``, padded with id 0; each ``y`` row is ``<s>``, the target's characters, ``</s>``.

    A decoder reads ``y[:, :-1]`` and learns to predict ``y[:, 1:]`` (ignore the padding in the loss with
    ``ignore_index=0``).
    """
    x, x_lengths = pad_batch([source.encode(s) for s, _ in pairs])
    y, y_lengths = pad_batch([[BOS, *target.encode(t), EOS] for _, t in pairs])
    return x, x_lengths, y, y_lengths


def decode_batch(ids, vocabulary: CharTokenizer) -> list[str]:
    """Generated ``ids: (batch, time)`` -> one string per row: the characters up to the first ``</s>``,
    leaving out ``<s>`` and ``<pad>``."""
    rows = ids.tolist() if isinstance(ids, torch.Tensor | np.ndarray) else [list(row) for row in ids]
    texts = []
    for row in rows:
        row = row[: row.index(EOS)] if EOS in row else row
        texts.append(vocabulary.decode([i for i in row if i not in (PAD, BOS)]))
    return texts
