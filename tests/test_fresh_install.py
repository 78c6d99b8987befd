"""A reader's machine: dlbook installed alone in a fresh virtual environment runs a chapter.

The launch buttons and the README promise that a chapter runs in Colab or a plain Jupyter, where
the book's build tools (Jupyter Book, myst-nb) are absent. This test makes such an environment:
a new venv with dlbook and its declared dependencies (at the versions requirements.txt pins) plus
a Jupyter kernel, and nothing else; then it executes a chapter there.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "chapters" / "03_neurons_and_networks.ipynb"  # data, fit, glue, plots, dlbook.show


def run(*command, **options) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, **options)
    assert done.returncode == 0, f"{' '.join(map(str, command))} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def fresh_python(tmp_path_factory) -> Path:
    """The python of a new venv holding dlbook (built from this checkout, not editable) and a kernel."""
    fresh = tmp_path_factory.mktemp("fresh")
    source = fresh / "source"  # a copy, so that building the wheel leaves nothing in the checkout
    shutil.copytree(ROOT / "dlbook", source / "dlbook", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source)
    venv = fresh / "venv"
    run(sys.executable, "-m", "venv", str(venv))
    python = venv / "bin" / "python"
    pins = [line for line in (ROOT / "requirements.txt").read_text().splitlines() if not line.startswith("-e")]
    constraints = venv / "constraints.txt"
    constraints.write_text("\n".join(pins) + "\n")
    quiet = ["--quiet", "--disable-pip-version-check"]
    run(python, "-m", "pip", "install", *quiet, "-c", str(constraints), str(source), "ipykernel", "nbclient")
    return python


def test_the_book_tools_are_absent(fresh_python, tmp_path):
    probe = "import importlib.util as u; print([m for m in ('myst_nb', 'jupyter_book') if u.find_spec(m)])"
    assert run(fresh_python, "-c", probe, cwd=tmp_path).stdout.strip() == "[]"
    where = run(fresh_python, "-c", "import dlbook; print(dlbook.__file__)", cwd=tmp_path).stdout.strip()
    assert not where.startswith(str(ROOT)), "dlbook must be the installed copy, not this checkout"


def test_a_chapter_runs_with_the_package_alone(fresh_python, tmp_path):
    notebook = shutil.copy(CHAPTER, tmp_path)  # run away from the checkout, as a reader would
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env |= {"PATH": f"{fresh_python.parent}{os.pathsep}{env['PATH']}", "MPLBACKEND": "agg"}
    run(fresh_python.parent / "jupyter-execute", "--timeout=600", notebook, cwd=tmp_path, env=env)
