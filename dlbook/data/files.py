"""Where the book's data files live: finding them, checking their SHA-256, downloading them.

A dataset ``name`` is looked for in one of two ways:

- when ``DLBOOK_DATA`` is set, in ``$DLBOOK_DATA/<name>/`` alone (your own folder): if the dataset is not
  there, whether from a typo in the variable, a misnamed folder or a missing file, that is an error, never
  a quiet switch to another copy;
- otherwise in ``<system folder>/<name>/`` for each folder in :data:`SYSTEM_DIRS` (Debian's ``dataset-*``
  packages), then in the user cache ``${XDG_CACHE_HOME:-~/.cache}/dlbook/<name>/``; the first folder
  holding all its files wins.

``python -m dlbook.data fetch`` downloads what is missing into ``$DLBOOK_DATA/<name>/`` when the variable
is set, else into the user cache. ``~`` in any of these paths means your home folder.
"""

import contextlib
import glob
import hashlib
import json
import os
import shutil
import tempfile
import time
import urllib.request
from pathlib import Path

SYSTEM_DIRS = [Path("/usr/share/datasets")]
SHIPPED_DIR = Path(__file__).parent / "files"
STALE_PART_SECONDS = 600  # a download's .part file untouched this long was left behind by a killed run


class ChecksumError(ValueError):
    """A data file whose SHA-256 is not the one recorded for it."""


def cache_dir() -> Path:
    """The user cache for downloaded data: ``$XDG_CACHE_HOME/dlbook``, or ``~/.cache/dlbook`` when that
    variable is unset or not an absolute path (the XDG spec says a relative one is invalid and ignored)."""
    root = Path(os.environ.get("XDG_CACHE_HOME", "")).expanduser()
    return (root if root.is_absolute() else Path.home() / ".cache") / "dlbook"


def own_dir() -> Path | None:
    """``$DLBOOK_DATA`` as a path, or None when the variable is unset or empty."""
    value = os.environ.get("DLBOOK_DATA", "").strip()
    return Path(value).expanduser() if value else None


def search_dirs(name: str) -> list[Path]:
    """The folders searched for dataset ``name``, in order: ``$DLBOOK_DATA/<name>`` alone when it is set."""
    own = own_dir()
    return [own / name] if own is not None else [root / name for root in [*SYSTEM_DIRS, cache_dir()]]


def download_dir(name: str) -> Path:
    """Where :func:`fetch` downloads dataset ``name``: ``$DLBOOK_DATA/<name>`` when it is set, else the cache."""
    return (own_dir() or cache_dir()) / name


def find(name: str, filenames, hint: str = "") -> Path:
    """The first folder in :func:`search_dirs` that holds every file in ``filenames``."""
    for folder in search_dirs(name):
        if all((folder / filename).is_file() for filename in filenames):
            return folder
    own = own_dir()
    if own is not None:
        raise FileNotFoundError(_not_in_own_dir(name, filenames, own))
    places = "\n".join(f"  {folder}" for folder in search_dirs(name))
    raise FileNotFoundError(
        f"dataset {name!r} not found; looked for {', '.join(filenames)} in:\n{places}\n"
        "To get it: run `make setup` or `python -m dlbook.data fetch` (downloads it once, with internet), "
        f"{hint}or put the files in a folder of your own and set DLBOOK_DATA to its parent."
    )


def _not_in_own_dir(name: str, filenames, own: Path) -> str:
    """Why dataset ``name`` is not in ``$DLBOOK_DATA/<name>``, and the ways out."""
    folder, fetch = own / name, " (`python -m dlbook.data fetch` downloads them there)"
    if not own.is_dir():
        problem, fetch = f"the folder {own} does not exist", ""
    elif not folder.is_dir():
        others = sorted(p.name for p in own.iterdir() if p.is_dir())[:10]
        problem = f"{own} has no folder {name}/" + (f" (it has {', '.join(others)})" if others else "")
    else:
        problem = f"{folder} lacks {', '.join(f for f in filenames if not (folder / f).is_file())}"
    return (
        f"DLBOOK_DATA={os.environ['DLBOOK_DATA']!r} is set, so dataset {name!r} is read from {folder} alone, "
        f"but {problem}. It needs {', '.join(filenames)}. Put the files there{fetch}, fix DLBOOK_DATA (it names "
        f"the folder that holds {name}/), or unset DLBOOK_DATA to use the system folders and the user cache."
    )


def sha256(path: str | Path) -> str:
    """The SHA-256 of a file, as 64 hex digits."""
    digest = hashlib.sha256()
    with open(Path(path).expanduser(), "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: str | Path, expected: str, fix: str = "") -> Path:
    """Return ``path`` (``~`` expanded) if its SHA-256 is ``expected``, else raise :class:`ChecksumError`."""
    path = Path(path).expanduser()
    actual = sha256(path)
    if actual != expected:
        fix = fix or (
            "Delete it and run `python -m dlbook.data fetch` to get a good copy "
            "(for a file installed by a system package, reinstall that package)."
        )
        raise ChecksumError(
            f"{path} is corrupt or not the expected file: its SHA-256 is {actual}, expected {expected}. {fix}"
        )
    return path


def _remove_stale_parts(dest: Path) -> None:
    """Delete the ``.<dest's name>.*.part`` files beside ``dest`` that a killed download left behind.

    Only those untouched for :data:`STALE_PART_SECONDS`: a newer one may be a download running now
    in another process.
    """
    cutoff = time.time() - STALE_PART_SECONDS
    for part in dest.parent.glob(f".{glob.escape(dest.name)}.*.part"):
        with contextlib.suppress(OSError):  # gone already, or not ours to delete
            if part.stat().st_mtime < cutoff:
                part.unlink()


def download(url: str, dest: str | Path, sha256: str) -> Path:
    """Download ``url`` to ``dest`` if its SHA-256 matches; otherwise raise and leave nothing behind.

    The data goes to a temporary file beside ``dest`` and is renamed into place only after
    the check, so ``dest`` is either the complete, verified file or absent. Temporary files of
    earlier downloads of ``dest`` that were killed are removed first.
    """
    dest = Path(dest).expanduser()
    dest.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_parts(dest)
    handle, part = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(url, timeout=60) as source:  # offline-ok
            shutil.copyfileobj(source, out)
        verify(part, sha256, fix=f"The download from {url} was damaged or changed; nothing was saved.")
        os.replace(part, dest)
    finally:
        Path(part).unlink(missing_ok=True)
    return dest


def fetch(name: str, sha256s: dict[str, str], base_url: str, hint: str = "") -> Path:
    """Find dataset ``name`` or download its missing files into :func:`download_dir`; check every file.

    A ``DLBOOK_DATA`` naming a folder that does not exist is an error (FileNotFoundError), not a
    reason to download elsewhere. Temporary files left there by killed downloads are removed.
    """
    try:
        folder = find(name, sha256s, hint)
    except FileNotFoundError:
        if own_dir() is not None and not own_dir().is_dir():
            raise
        folder = download_dir(name)
        for filename, digest in sha256s.items():
            if not (folder / filename).is_file():
                print(f"{name}: downloading {base_url}{filename} into {folder}", flush=True)
                download(base_url + filename, folder / filename, digest)
    for filename, digest in sha256s.items():
        _remove_stale_parts(folder / filename)
        verify(folder / filename, digest)
    return folder


def shipped(filename: str) -> Path:
    """The path of a data file shipped inside dlbook, after checking it against ``files/manifest.json``."""
    manifest = json.loads((SHIPPED_DIR / "manifest.json").read_text())
    if filename not in manifest:
        raise KeyError(f"{filename!r} is not a file shipped with dlbook; known: {sorted(manifest)}.")
    return verify(
        SHIPPED_DIR / filename,
        manifest[filename]["sha256"],
        fix="The dlbook installation is damaged: restore the file with `git checkout` or reinstall dlbook.",
    )
