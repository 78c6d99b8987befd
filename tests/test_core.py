"""The small public surface: scale/pick, device, seed, show, require."""

import random

import numpy as np
import pytest
import torch

import dlbook


def test_pick_follows_the_scale(monkeypatch):
    monkeypatch.delenv("DLBOOK_SCALE", raising=False)
    assert dlbook.scale() == "book" and dlbook.pick(book=3, full=30) == 3
    monkeypatch.setenv("DLBOOK_SCALE", "full")
    assert dlbook.scale() == "full" and dlbook.pick(book=3, full=30) == 30
    monkeypatch.setenv("DLBOOK_SCALE", " Full ")
    assert dlbook.pick(book="small", full="big") == "big"


def test_unknown_scale_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("DLBOOK_SCALE", "huge")
    with pytest.raises(ValueError, match="DLBOOK_SCALE='huge'.*book.*full"):
        dlbook.pick(book=1, full=2)


def test_pick_needs_both_values_by_name():
    with pytest.raises(TypeError):
        dlbook.pick(1, 2)


def test_device_defaults_to_the_best_available(monkeypatch):
    monkeypatch.delenv("DLBOOK_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert dlbook.device().type == expected


def test_device_can_be_forced(monkeypatch):
    assert dlbook.device("cpu") == torch.device("cpu")
    monkeypatch.setenv("DLBOOK_DEVICE", "cpu")
    assert dlbook.device() == torch.device("cpu")


def test_unknown_device_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        dlbook.device("tpu")


@pytest.mark.parametrize("name", ["cpu:", "cpu:x", "cuda:", "cuda:0:1", "cpu:-1", "cuda 0", "mps:", "cpu:0x"])
def test_malformed_device_names_are_clear_errors(name, monkeypatch):
    with pytest.raises(ValueError, match=r"malformed device name .*'cuda:0'") as error:
        dlbook.device(name)
    assert repr(name) in str(error.value) and "DLBOOK_DEVICE" not in str(error.value)
    monkeypatch.setenv("DLBOOK_DEVICE", name)
    with pytest.raises(ValueError, match=r"malformed device name .*DLBOOK_DEVICE.*unset"):
        dlbook.device()


def test_device_names_in_any_case_and_torch_devices_are_fine(monkeypatch):
    assert dlbook.device(" CPU ") == torch.device("cpu") and dlbook.device("cpu:0") == torch.device("cpu:0")
    assert dlbook.device(torch.device("cpu")) == torch.device("cpu")
    monkeypatch.setenv("DLBOOK_DEVICE", "tpu")
    with pytest.raises(ValueError, match="unknown device 'tpu'.*DLBOOK_DEVICE"):
        dlbook.device()


@pytest.mark.parametrize("bad", [0, 1, True, 0.0])
def test_device_refuses_numbers_instead_of_guessing(bad):
    """torch reads device(0) as the current accelerator; dlbook wants the name, so nothing is guessed."""
    with pytest.raises(TypeError, match=r"name such as 'cuda:0'.*got " + repr(bad)):
        dlbook.device(bad)
    if type(bad) is int:
        with pytest.raises(TypeError, match=f"dlbook.device\\('cuda:{bad}'\\)"):
            dlbook.device(bad)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_missing_accelerator_is_an_error_not_a_silent_cpu():
    with pytest.raises(RuntimeError, match="no CUDA"):
        dlbook.device("cuda")


def test_seed_makes_python_numpy_and_torch_repeat():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    dlbook.seed(7)
    first = draw()
    dlbook.seed(7)
    assert draw() == first
    dlbook.seed(8)
    assert draw() != first


@pytest.mark.parametrize("bad, error", [(-1, ValueError), (1.5, TypeError), ("3", TypeError), (True, TypeError),
                                        (np.bool_(False), TypeError), (2**64, ValueError)])
def test_seed_rejects_bad_values_before_reseeding_anything(bad, error):
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    before = random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state()
    with pytest.raises(error, match="seed must be a non-negative int <= 18446744073709551615"):
        dlbook.seed(bad)
    assert random.getstate() == before[0] and np.array_equal(np.random.get_state()[1], before[1])
    assert torch.equal(torch.get_rng_state(), before[2])


def test_seed_takes_numpy_ints_and_the_largest_seed_torch_takes():
    assert dlbook.seed(np.int64(7)) == 7 and type(dlbook.seed(np.int64(7))) is int
    first = random.random(), np.random.rand(), torch.rand(1).item()
    dlbook.seed(7)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first
    assert dlbook.seed(2**64 - 1) == 2**64 - 1 and torch.initial_seed() == 2**64 - 1


def test_show_renders_the_real_source():
    shown = dlbook.show(dlbook.config.pick)
    assert str(shown) == __import__("inspect").getsource(dlbook.config.pick)
    markdown = shown._repr_markdown_()
    assert markdown.startswith("```python\n# dlbook/config.py\n") and markdown.endswith("```")
    assert "def pick(" in markdown


def test_show_refuses_what_it_cannot_show():
    with pytest.raises(TypeError, match="function, class or module"):
        dlbook.show(dlbook.pick(book=1, full=2))
    with pytest.raises(ValueError, match="dlbook's own code"):
        dlbook.show(random.shuffle)


def test_require_names_the_versions():
    dlbook.require(dlbook.__version__)
    with pytest.raises(ImportError, match=r"written for dlbook 9\.0\.0.*pip install"):
        dlbook.require("9.0.0")


@pytest.mark.parametrize("bad, error, match", [
    (0.1, TypeError, r"version must be a string such as '\d+\.\d+\.\d+', got 0\.1 \(float\)"),
    (None, TypeError, "version must be a string"),
    ("1", ValueError, r"malformed version '1'.*e\.g\. '\d+\.\d+\.\d+'"),
    ("", ValueError, "malformed version ''"),
    ("zero.one", ValueError, "malformed version 'zero.one'"),
])
def test_require_refuses_what_is_not_a_version(bad, error, match):
    with pytest.raises(error, match=match):
        dlbook.require(bad)


def test_require_takes_major_minor_and_suffixes():
    major_minor = ".".join(dlbook.__version__.split(".")[:2])
    dlbook.require(major_minor)
    dlbook.require(f" {major_minor}.9rc1 ")
    with pytest.raises(ImportError, match="written for dlbook 9.1"):
        dlbook.require("9.1")


def test_submodules_load_lazily_and_unknown_names_fail():
    assert dlbook.config.scale is dlbook.scale
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        dlbook.nonsense  # noqa: B018


# ---------- argument checks (dlbook.checks), shared by the optimizers and the data generators ----------


def test_checks_accept_numpy_numbers_and_return_python_ones():
    from dlbook.checks import check_int, check_number, check_pair

    assert check_number("lr", np.float32(0.5)) == 0.5 and type(check_number("lr", np.float32(0.5))) is float
    assert check_number("lr", 3) == 3.0 and type(check_number("lr", 3)) is float
    assert check_int("n", np.int64(7), minimum=1) == 7 and type(check_int("n", np.int64(7))) is int
    assert check_pair("betas", np.array([0.9, 0.99]), 0, 1) == (0.9, 0.99)
    assert check_number("x", 1.0, 0, 1) == 1.0  # the upper bound is inclusive by default


@pytest.mark.parametrize("call, error, match", [
    (lambda c: c.check_number("lr", True), TypeError, r"lr must be a real number >= 0, got True \(bool\)"),
    (lambda c: c.check_number("lr", np.bool_(True)), TypeError, "lr must be a real number"),
    (lambda c: c.check_number("lr", "0.1"), TypeError, r"got '0\.1' \(str\)"),
    (lambda c: c.check_number("lr", torch.tensor(0.1)), TypeError, r"\(Tensor\).*value\.item\(\)"),
    (lambda c: c.check_number("lr", float("nan")), ValueError, "lr must be finite"),
    (lambda c: c.check_number("lr", -0.1), ValueError, "lr must be >= 0, got -0.1"),
    (lambda c: c.check_number("alpha", 1.0, 0, 1, high_inclusive=False), ValueError, r"in \[0, 1\), got 1\.0"),
    (lambda c: c.check_number("m", 1.5, 0, 1, hint="Try 0.9."), ValueError, r"in \[0, 1\], got 1\.5\. Try 0\.9\."),
    (lambda c: c.check_int("n", 2.0, minimum=1), TypeError, r"n must be a positive int, got 2\.0 \(float\)"),
    (lambda c: c.check_int("n", False, minimum=0), TypeError, r"non-negative int, got False \(bool\)"),
    (lambda c: c.check_int("n", 0, minimum=1), ValueError, "n must be a positive int, got 0"),
    (lambda c: c.check_int("k", 1, minimum=2, maximum=5), ValueError, r"k must be an int in \[2, 5\], got 1"),
    (lambda c: c.check_pair("betas", 0.9, example=(0.9, 0.999)), TypeError, r"pair.*e\.g\. \(0\.9, 0\.999\)"),
    (lambda c: c.check_pair("betas", [0.9]), TypeError, "betas must be a pair of numbers, got 1 values"),
    (lambda c: c.check_pair("betas", (0.9, 1.0), 0, 1, high_inclusive=False), ValueError, r"betas\[1\]"),
])
def test_checks_refuse_clearly(call, error, match):
    from dlbook import checks

    with pytest.raises(error, match=match):
        call(checks)


def test_no_package_imports_a_private_name_from_another():
    """dlbook, dlbook.scratch, dlbook.data ... share code only through public names."""
    import ast
    from pathlib import Path

    root = Path(dlbook.__file__).parent
    package_of = {path: ".".join(("dlbook", *path.relative_to(root).parent.parts)) for path in root.rglob("*.py")}
    packages = set(package_of.values())
    offenders = []
    for path, package in package_of.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dlbook"):
                source = node.module if node.module in packages else node.module.rpartition(".")[0]
                private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                if private and source != package:
                    offenders.append(f"{path.relative_to(root)}: from {node.module} import {', '.join(private)}")
    assert not offenders, offenders


def test_every_module_is_short_enough_to_read():
    """One idea per module: none grows past 400 lines (split it in two instead)."""
    from pathlib import Path

    root = Path(dlbook.__file__).parent
    lengths = {str(path.relative_to(root)): len(path.read_text().splitlines()) for path in root.rglob("*.py")}
    assert len(lengths) > 20 and max(lengths.values()) > 100  # it did read the package
    assert {name: n for name, n in lengths.items() if n > 400} == {}
