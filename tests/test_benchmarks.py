"""The benchmark scripts: the ratios harness (a smoke run) and `make gpu`'s chapter runner (on a tiny notebook)."""

import importlib.util
import json
import math
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def run_script(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DLBOOK_DEVICE": "cpu", "PYTHONPATH": str(ROOT)}
    env.pop("DLBOOK_SCALE", None)
    done = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def test_ratios_smoke_run_reports_every_ratio(tmp_path):
    out = tmp_path / "ratios.json"
    run_script("benchmarks/ratios.py", "--smoke", "--out", str(out))
    report = json.loads(out.read_text())
    assert report["smoke"] and report["device_slug"] == "cpu" and report["threads"] >= 1
    expected = {
        "matmul_loops_over_numpy", "matmul_loops_over_torch", "bf16_over_fp32_gflops", "conv_loop_over_im2col",
        "conv_im2col_over_torch", "lstm_loop_over_fused", "attention_scratch_over_fused", "tensor_engine_over_torch",
    }  # fmt: skip
    assert set(report["ratios"]) == expected
    glued = "".join(path.read_text() for path in (ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
    for name, entry in report["ratios"].items():
        assert math.isfinite(entry["ratio"]) and entry["ratio"] > 0, name
        if entry["chapter"]:  # the chapter value it stands for exists
            assert f"{entry['chapter']}=" in glued, (name, entry["chapter"])


def load_run_chapters():
    spec = importlib.util.spec_from_file_location("run_chapters", ROOT / "benchmarks" / "run_chapters.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_result_file_is_named_by_date_and_device():
    run_chapters = load_run_chapters()
    day = datetime(2026, 11, 29, tzinfo=timezone.utc)
    assert run_chapters.result_path(day, "nvidia-h200", "full").name == "2026-11-29-nvidia-h200.json"
    assert run_chapters.result_path(day, "cpu", "book").name == "2026-11-29-cpu-book.json"
    assert run_chapters.plain("0.25") == 0.25 and run_chapters.plain("'abc'") == "abc"
    assert run_chapters.plain("<Figure size 640x480>") == "<Figure size 640x480>"


def test_chapter_runner_passes_the_scale_to_the_kernel_and_records_glued_values(tmp_path):
    notebook = tmp_path / "01_tiny.ipynb"
    code = "import dlbook\ndlbook.start()\ndlbook.glue(t_ratio=1.5, t_label='abc', t_n=dlbook.pick(book=1, full=2))"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)]), notebook)
    out = tmp_path / "chapters.json"
    run_script("benchmarks/run_chapters.py", str(notebook), "--scale", "full", "--allow-cpu", "--out", str(out))
    report = json.loads(out.read_text())
    assert report["scale"] == "full" and report["torch"] and report["threads"] >= 1
    chapter = report["chapters"]["01_tiny"]
    assert chapter["started"]["scale"] == "full" and chapter["started"]["device"] == "cpu"
    assert chapter["glued"] == {"t_ratio": 1.5, "t_label": "abc", "t_n": 2}  # t_n = 2: the kernel ran at full scale
    assert chapter["seconds"] > 0
