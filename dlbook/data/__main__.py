"""``python -m dlbook.data fetch``: make sure every dataset the book reads is on this machine.

Data already present is only checked (SHA-256), so this is quick and safe to run again;
missing Fashion-MNIST is downloaded once into the user cache.
"""

import argparse
import importlib.util
import sys

from dlbook.data import files, images


def fetch() -> int:
    """Find or download each dataset and report where it is; return 0 when all are there."""
    failed = False
    try:
        folder = files.fetch(
            "fashion-mnist", images.FASHION_MNIST_FILES, images.FASHION_MNIST_URL, images.FASHION_MNIST_HINT
        )
        print(f"fashion-mnist: {folder}")
    except (files.ChecksumError, FileNotFoundError) as error:  # a damaged file; DLBOOK_DATA naming no folder
        print(f"fashion-mnist: {error}", file=sys.stderr)
        failed = True
    except OSError as error:
        print(
            f"fashion-mnist: could not download it ({error}).\nWithout internet, "
            f"{images.FASHION_MNIST_HINT}or copy the files {', '.join(images.FASHION_MNIST_FILES)} "
            f"into {files.download_dir('fashion-mnist')} and run this again.",
            file=sys.stderr,
        )
        failed = True
    try:
        print(f"mnist-5k: {files.shipped('mnist_5k.npz')} (shipped with dlbook)")
    except (OSError, ValueError) as error:
        print(f"mnist-5k: {error}", file=sys.stderr)
        failed = True
    if importlib.util.find_spec("sklearn") is None:
        print("digits: scikit-learn is not installed; run `pip install scikit-learn`.", file=sys.stderr)
        failed = True
    else:
        print("digits: bundled with scikit-learn")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dlbook.data", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["fetch"], help="find or download every dataset the book reads")
    parser.parse_args(argv)
    return fetch()


if __name__ == "__main__":
    sys.exit(main())
