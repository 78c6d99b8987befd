"""Execute every chapter notebook and record its wall time and headline metrics (its glued numbers).

    python benchmarks/run_chapters.py --scale full               # `make gpu`: every chapter, full scale
    python benchmarks/run_chapters.py chapters/02_*.ipynb        # some chapters, at book scale

Writes benchmarks/results/<date>-<device>.json, e.g. 2026-11-29-nvidia-h200.json (a book-scale run:
2026-11-29-cpu-book.json; ``--out`` chooses another file): the scale, the device, torch's version and
the CPU threads, then per chapter the wall time and every number the chapter glues into its prose.

The notebooks run in Jupyter kernels started by this script, which inherit its environment: ``--scale``
sets DLBOOK_SCALE for them (as does DLBOOK_SCALE in the environment), and each chapter's first line of
output, printed by ``dlbook.start()``, is recorded to show the scale, device and threads it really ran with.
"""

import argparse
import ast
import json
import os
import platform
import re
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import nbformat
import torch
from nbclient import NotebookClient

import dlbook
from dlbook.hardware import allowed_cpus, describe, slug

ROOT = Path(__file__).resolve().parents[1]
START_LINE = re.compile(r"dlbook (?P<version>\S+) \| scale: (?P<scale>\w+) \| device: (?P<device>\S+) \| "
                        r"CPU threads: (?P<threads>\d+)")  # fmt: skip


def plain(text: str):
    """A glued value as JSON can hold it: a number or string when its text is one, else the text itself."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text
    return value if isinstance(value, int | float | str | bool) else text


def glued_values(nb) -> dict:
    """Every ``glue(name, value)`` in an executed notebook, by name.

    myst-nb stores a value glued with ``display=False`` under a prefixed mime type
    (``application/papermill.record/text/plain``), named in the output's scrapbook metadata.
    """
    values = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            scrapbook = output.get("metadata", {}).get("scrapbook", {})
            if scrapbook.get("name"):
                text = output.get("data", {}).get(scrapbook.get("mime_prefix", "") + "text/plain", "")
                values[scrapbook["name"]] = plain(text)
    return values


def started_with(nb) -> dict:
    """The scale, device and CPU threads a chapter says it started with (``dlbook.start()``'s line)."""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            match = START_LINE.search(output.get("text", "")) if output.get("output_type") == "stream" else None
            if match:
                return {**match.groupdict(), "threads": int(match["threads"])}
    return {}


def run(path: Path, timeout: int) -> dict:
    nb = nbformat.read(path, as_version=4)
    resources = {"metadata": {"path": str(path.parent)}}
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources=resources)
    start = time.perf_counter()
    client.execute()
    return {"seconds": round(time.perf_counter() - start, 1), "started": started_with(nb), "glued": glued_values(nb)}


def result_path(date: datetime, device_slug: str, scale: str) -> Path:
    """benchmarks/results/<date>-<device>.json for a full-scale run, with ``-<scale>`` added for another scale."""
    suffix = "" if scale == "full" else f"-{scale}"
    return ROOT / "benchmarks" / "results" / f"{date:%Y-%m-%d}-{device_slug}{suffix}.json"


def git_commit() -> str | None:
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every chapters/NN_*.ipynb")
    parser.add_argument("--scale", choices=("book", "full"), help="default: $DLBOOK_SCALE, else book")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    parser.add_argument("--out", type=Path, help="default: benchmarks/results/<date>-<device>[-book].json")
    parser.add_argument("--allow-cpu", action="store_true", help="run full scale without a GPU (hours)")
    args = parser.parse_args()
    if args.scale:
        os.environ["DLBOOK_SCALE"] = args.scale  # the kernels started below inherit it
    scale = dlbook.scale()
    notebooks = args.notebooks or sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
    device = dlbook.device()
    if scale == "full" and device.type == "cpu" and not args.allow_cpu:
        print("no GPU here: full scale on a CPU takes hours. Pass --allow-cpu to run anyway, or --scale book.")
        return 2
    now = datetime.now(timezone.utc)
    results = {
        "scale": scale,
        "device": describe(device),
        "device_slug": slug(device),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "dlbook": dlbook.__version__,
        "threads": dlbook.threads(),
        "cpus": allowed_cpus(),
        "date": now.isoformat(timespec="seconds"),
        "commit": git_commit(),
        "chapters": {},
    }
    failed = False
    for path in notebooks:
        print(f"{path.name} ...", end=" ", flush=True)
        try:
            record = run(path, args.timeout)
        except Exception as exc:  # record the failure and go on with the other chapters
            record = {"error": f"{type(exc).__name__}: {str(exc)[-2000:]}"}
            failed = True
        if record.get("started", {}).get("scale", scale) != scale:
            record["error"] = f"the chapter ran at scale {record['started']['scale']!r}, not {scale!r}"
            failed = True
        results["chapters"][path.stem] = record
        print(f"{record['seconds']} s" if "error" not in record else "FAILED")
    results["total_seconds"] = round(sum(c.get("seconds", 0) for c in results["chapters"].values()), 1)
    out = args.out or result_path(now, results["device_slug"], scale)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
