"""Labelled image sets as tensors: the 8x8 digits, Fashion-MNIST and a 5,000-image MNIST subset."""

import functools
import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from dlbook.data import files
from dlbook.data.loaders import loader, split

FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FASHION_MNIST_FILES = {  # file name -> SHA-256 of the original release
    "train-images-idx3-ubyte.gz": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    "train-labels-idx1-ubyte.gz": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    "t10k-images-idx3-ubyte.gz": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    "t10k-labels-idx1-ubyte.gz": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
}
FASHION_MNIST_HINT = "on Debian/Ubuntu run `sudo apt-get install dataset-fashion-mnist`, "
FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
DIGITS = [str(d) for d in range(10)]
PARTS = ("train", "val", "test")


@dataclass(repr=False)
class ImageData:
    """Images in three parts: train, validation (carved from the training images) and test.

    ``x_*: (n, 1, height, width)`` float32 in [0, 1], ``y_*: (n,)`` int64. Train on ``train``;
    watch and choose (epochs, learning rate, early stopping, model) on ``val``; measure ``test``
    once, at the end.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: list[str]

    def __post_init__(self):
        for part in PARTS:
            x, y = getattr(self, f"x_{part}"), getattr(self, f"y_{part}")
            if x.ndim != 4 or x.dtype != torch.float32 or y.shape != (len(x),) or y.dtype != torch.int64:
                raise ValueError(
                    f"{self.name}: need x_{part}: (n, 1, h, w) float32 and y_{part}: (n,) int64, "
                    f"got {tuple(x.shape)} {x.dtype} and {tuple(y.shape)} {y.dtype}."
                )

    def __repr__(self) -> str:
        sizes = ", ".join(f"{part}={tuple(getattr(self, f'x_{part}').shape)}" for part in PARTS)
        return f"ImageData({self.name!r}, {sizes}, {len(self.classes)} classes)"

    def loaders(self, batch_size: int = 128, seed: int = 0) -> tuple[DataLoader, DataLoader, DataLoader]:
        """Train (reshuffled each epoch from ``seed``), validation and test (in order) loaders of (x, y)."""
        return (
            loader(self.x_train, self.y_train, batch_size, shuffle=True, seed=seed),
            loader(self.x_val, self.y_val, batch_size),
            loader(self.x_test, self.y_test, batch_size),
        )


def _three_parts(x, y, x_test, y_test, val_fraction: float, seed: int) -> tuple[torch.Tensor, ...]:
    """(x_train, y_train, x_val, y_val, x_test, y_test): ``val_fraction`` of each training class held out."""
    x_train, y_train, x_val, y_val = split(x, y, val_fraction, seed)
    return x_train, y_train, x_val, y_val, x_test, y_test


def _tensors(images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 ``images: (n, h, w)`` -> float32 ``(n, 1, h, w)`` in [0, 1]; labels -> int64 ``(n,)``."""
    return torch.tensor(images).unsqueeze(1).float().div_(255), torch.tensor(labels, dtype=torch.int64)


def digits(test_fraction: float = 0.25, val_fraction: float = 0.1, seed: int = 0) -> ImageData:
    """scikit-learn's 1,797 handwritten 8x8 digits, stratified into train/val/test: ``x: (n, 1, 8, 8)``.

    ``test_fraction`` of each class is the test set; ``val_fraction`` of each class of the rest
    is the validation set.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.tensor(bunch.images / 16, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(bunch.target, dtype=torch.int64)
    x_rest, y_rest, x_test, y_test = split(x, y, test_fraction, seed)
    return ImageData("digits", *_three_parts(x_rest, y_rest, x_test, y_test, val_fraction, seed), list(DIGITS))


def mnist_subset(test_fraction: float = 0.2, val_fraction: float = 0.1, seed: int = 0) -> ImageData:
    """5,000 MNIST digits (500 of each, shipped with dlbook) in train/val/test: ``x: (n, 1, 28, 28)``.

    ``test_fraction`` of each digit is the test set; ``val_fraction`` of each digit of the rest
    is the validation set.
    """
    with np.load(files.shipped("mnist_5k.npz")) as npz:
        x, y = _tensors(npz["images"], npz["labels"])
    x_rest, y_rest, x_test, y_test = split(x, y, test_fraction, seed)
    return ImageData("mnist-5k", *_three_parts(x_rest, y_rest, x_test, y_test, val_fraction, seed), list(DIGITS))


def read_idx(path: str | Path) -> np.ndarray:
    """Parse an idx file of unsigned bytes (the MNIST format, gzipped or not) into a uint8 array."""
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08":
        raise ValueError(f"{path} is not an idx file of unsigned bytes (it starts with {raw[:4].hex()}).")
    ndim = raw[3]
    shape = tuple(int(size) for size in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != np.prod(shape):
        raise ValueError(f"{path} is truncated or damaged: header says {shape}, found {data.size} values.")
    return data.reshape(shape)


@functools.lru_cache(maxsize=4)
def _read_checked(path: str, sha256: str, size: int, mtime_ns: int) -> np.ndarray:
    """Verify then parse an idx file; cached per file version (``size``, ``mtime_ns``) in this process."""
    files.verify(path, sha256)
    return read_idx(path)


def _balanced(labels: np.ndarray, n: int | None, rng: np.random.Generator, what: str) -> np.ndarray | slice:
    """Sorted indices of ``n`` samples, equally many per class (the first ``n % classes`` get one more)."""
    if n is None:
        return slice(None)
    if not isinstance(n, int | np.integer) or not 0 < n <= len(labels):
        raise ValueError(f"{what} must be an int between 1 and {len(labels)} (or None for all), got {n!r}.")
    classes = np.unique(labels)
    picks = []
    for i, label in enumerate(classes):
        count = n // len(classes) + (i < n % len(classes))
        picks.append(rng.choice(np.flatnonzero(labels == label), count, replace=False))
    return np.sort(np.concatenate(picks))


def _fashion_mnist_folder() -> Path:
    """Where Fashion-MNIST's files are: found on disk, or downloaded once (SHA-256 checked) with internet."""
    try:
        return files.find("fashion-mnist", FASHION_MNIST_FILES, FASHION_MNIST_HINT)
    except FileNotFoundError as missing:
        try:
            return files.fetch("fashion-mnist", FASHION_MNIST_FILES, FASHION_MNIST_URL, FASHION_MNIST_HINT)
        except files.ChecksumError:
            raise
        except OSError as error:  # no internet, or the server refused
            raise FileNotFoundError(
                f"{missing}\nDownloading it from {FASHION_MNIST_URL} into {files.download_dir('fashion-mnist')} "
                f"failed too ({error}): with internet, run this again."
            ) from error


def fashion_mnist(
    n_train: int | None = None, n_test: int | None = None, val_fraction: float = 0.1, seed: int = 0
) -> ImageData:
    """Zalando's Fashion-MNIST, 28x28 greyscale, 10 classes: ``x: (n, 1, 28, 28)``.

    ``n_train`` training images (all 60,000 when None), of which ``val_fraction`` of each class is
    held out for validation, and ``n_test`` of the 10,000 test images; subsets are class-balanced
    and drawn with ``seed``. Files missing on disk are downloaded once (see ``dlbook.data.files``).
    Each file's SHA-256 is checked when this process first reads it (and again whenever the file
    changes); the parsed arrays are then kept in memory.
    """
    folder = _fashion_mnist_folder()
    arrays = []
    for name, sha256 in FASHION_MNIST_FILES.items():
        stat = (folder / name).stat()
        arrays.append(_read_checked(str(folder / name), sha256, stat.st_size, stat.st_mtime_ns))
    images_train, labels_train, images_test, labels_test = arrays
    rng = np.random.default_rng(seed)
    train = _balanced(labels_train, n_train, rng, "n_train")
    test = _balanced(labels_test, n_test, rng, "n_test")
    parts = _three_parts(
        *_tensors(images_train[train], labels_train[train]),
        *_tensors(images_test[test], labels_test[test]),
        val_fraction,
        seed,
    )
    return ImageData("fashion-mnist", *parts, list(FASHION_MNIST_CLASSES))
