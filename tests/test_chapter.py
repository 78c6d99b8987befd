"""How a chapter starts (dlbook.start, threads), hands numbers to the prose (glue), and shows code (show)."""

import sys

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info

import dlbook
from dlbook import chapter


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def blas_threads() -> set[int]:
    return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}


def test_start_seeds_picks_the_device_and_sets_threads_by_scale(monkeypatch, capsys, restore_threads):
    monkeypatch.delenv("DLBOOK_THREADS", raising=False)
    monkeypatch.setenv("DLBOOK_SCALE", "book")
    device = dlbook.start(seed=3)
    assert device == dlbook.device()
    assert torch.get_num_threads() == 1 and blas_threads() == {1}
    first = torch.rand(3)
    dlbook.start(seed=3)
    assert torch.equal(torch.rand(3), first)  # seeded
    line = capsys.readouterr().out
    assert f"dlbook {dlbook.__version__}" in line and "scale: book" in line and "CPU threads: 1" in line

    monkeypatch.setenv("DLBOOK_SCALE", "full")
    cores = len(__import__("os").sched_getaffinity(0))
    assert dlbook.threads() == cores
    monkeypatch.setenv("DLBOOK_THREADS", "2")
    dlbook.start()
    assert torch.get_num_threads() == 2 and blas_threads() == {2}
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("DLBOOK_THREADS", bad)
        with pytest.raises(ValueError, match="DLBOOK_THREADS"):
            dlbook.start()


def test_start_refuses_an_unknown_device(monkeypatch, restore_threads):
    with pytest.raises(ValueError, match="unknown device"):
        dlbook.start(device="tpu")


def test_glue_records_plain_numbers_and_hands_them_to_myst_nb(monkeypatch):
    handed = []
    fake = type(sys)("myst_nb")
    fake.glue = lambda name, value, display: handed.append((name, value, display))
    monkeypatch.setitem(sys.modules, "myst_nb", fake)
    dlbook.glue(ch99_loss=torch.tensor(0.25), ch99_count=np.int64(7), ch99_name="adam")
    assert handed == [("ch99_loss", 0.25, False), ("ch99_count", 7, False), ("ch99_name", "adam", False)]
    assert type(handed[0][1]) is float and type(handed[1][1]) is int


def test_glue_works_without_the_book_tools(monkeypatch):
    monkeypatch.setitem(sys.modules, "myst_nb", None)  # import myst_nb now raises ImportError
    dlbook.glue(ch99_accuracy=np.float32(0.5))
    assert chapter.GLUED["ch99_accuracy"] == 0.5


def test_show_names_the_file_of_a_package_and_of_a_module():
    assert dlbook.show(dlbook.data)._repr_markdown_().startswith("```python\n# dlbook/data/__init__.py\n")
    assert dlbook.show(dlbook.train)._repr_markdown_().startswith("```python\n# dlbook/train.py\n")


def test_the_api_page_documents_every_module():
    """chapters/api.md is generated from docstrings; a new dlbook module must get its section there."""
    from pathlib import Path

    page = (Path(dlbook.__file__).parents[1] / "chapters" / "api.md").read_text()
    missing = [name for name in dlbook._SUBMODULES if f":: dlbook.{name}" not in page]
    assert missing == [], f"add these modules to chapters/api.md: {missing}"
