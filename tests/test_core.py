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


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
def test_seed_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="non-negative int"):
        dlbook.seed(bad)


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


def test_submodules_load_lazily_and_unknown_names_fail():
    assert dlbook.config.scale is dlbook.scale
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        dlbook.nonsense  # noqa: B018
