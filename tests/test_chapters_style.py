"""What every chapter notebook must do, checked on its source: one way to start, code that fits the page."""

import json
import re
from pathlib import Path

import pytest

import dlbook

CHAPTERS = sorted((Path(__file__).parents[1] / "chapters").glob("[0-9][0-9]_*.ipynb"))
PAGE_WIDTH = 80  # columns of code the HTML page shows without a scroll bar
HIDDEN = {"remove-cell", "remove-input"}  # cells whose code the reader never sees


def code_cells(path: Path) -> list[tuple[int, list[str], str]]:
    """(index, tags, source) of every code cell."""
    cells = json.loads(path.read_text())["cells"]
    return [
        (i, cell.get("metadata", {}).get("tags", []), "".join(cell["source"]))
        for i, cell in enumerate(cells)
        if cell["cell_type"] == "code"
    ]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_reader_visible_code_fits_the_page(path):
    too_wide = [
        f"cell {i}: {len(line)} columns: {line.strip()[:60]}"
        for i, tags, source in code_cells(path)
        if not HIDDEN & set(tags)
        for line in source.splitlines()
        if len(line) > PAGE_WIDTH
    ]
    assert not too_wide, f"lines wider than {PAGE_WIDTH} columns:\n" + "\n".join(too_wide)


FIRST_CELL = f"""# This chapter was written for dlbook {dlbook.__version__}.
try:
    import dlbook
except ModuleNotFoundError:  # on Colab: install the version it needs
    %pip install -q "dlbook @ git+https://github.com/dlbook/dlbook@v{dlbook.__version__}"
    import dlbook
dlbook.require("{dlbook.__version__}")"""


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_one_way_to_start_a_chapter(path):
    cells = code_cells(path)
    assert cells[0][2].strip() == FIRST_CELL, f"the first code cell must be, for this version:\n{FIRST_CELL}"
    source = "\n".join(code for _, _, code in cells)
    assert "dlbook.start(" in cells[1][2], "the second code cell starts the chapter with dlbook.start()"
    for habit, instead in [
        (r"set_num_threads|threadpool_limits|threadpoolctl", "dlbook.start() sets the threads"),
        (r"myst_nb", "dlbook.glue works outside the book build too"),
        (r"register_step_(pre|post)_hook", "fit(..., scheduler_step='step')"),
        (r"dlbook\.seed\(0\)\s*\ndevice = dlbook\.device\(\)", "dlbook.start()"),
    ]:
        assert not re.search(habit, source), f"{path.name} uses {habit}; use {instead}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_outputs_are_stripped(path):
    cells = json.loads(path.read_text())["cells"]
    assert not any(cell.get("outputs") or cell.get("execution_count") for cell in cells if cell["cell_type"] == "code")


IMPORT_NAMES = {"scikit-learn": "sklearn"}  # distribution name -> the module it installs, where they differ


def declared_modules() -> set[str]:
    """Top-level modules that dlbook's declared dependencies (pyproject.toml) install."""
    import tomllib

    project = tomllib.loads((CHAPTERS[0].parents[1] / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0].lower() for spec in project["dependencies"]}
    return {IMPORT_NAMES.get(name, name.replace("-", "_")) for name in names}


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_package_a_chapter_imports_is_a_declared_dependency(path):
    import ast
    import sys

    allowed = set(sys.stdlib_module_names) | declared_modules() | {"dlbook", "IPython"}  # Jupyter brings IPython
    imported = set()
    for _, _, source in code_cells(path):
        code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
    assert imported <= allowed, f"{path.name} imports {sorted(imported - allowed)}, not declared in pyproject.toml"
