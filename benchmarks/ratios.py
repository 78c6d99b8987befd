"""Measure in one run, on one device, the speed ratios the book quotes: how many times slower the way
built step by step is than the fast way, for the same work.

    python benchmarks/ratios.py                 # `make bench`: the best device here
    python benchmarks/ratios.py --device cpu    # the CPU, with $DLBOOK_THREADS (or the scale's) threads
    python benchmarks/ratios.py --smoke         # tiny sizes, seconds (the tests); numbers meaningless

Each ratio names the chapter value it corresponds to (e.g. ``ch09_fused_speedup``); the chapters measure
theirs while they build; this script measures them all together, so that ratios on one machine can be
compared and recorded. Every entry is slow time / fast time, each the fastest of ``--repeat`` runs after
one warm-up, the two taking turns so that a busy machine slows both alike (GPU work is waited for).
The NumPy engine of chapter 5 runs on the CPU whatever the device; benchmarks/engine_vs_torch.py times
it in more detail. Writes benchmarks/results/ratios-<device>.json (``--out`` chooses another file).
"""

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_limits

import dlbook
from dlbook.hardware import describe, matmul_gflops, slug
from dlbook.layers import LSTM, conv2d_loop, conv2d_unfold, scaled_dot_product_attention

sys.path.insert(0, str(Path(__file__).resolve().parent))
import engine_vs_torch  # noqa: E402  (the step builders of chapter 5's benchmark, not a copy of them)

RESULTS = Path(__file__).resolve().parent / "results"


def fastest(steps: dict[str, Callable[[], object]], repeat: int, device: torch.device) -> dict[str, float]:
    """The fastest of ``repeat`` runs of each step, in seconds, after one untimed run; the steps take turns."""

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for step in steps.values():
        step()
    best = dict.fromkeys(steps, float("inf"))
    for _ in range(repeat):
        for name, step in steps.items():
            sync()
            start = time.perf_counter()
            step()
            sync()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def ratio(what: str, chapter: str | None, slow: str, fast: str, seconds: dict[str, float], **sizes) -> dict:
    """One entry of the report: slow / fast, with both times in milliseconds."""
    return {
        "ratio": seconds[slow] / seconds[fast],
        "what": what,
        "chapter": chapter,
        "slow": slow,
        "fast": fast,
        "ms": {name: 1000 * s for name, s in seconds.items()},
        **sizes,
    }


def matmul_loops(a: list, b: list) -> list:
    """(n, m) @ (m, p) as Python lists, three loops: the baseline of chapter 2."""
    columns = list(zip(*b, strict=True))
    return [[sum(x * y for x, y in zip(row, col, strict=True)) for col in columns] for row in a]


def matmul(n: int, repeat: int, device: torch.device) -> list[tuple[str, dict]]:
    a, b = torch.randn(n, n), torch.randn(n, n)
    lists, arrays, on_device = (a.tolist(), b.tolist()), (a.numpy(), b.numpy()), (a.to(device), b.to(device))
    seconds = fastest(
        {
            "python_loops": lambda: matmul_loops(*lists),
            "numpy": lambda: arrays[0] @ arrays[1],
            f"torch_{device.type}": lambda: on_device[0] @ on_device[1],
        },
        repeat,
        device,
    )
    what, fast = f"({n}, {n}) @ ({n}, {n}) float32", f"torch_{device.type}"
    return [
        ("matmul_loops_over_numpy", ratio(what, "ch02_speedup_numpy", "python_loops", "numpy", seconds, n=n)),
        ("matmul_loops_over_torch", ratio(what, "ch02_speedup_torch", "python_loops", fast, seconds, n=n)),
    ]


def low_precision(n: int, repeat: int, device: torch.device) -> list[tuple[str, dict]]:
    """bfloat16 over float32 matrix-multiply throughput (GFLOP/s): > 1 where the hardware has bf16 units."""
    gflops = {name: matmul_gflops(n, getattr(torch, name), device, repeats=repeat) for name in ("float32", "bfloat16")}
    entry = {
        "ratio": gflops["bfloat16"] / gflops["float32"],
        "what": f"({n}, {n}) @ ({n}, {n}) throughput, bfloat16 over float32 (GFLOP/s: higher is faster)",
        "chapter": "ch02_cpu_bf16_ratio" if device.type == "cpu" else None,
        "gflops": gflops,
        "n": n,
    }
    return [("bf16_over_fp32_gflops", entry)]


def convolution(batch: int, size: int, repeat: int, device: torch.device) -> list[tuple[str, dict]]:
    x = torch.randn(batch, 8, size, size, device=device)
    w, b = torch.randn(16, 8, 3, 3, device=device), torch.randn(16, device=device)
    with torch.no_grad():
        seconds = fastest(
            {
                "loop": lambda: conv2d_loop(x, w, b, padding=1),
                "im2col": lambda: conv2d_unfold(x, w, b, padding=1),
                "F.conv2d": lambda: F.conv2d(x, w, b, padding=1),
            },
            repeat,
            device,
        )
    what = f"3x3 convolution, 8 -> 16 channels, x: ({batch}, 8, {size}, {size})"
    return [
        ("conv_loop_over_im2col", ratio(what, "ch08_im2col_speedup", "loop", "im2col", seconds)),
        ("conv_im2col_over_torch", ratio(what, "ch08_torch_over_im2col", "im2col", "F.conv2d", seconds)),
    ]


def lstm(batch: int, steps: int, repeat: int, device: torch.device) -> list[tuple[str, dict]]:
    ours = LSTM(32, 64, batch_first=True).to(device)
    theirs = torch.nn.LSTM(32, 64, batch_first=True).to(device)
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(batch, steps, 32, device=device)

    def pass_of(layer):
        def forward_backward():
            output, _ = layer(x)
            output.sum().backward()

        return forward_backward

    seconds = fastest({"dlbook.layers.LSTM": pass_of(ours), "nn.LSTM": pass_of(theirs)}, repeat, device)
    what = f"LSTM 32 -> 64, forward and backward, x: ({batch}, {steps}, 32)"
    return [("lstm_loop_over_fused", ratio(what, "ch09_fused_speedup", "dlbook.layers.LSTM", "nn.LSTM", seconds))]


def attention(batch: int, length: int, repeat: int, device: torch.device) -> list[tuple[str, dict]]:
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32  # flash kernels need half precision
    q, k, v = (torch.randn(batch, 8, length, 64, device=device, dtype=dtype) for _ in range(3))
    with torch.no_grad():
        seconds = fastest(
            {
                "dlbook": lambda: scaled_dot_product_attention(q, k, v, is_causal=True),
                "F.scaled_dot_product_attention": lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True),
            },
            repeat,
            device,
        )
    what = f"causal attention, 8 heads of 64, q, k, v: ({batch}, 8, {length}, 64) {str(dtype)[6:]}, forward"
    return [("attention_scratch_over_fused", ratio(what, None, "dlbook", "F.scaled_dot_product_attention", seconds))]


def engine(repeat: int) -> list[tuple[str, dict]]:
    """Chapter 5's numpy Tensor engine against PyTorch on the CPU: one training step of an MLP."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((engine_vs_torch.BATCH, engine_vs_torch.SIZES[0])).astype(np.float32)
    y = rng.integers(0, engine_vs_torch.SIZES[-1], engine_vs_torch.BATCH)
    tensor_step, model = engine_vs_torch.tensor_engine(x, y)
    torch_step = engine_vs_torch.torch_engine(x, y, model)
    seconds = fastest({"dlbook.scratch.Tensor": tensor_step, "torch_cpu": torch_step}, repeat, torch.device("cpu"))
    what = f"MLP {engine_vs_torch.SIZES} training step, batch {engine_vs_torch.BATCH}, float32, CPU"
    return [("tensor_engine_over_torch", ratio(what, "ch05_big_ratio", "dlbook.scratch.Tensor", "torch_cpu", seconds))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default=None, help="default: the best here (cuda > mps > cpu)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: dlbook.threads())")
    parser.add_argument("--repeat", type=int, default=10, help="timed runs of each step (the fastest is kept)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes and 2 runs: checks the script, not speed")
    parser.add_argument("--out", type=Path, help="default: benchmarks/results/ratios-<device>.json")
    args = parser.parse_args()

    device = dlbook.device(args.device)
    threads = args.threads or dlbook.threads()
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    repeat = 2 if args.smoke else args.repeat
    small = args.smoke
    start = time.perf_counter()
    with threadpool_limits(threads):  # NumPy's BLAS: the same threads as torch
        measured = [
            *matmul(8 if small else 64, repeat, device),
            *low_precision(32 if small else (4096 if device.type == "cuda" else 512), repeat, device),
            *convolution(2 if small else 8, 6 if small else 28, repeat, device),
            *lstm(4 if small else 64, 5 if small else 50, repeat, device),
            *attention(1 if small else 8, 16 if small else 512, repeat, device),
            *engine(repeat),
        ]
    report = {
        "device": describe(device),
        "device_slug": slug(device),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "threads": threads,
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "smoke": small,
        "repeat": repeat,
        "seconds": round(time.perf_counter() - start, 1),
        "ratios": dict(measured),
    }
    print(f"{describe(device)}, torch {torch.__version__}, {threads} CPU thread(s), fastest of {repeat}")
    for name, entry in report["ratios"].items():
        print(f"{name:30s} {entry['ratio']:10.3g}   {entry['what']}")
    out = args.out or RESULTS / f"ratios-{slug(device)}{'-smoke' if small else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
