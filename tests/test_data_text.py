"""dlbook.data's text and time series: the shipped files against the manifest and the licence note, every
loader against an independent reader of the same file, splits (contiguous, stratified, seeded, disjoint),
windows by hand, and corrupt files refused."""

import csv
import hashlib
import io
import json
import lzma
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import dlbook.data as data
from dlbook.data import files, series, text

REPO = Path(__file__).resolve().parent.parent
SHIPPED = {  # file -> (the words its licence note must hold, its SHA-256 as committed)
    "shakespeare.txt.xz": ("public domain", "fa43aab3a68770d7199808e64411e318c09b194901f925960be571bdbf3af560"),
    "rotten_tomatoes.tsv.xz": ("Apache License", "b5e624b7b927b5beb2f66a34722eb6fed85425f0eca71697b4adf97386414795"),
    "sunspots.csv": ("public domain", "f67889b1d9002cd5227f0e0ef54e35b419cdd85a31279adef6f73fb41e5c0a9b"),
    "co2.csv.xz": ("public domain", "6b97eead8c5b156e7d980a061ecda5a278124e6dac0a67fc8924cfe6d1ac3fd6"),
}


def raw_text(name: str) -> str:
    """A shipped xz file decoded here with lzma alone."""
    return lzma.decompress((files.SHIPPED_DIR / name).read_bytes()).decode("utf-8")


def licence_section(name: str) -> str:
    """The section of LICENSES.md headed ``## <name>:``, up to the next heading."""
    notes = (files.SHIPPED_DIR / "LICENSES.md").read_text()
    match = re.search(rf"^## {re.escape(name)}:.*?(?=^## |\Z)", notes, re.M | re.S)
    assert match, f"LICENSES.md has no section for {name}"
    return match.group()


# ---------- the shipped files ----------


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_file_matches_manifest_and_has_a_licence_note(name):
    words, committed = SHIPPED[name]
    entry = json.loads((files.SHIPPED_DIR / "manifest.json").read_text())[name]
    raw = (files.SHIPPED_DIR / name).read_bytes()
    assert hashlib.sha256(raw).hexdigest() == entry["sha256"] == committed
    assert len(raw) == entry["bytes"] < 2_500_000
    assert (REPO / entry["derived_by"]).is_file()
    section = licence_section(name)
    assert words.lower() in section.lower() and "Source:" in section and entry["derived_by"] in section


def test_rotten_tomatoes_licence_note_reproduces_apache_and_credits_the_collectors():
    section = licence_section("rotten_tomatoes.tsv.xz")
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in section  # the licence itself
    assert "Pang" in section and "Lee" in section and "`1` = fresh" in section and "`0` = rotten" in section


def test_shakespeare_licence_note_does_not_offer_the_text_under_the_gutenberg_name():
    section = " ".join(licence_section("shakespeare.txt.xz").split())
    assert "is not a Project Gutenberg eBook" in section and "trademark" in section


@pytest.mark.parametrize("name", ["shakespeare.txt.xz", "rotten_tomatoes.tsv.xz", "co2.csv.xz", "sunspots.csv"])
def test_a_corrupt_shipped_file_is_refused_even_after_it_was_read(tmp_path, monkeypatch, name):
    load = {
        "shakespeare.txt.xz": data.shakespeare,
        "rotten_tomatoes.tsv.xz": data.rotten_tomatoes,
        "co2.csv.xz": data.co2,
        "sunspots.csv": data.sunspots,
    }[name]
    load()  # cached now
    folder = tmp_path / "files"
    folder.mkdir()
    shutil.copy(files.SHIPPED_DIR / "manifest.json", folder)
    raw = bytearray((files.SHIPPED_DIR / name).read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    (folder / name).write_bytes(bytes(raw))
    monkeypatch.setattr(files, "SHIPPED_DIR", folder)
    with pytest.raises(data.ChecksumError, match=re.escape(name)) as error:
        load()
    assert SHIPPED[name][1] in str(error.value) and "reinstall" in str(error.value)


# ---------- Shakespeare ----------


def test_shakespeare_is_the_shipped_text_with_the_plays_and_known_lines():
    corpus = data.shakespeare()
    assert corpus == raw_text("shakespeare.txt.xz")
    assert len(corpus) == 4_845_546 and corpus.isascii() and len(set(corpus)) == 83
    assert corpus.count("by William Shakespeare") == 37
    assert corpus.startswith("ALL'S WELL THAT ENDS WELL\n\nby William Shakespeare\n")
    assert "\nHam.\nTo be, or not to be,--that is the question:--\n" in corpus
    assert "\nANTONY.\nFriends, Romans, countrymen, lend me your ears;\n" in corpus
    assert "\nTo-morrow, and to-morrow, and to-morrow,\nCreeps in this petty pace from day to day" in corpus
    assert "THE WINTER'S TALE" in corpus and "\nCYMBELINE\n" in corpus
    assert "From fairest creatures we desire increase" not in corpus  # the sonnets are left out


def test_shakespeare_has_no_gutenberg_boilerplate_and_normalized_lines():
    corpus = data.shakespeare()
    for phrase in ["gutenberg", "small print", "*** start", "*** end", "copyright", "world library", "www.", "http"]:
        assert phrase not in corpus.lower(), phrase
    assert not re.search(r"\be-?(text|book)s?\b", corpus, re.I)
    assert "\r" not in corpus and "\t" not in corpus
    assert not re.search(r" +\n", corpus) and "\n\n\n\n" not in corpus
    assert corpus.endswith("[Exeunt.]\n")


def test_shakespeare_is_decoded_once_per_process():
    assert data.shakespeare() is data.shakespeare()


@pytest.mark.parametrize("fractions", [(0.1, 0.1), (0.05, 0.2)])
def test_shakespeare_splits_are_contiguous_disjoint_blocks_cut_at_lines(fractions):
    val_fraction, test_fraction = fractions
    corpus = data.shakespeare()
    train, val, test = data.shakespeare_splits(val_fraction, test_fraction)
    assert train + val + test == corpus  # in order, nothing twice, nothing lost
    assert train.endswith("\n") and val.endswith("\n") and test.endswith("\n")
    for part, fraction in ((val, val_fraction), (test, test_fraction)):
        assert abs(len(part) - fraction * len(corpus)) < 200  # within a line of the fraction
    assert corpus.index(val) == len(train) and corpus.rindex(test) == len(train) + len(val)


def test_shakespeare_splits_default_puts_the_last_plays_in_test():
    train, val, test = data.shakespeare_splits()
    assert "HAMLET" in train and "THE WINTER'S TALE" in test and "THE WINTER'S TALE" not in train + val


@pytest.mark.parametrize("fractions", [(0, 0.1), (0.1, 0), (0.5, 0.5), (-0.1, 0.1), (0.1, 1.0), ("0.1", 0.1)])
def test_shakespeare_splits_refuses_bad_fractions(fractions):
    with pytest.raises(ValueError, match="fraction"):
        data.shakespeare_splits(*fractions)


# ---------- Rotten Tomatoes ----------


def reviews_here() -> dict[str, int]:
    """text -> label, read from the shipped file with csv alone."""
    rows = list(csv.reader(io.StringIO(raw_text("rotten_tomatoes.tsv.xz")), delimiter="\t", quoting=csv.QUOTE_NONE))
    assert rows[0] == ["label", "text"]
    return {review: int(label) for label, review in rows[1:]}


def test_rotten_tomatoes_parts_are_the_whole_file_disjoint_and_stratified():
    reviews = reviews_here()
    assert len(reviews) == 12_752 and sum(reviews.values()) == 7_368  # no text twice; 7,368 fresh, 5,384 rotten
    rt = data.rotten_tomatoes()
    assert isinstance(rt, data.TextData) and rt.classes == ["rotten", "fresh"]
    assert (len(rt.x_train), len(rt.x_val), len(rt.x_test)) == (9181, 1020, 2551)
    assert torch.bincount(rt.y_test).tolist() == [round(0.2 * 5384), round(0.2 * 7368)]
    assert torch.bincount(rt.y_val).tolist() == [round(0.1 * (5384 - 1077)), round(0.1 * (7368 - 1474))]
    parts = [set(rt.x_train), set(rt.x_val), set(rt.x_test)]
    assert sum(map(len, parts)) == 12_752 and set.union(*parts) == set(reviews)
    for x, y in ((rt.x_train, rt.y_train), (rt.x_val, rt.y_val), (rt.x_test, rt.y_test)):
        assert y.dtype == torch.int64 and [reviews[t] for t in x] == y.tolist()
    assert "TextData('rotten-tomatoes', train=9181, val=1020, test=2551" in repr(rt)


def test_rotten_tomatoes_labels_mean_fresh_1_and_rotten_0():
    reviews = reviews_here()
    assert reviews["A three-hour cinema master class."] == 1
    assert reviews["Great!"] == 1
    assert reviews["Eh."] == 0 and reviews["Crummy"] == 0


def test_rotten_tomatoes_texts_are_clean():
    reviews = reviews_here()
    assert not any(re.search(r"\s\s|^\s|\s$|&amp;|&quot;|[\n\t\r]", review) for review in reviews)
    assert min(map(len, reviews)) == 3 and max(map(len, reviews)) == 255
    assert "Chicago glorifies murder, glamorizes sex & death -- in other words it is just right for today's " \
           "unsunny times." in reviews  # fmt: skip


def test_rotten_tomatoes_split_is_seeded():
    first, again, other = data.rotten_tomatoes(seed=0), data.rotten_tomatoes(seed=0), data.rotten_tomatoes(seed=1)
    assert first.x_test == again.x_test and torch.equal(first.y_test, again.y_test)
    assert first.x_test != other.x_test and first.x_val != other.x_val
    small = data.rotten_tomatoes(val_fraction=0.2, test_fraction=0.1)
    assert (len(small.x_val), len(small.x_test)) == (2295, 1275)


@pytest.mark.parametrize("kwargs", [{"test_fraction": 0}, {"val_fraction": 1.0}])
def test_rotten_tomatoes_refuses_bad_fractions(kwargs):
    with pytest.raises(ValueError, match="fraction"):
        data.rotten_tomatoes(**kwargs)


def test_text_data_checks_its_parts():
    y = torch.zeros(2, dtype=torch.int64)
    good = {"x_train": ["a", "b"], "y_train": y, "x_val": ["c", "d"], "y_val": y, "x_test": ["e", "f"], "y_test": y}
    data.TextData("ok", **good, classes=["n", "p"])
    with pytest.raises(ValueError, match=r"y_val: \(3,\) int64"):
        data.TextData("bad", **{**good, "x_val": ["c", "d", "e"]}, classes=["n", "p"])
    with pytest.raises(ValueError, match="x_test must be a list of strings"):
        data.TextData("bad", **{**good, "x_test": np.array(["e", "f"])}, classes=["n", "p"])
    with pytest.raises(ValueError, match="int64"):
        data.TextData("bad", **{**good, "y_train": y.float()}, classes=["n", "p"])


# ---------- sunspots and CO2 ----------


def test_sunspots_years_and_values_match_the_csv():
    years, values = data.sunspots()
    with open(files.SHIPPED_DIR / "sunspots.csv", newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == ["YEAR", "SUNACTIVITY"]
    assert years.dtype == np.float32 and values.dtype == np.float32 and years.shape == values.shape == (309,)
    assert np.array_equal(years, np.arange(1700, 2009, dtype=np.float32))
    assert np.array_equal(values, np.array([float(v) for _, v in rows[1:]], dtype=np.float32))
    assert values[0] == 5 and values[-1] == np.float32(2.9) and values.min() == 0 and values.max() == np.float32(190.2)
    values[0] = -1  # the caller's copy: the next call is untouched
    assert data.sunspots()[1][0] == 5


def test_co2_is_weekly_with_the_missing_weeks_as_nan():
    dates, values = data.co2()
    rows = list(csv.reader(io.StringIO(raw_text("co2.csv.xz"))))
    assert rows[0] == ["date", "co2"] and len(rows) - 1 == len(dates) == len(values) == 2284
    assert dates.dtype == np.dtype("datetime64[D]") and values.dtype == np.float32
    assert str(dates[0]) == "1958-03-29" and str(dates[-1]) == "2001-12-29"
    assert (np.diff(dates) == np.timedelta64(7, "D")).all()
    assert [str(d).replace("-", "") for d in dates] == [date for date, _ in rows[1:]]
    missing = [value == "" for _, value in rows[1:]]
    assert np.isnan(values).tolist() == missing and sum(missing) == 59
    assert values[0] == np.float32(316.1) and 310 < np.nanmin(values) and np.nanmax(values) < 380


# ---------- windows and splits by time ----------


def test_windows_by_hand():
    s = np.arange(10.0, 17.0, dtype=np.float32)  # 10, 11, ..., 16
    x, y = data.windows(s, length=3, horizon=2)
    assert x.shape == (3, 3) and y.shape == (3, 2) and x.dtype == np.float32
    assert x.tolist() == [[10, 11, 12], [11, 12, 13], [12, 13, 14]]
    assert y.tolist() == [[13, 14], [14, 15], [15, 16]]
    x1, y1 = data.windows(s, length=6)
    assert x1.tolist() == [[10, 11, 12, 13, 14, 15]] and y1.tolist() == [[16]]  # the one window
    x[0, 0] = -1  # a copy, not a view of the series
    assert s[0] == 10


def test_windows_of_sunspots_follow_the_series():
    _, spots = data.sunspots()
    x, y = data.windows(spots, length=11, horizon=3)
    assert x.shape == (309 - 11 - 3 + 1, 11) and y.shape == (296, 3)
    for i in (0, 100, 295):
        assert np.array_equal(x[i], spots[i : i + 11]) and np.array_equal(y[i], spots[i + 11 : i + 14])


def test_windows_of_tensors_and_of_several_features():
    s = torch.arange(12.0).reshape(6, 2)  # 6 steps, 2 features
    x, y = data.windows(s, length=2, horizon=1)
    assert isinstance(x, torch.Tensor) and x.shape == (4, 2, 2) and y.shape == (4, 1, 2)
    assert torch.equal(x[1], s[1:3]) and torch.equal(y[3], s[5:6])
    xn, yn = data.windows(s.numpy(), length=2, horizon=1)
    assert np.array_equal(xn, x.numpy()) and np.array_equal(yn, y.numpy())
    x1, _ = data.windows(torch.arange(5), length=4)
    assert x1.tolist() == [[0, 1, 2, 3]] and x1.dtype == torch.int64


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((np.arange(5.0), 0), "length must be a positive int"),
        ((np.arange(5.0), 2.0), "length must be a positive int"),
        ((np.arange(5.0), 2, 0), "horizon must be a positive int"),
        ((np.arange(5.0), True), "length must be a positive int"),
        ((np.arange(5.0), 5), "too short .* at least 6"),
        ((np.zeros((4, 2, 2)), 2), r"\(T,\) or \(T, features\)"),
    ],
)
def test_windows_refuses_bad_arguments(args, message):
    with pytest.raises(ValueError, match=message):
        data.windows(*args)


def test_split_by_time_is_past_then_future():
    years, spots = data.sunspots()
    train, val, test = data.split_by_time(spots)
    assert (len(train), len(val), len(test)) == (216, 47, 46)  # round(309 * 0.7), round(309 * 0.85)
    assert np.array_equal(np.concatenate([train, val, test]), spots)
    y_train, y_val, y_test = data.split_by_time(years)
    assert y_train.max() < y_val.min() and y_val.max() < y_test.min() and y_test[-1] == 2008
    assert data.split_by_time(list(range(10)), 0.2, 0.2) == ([0, 1, 2, 3, 4, 5], [6, 7], [8, 9])
    with pytest.raises(ValueError, match="too few"):
        data.split_by_time([1, 2, 3], 0.1, 0.1)
    with pytest.raises(ValueError, match="below 1"):
        data.split_by_time(spots, 0.6, 0.4)


def test_module_docstrings_say_to_split_series_by_time():
    assert "never at random" in series.__doc__ and "by time" in data.windows.__doc__
    assert "contiguous" in text.shakespeare_splits.__doc__
