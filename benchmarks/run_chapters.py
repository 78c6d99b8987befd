"""Execute every chapter notebook and record its time and glued numbers.

    DLBOOK_SCALE=full python benchmarks/run_chapters.py      # `make gpu`
    python benchmarks/run_chapters.py chapters/02_*.ipynb    # some chapters, at book scale

Writes benchmarks/results/chapters-<scale>-<device>.json: per chapter the wall time, the
device, and every number the chapter glues into its prose (its headline metrics).
"""

import argparse
import json
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import nbformat
import torch
from nbclient import NotebookClient

import dlbook
from dlbook.hardware import describe

ROOT = Path(__file__).resolve().parents[1]


def glued_values(nb) -> dict[str, str]:
    """Every `glue(name, value)` in an executed notebook, as its plain-text value."""
    values = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                values[name] = output.get("data", {}).get("text/plain", "")
    return values


def run(path: Path, timeout: int) -> dict:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    resources = {"metadata": {"path": str(path.parent)}}
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources=resources)
    client.execute()
    return {"seconds": round(time.perf_counter() - start, 1), "glued": glued_values(nb)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every chapters/NN_*.ipynb")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    args = parser.parse_args()
    notebooks = args.notebooks or sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
    device = dlbook.device()
    results = {
        "scale": dlbook.scale(),
        "device": describe(device),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "chapters": {},
    }
    failed = False
    for path in notebooks:
        print(f"{path.name} ...", end=" ", flush=True)
        try:
            results["chapters"][path.stem] = run(path, args.timeout)
            print(f"{results['chapters'][path.stem]['seconds']} s")
        except Exception as exc:  # record the failure and go on with the other chapters
            results["chapters"][path.stem] = {"error": f"{type(exc).__name__}: {str(exc)[-2000:]}"}
            print("FAILED")
            failed = True
    out = ROOT / "benchmarks" / "results" / f"chapters-{results['scale']}-{device.type}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
