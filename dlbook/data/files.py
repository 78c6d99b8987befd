"""Where the book's data files live: finding them, checking their SHA-256, downloading them.

A dataset ``name`` is looked for in a fixed order (the first folder holding all its files wins):

1. ``$DLBOOK_DATA/<name>/`` (your own folder, when the variable is set);
2. ``<system folder>/<name>/`` for each folder in :data:`SYSTEM_DIRS` (Debian's ``dataset-*`` packages);
3. ``${XDG_CACHE_HOME:-~/.cache}/dlbook/<name>/`` (where ``python -m dlbook.data fetch`` downloads to).
"""

import hashlib
import json
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path

SYSTEM_DIRS = [Path("/usr/share/datasets")]
SHIPPED_DIR = Path(__file__).parent / "files"


class ChecksumError(ValueError):
    """A data file whose SHA-256 is not the one recorded for it."""


def cache_dir() -> Path:
    """The user cache for downloaded data: ``${XDG_CACHE_HOME:-~/.cache}/dlbook``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "dlbook"


def search_dirs(name: str) -> list[Path]:
    """The folders searched for dataset ``name``, in order."""
    roots = [Path(os.environ["DLBOOK_DATA"]).expanduser()] if os.environ.get("DLBOOK_DATA") else []
    return [root / name for root in [*roots, *SYSTEM_DIRS, cache_dir()]]


def find(name: str, filenames, hint: str = "") -> Path:
    """The first folder in :func:`search_dirs` that holds every file in ``filenames``."""
    for folder in search_dirs(name):
        if all((folder / filename).is_file() for filename in filenames):
            return folder
    places = "\n".join(f"  {folder}" for folder in search_dirs(name))
    raise FileNotFoundError(
        f"dataset {name!r} not found; looked for {', '.join(filenames)} in:\n{places}\n"
        "To get it: run `make setup` or `python -m dlbook.data fetch` (downloads it once, with internet), "
        f"{hint}or put the files in a folder of your own and set DLBOOK_DATA to its parent."
    )


def sha256(path: str | Path) -> str:
    """The SHA-256 of a file, as 64 hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: str | Path, expected: str, fix: str = "") -> Path:
    """Return ``path`` if its SHA-256 is ``expected``, else raise :class:`ChecksumError`."""
    actual = sha256(path)
    if actual != expected:
        fix = fix or (
            "Delete it and run `python -m dlbook.data fetch` to get a good copy "
            "(for a file installed by a system package, reinstall that package)."
        )
        raise ChecksumError(
            f"{path} is corrupt or not the expected file: its SHA-256 is {actual}, expected {expected}. {fix}"
        )
    return Path(path)


def download(url: str, dest: str | Path, sha256: str) -> Path:
    """Download ``url`` to ``dest`` if its SHA-256 matches; otherwise raise and leave nothing behind.

    The data goes to a temporary file beside ``dest`` and is renamed into place only after
    the check, so ``dest`` is either the complete, verified file or absent.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
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
    """Find dataset ``name`` or download its missing files into the user cache; check every file."""
    try:
        folder = find(name, sha256s, hint)
    except FileNotFoundError:
        folder = cache_dir() / name
        for filename, digest in sha256s.items():
            if not (folder / filename).is_file():
                print(f"{name}: downloading {base_url}{filename}", flush=True)
                download(base_url + filename, folder / filename, digest)
    for filename, digest in sha256s.items():
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
