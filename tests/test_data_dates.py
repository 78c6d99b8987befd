"""dlbook.data's generated date translation task against dates written here with ``strftime``, its splits and
vocabularies, the padding helpers, and dlbook.sequence_metrics (exact match, BLEU) against hand-worked scores."""

import datetime
import math
import re

import pytest
import torch

import dlbook
import dlbook.data as data
from dlbook.data import written_dates as dates_module
from dlbook.sequence_metrics import bleu, exact_match

DAY = datetime.date(1987, 3, 5)  # a Thursday


def ordinal(n: int) -> str:
    return f"{n}{'th' if n in (11, 12, 13) else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def written_here(day: datetime.date) -> list[str]:
    """The twelve source formats of a day, written with strftime (C locale) instead of dlbook's fields."""
    weekday, month, year, d, m = day.strftime("%A"), day.strftime("%B"), day.year, day.day, day.month
    return [
        f"{weekday.lower()}, {month.lower()} {ordinal(d)} {year}",
        day.strftime(f"%A, %B {d}, %Y"),
        day.strftime(f"%B {d}, %Y"),
        f"{month.lower()} {ordinal(d)}, {year}",
        day.strftime(f"{d} %B %Y"),
        day.strftime(f"{d} %b %Y"),
        f"{ordinal(d)} of {month.lower()} {year}",
        day.strftime(f"%a {d} {day.strftime('%b').upper()} %Y"),
        day.strftime("%d %b %y").lower(),
        day.strftime("%m/%d/%y"),
        f"{m}/{d}/{year}",
        day.strftime("%d.%m.%Y"),
    ]


def test_the_formats_are_the_ones_the_docstring_shows():
    shown = written_here(DAY)
    assert [dates_module.render_date(DAY, f) for f in dates_module.FORMATS] == shown
    for render in shown:
        assert render in dates_module.__doc__, render
    assert shown[0] == "thursday, march 5th 1987" and shown[9] == "03/05/87"
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 31)] == [
        dates_module.render_date(datetime.date(2000, 1, n), "{dth}") for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 31)
    ]


def test_every_day_of_the_range_once_each_in_one_of_the_formats():
    pairs = data.dates(36_525)
    days = [datetime.date.fromisoformat(target) for _, target in pairs]
    assert len(set(days)) == 36_525
    assert min(days) == datetime.date(1950, 1, 1) and max(days) == datetime.date(2049, 12, 31)
    used = [0] * 12
    for (source, _), day in zip(pairs, days, strict=True):
        used[written_here(day).index(source)] += 1  # the source is that day, in one of the twelve formats
    assert all(abs(n - 36_525 / 12) < 300 for n in used), used


def test_two_digit_years_and_the_two_numeric_orders():
    for source, target in data.dates(3000, seed=1):
        if re.fullmatch(r"\d\d/\d\d/\d\d", source):  # month first, 50-99 -> 19xx, 00-49 -> 20xx
            mm, dd, yy = map(int, source.split("/"))
            assert target == f"{1900 + yy if yy >= 50 else 2000 + yy}-{mm:02d}-{dd:02d}"
        elif re.fullmatch(r"\d\d\.\d\d\.\d{4}", source):  # day first
            dd, mm, yyyy = source.split(".")
            assert target == f"{yyyy}-{mm}-{dd}"


def test_french_and_german_targets():
    render = dates_module.render_date
    targets = dates_module.TARGETS
    assert render(datetime.date(2001, 5, 1), targets["french"]) == "1er mai 2001"
    assert render(datetime.date(1987, 8, 15), targets["french"]) == "15 août 1987"
    assert render(datetime.date(1987, 3, 5), targets["german"]) == "5. März 1987"
    assert render(datetime.date(2049, 12, 31), targets["german"]) == "31. Dezember 2049"
    iso, french = data.dates(50, seed=3), data.dates(50, seed=3, target="french")
    assert [s for s, _ in iso] == [s for s, _ in french]  # the same days in the same formats
    for (_, day), (_, words) in zip(iso, french, strict=True):
        year, month, d = map(int, day.split("-"))
        assert words == f"{'1er' if d == 1 else d} {dates_module.MOIS[month - 1]} {year}"


def test_dates_are_seeded_and_grow_by_extension():
    assert data.dates(100, seed=5) == data.dates(100, seed=5) != data.dates(100, seed=6)
    assert data.dates(1000, seed=5)[:100] == data.dates(100, seed=5)


def test_splits_share_no_date():
    train, val, test = data.dates_splits(3000, 500, 400, seed=2)
    assert (len(train), len(val), len(test)) == (3000, 500, 400)
    days = [{target for _, target in part} for part in (train, val, test)]
    assert sum(map(len, days)) == 3900 and len(set.union(*days)) == 3900
    assert train + val + test == data.dates(3900, seed=2)
    _, _, test_fr = data.dates_splits(3000, 500, 400, seed=2, target="german")
    assert [s for s, _ in test_fr] == [s for s, _ in test]


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: data.dates(0), ValueError, "positive int"),
        (lambda: data.dates(36_526), ValueError, "36,525 days"),
        (lambda: data.dates(10.0), TypeError, "n must be"),
        (lambda: data.dates(10, target="klingon"), ValueError, r"target must be one of \['french', 'german', 'iso'\]"),
        (lambda: data.dates_splits(30_000, 5000, 2000), ValueError, "at most 36,525"),
        (lambda: data.dates_splits(100, 0, 10), ValueError, "n_val"),
        (lambda: data.date_vocabularies("en"), ValueError, "target must be one of"),
    ],
)
def test_dates_refuse_clearly(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("target", ["iso", "french", "german"])
def test_vocabularies_hold_every_character_of_every_pair(target):
    source, target_vocab = data.date_vocabularies(target)
    assert source.itos[:3] == target_vocab.itos[:3] == ["<pad>", "<s>", "</s>"]
    pairs = data.dates(36_525, target=target)
    assert set("".join(s for s, _ in pairs)) == set(source.chars)  # every character is used, none missing
    assert set("".join(t for _, t in pairs)) == set(target_vocab.chars)
    if target == "iso":
        assert target_vocab.chars == list("-0123456789") and source.vocab_size == 59


def test_pad_batch_by_hand():
    ids, lengths = data.pad_batch([[5, 6, 7], [8], []])
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0], [0, 0, 0]] and lengths.tolist() == [3, 1, 0]
    assert ids.dtype == lengths.dtype == torch.int64
    ids, lengths = data.pad_batch([torch.tensor([1, 2]), torch.tensor([3, 4, 5])], pad_id=9)
    assert ids.tolist() == [[1, 2, 9], [3, 4, 5]] and lengths.tolist() == [2, 3]
    with pytest.raises(ValueError, match="at least one"):
        data.pad_batch([])


def test_encode_pairs_and_decode_batch_round_trip():
    pairs = data.dates(64, seed=4, target="german")
    source, target = data.date_vocabularies("german")
    x, x_lengths, y, y_lengths = data.encode_pairs(pairs, source, target)
    assert x.shape == (64, int(x_lengths.max())) and y.shape == (64, int(y_lengths.max()))
    assert (y[:, 0] == 1).all() and (y[torch.arange(64), y_lengths - 1] == 2).all()
    assert y_lengths.tolist() == [len(t) + 2 for _, t in pairs] and x_lengths.tolist() == [len(s) for s, _ in pairs]
    assert data.decode_batch(y, target) == [t for _, t in pairs]
    assert data.decode_batch(x, source) == [s for s, _ in pairs]


def test_decode_batch_reads_up_to_the_first_end():
    _, target = data.date_vocabularies()
    one, dash = target.stoi["1"], target.stoi["-"]
    generated = torch.tensor([[1, one, dash, 2, one, one], [1, one, one, one, one, one], [1, 2, 0, 0, 0, 0]])
    assert data.decode_batch(generated, target) == ["1-", "11111", ""]
    assert data.decode_batch([[one, 2]], target) == ["1"]


def test_exports():
    for name in ("dates", "dates_splits", "date_vocabularies", "pad_batch", "encode_pairs", "decode_batch"):
        assert name in data.__all__ and f":func:`{name}`" in data.__doc__
    assert dlbook.sequence_metrics.bleu is bleu


# ---------- exact match and BLEU ----------


def test_exact_match():
    assert exact_match(["1987-03-05", "2001-12-24"], ["1987-03-05", "2001-12-25"]) == 0.5
    assert exact_match([[1, 2], torch.tensor([3])], [[1, 2], [3, 4]]) == 0.5  # token ids, tensors too
    assert exact_match(["ab"], ["ab"]) == 1.0 and exact_match(["ab"], ["abc"]) == 0.0


def test_bleu_hand_worked():
    # "the cat sat on the mat" against "the cat is on the mat", words: unigrams 5/6 (the x2, cat, on, mat),
    # bigrams 3/5 ("the cat", "on the", "the mat"); equal lengths, no penalty: BLEU-2 = sqrt(5/6 * 3/5).
    candidate, reference = "the cat sat on the mat".split(), "the cat is on the mat".split()
    assert bleu([candidate], [reference], max_n=2) == pytest.approx(math.sqrt(0.5))
    # Pooled over a corpus: add "a dog" against "a dog barks loudly" (2/2 unigrams, 1/1 bigrams):
    # p1 = 7/8, p2 = 4/6, and 8 candidate words against 10 reference words: penalty exp(1 - 10/8).
    score = bleu([candidate, "a dog".split()], [reference, "a dog barks loudly".split()], max_n=2)
    assert score == pytest.approx(math.exp(1 - 10 / 8) * math.sqrt(7 / 8 * 4 / 6))


def test_bleu_clips_counts_and_needs_every_order():
    # Papineni et al.'s example: seven "the" earn only the two "the" of the reference; 7 > 6, no penalty.
    assert bleu([["the"] * 7], ["the cat is on the mat".split()], max_n=1) == pytest.approx(2 / 7)
    assert bleu(["1987-03-05"], ["1987-03-05"]) == 1.0  # strings are characters
    assert bleu(["1987-03-05"], ["1978-30-50"]) == 0.0  # no 4-gram in common: no smoothing
    assert bleu(["1987-03"], ["1987-03-05"]) == pytest.approx(math.exp(1 - 10 / 7))  # all n-grams match
    assert bleu([""], ["abc"]) == 0.0


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: bleu(["a"], ["a", "b"]), ValueError, "one reference per candidate"),
        (lambda: bleu([], []), ValueError, "at least one"),
        (lambda: exact_match("abc", "abc"), TypeError, "not a single string"),
        (lambda: bleu(["abc"], ["abc"], max_n=0), ValueError, "max_n must be a positive int"),
        (lambda: bleu([3], ["abc"]), TypeError, "a string or a sequence of tokens"),
    ],
)
def test_metrics_refuse_clearly(call, error, match):
    with pytest.raises(error, match=match):
        call()
