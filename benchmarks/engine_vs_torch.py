"""Time one MLP training step in the book's three engines: Value, Tensor (numpy) and PyTorch (CPU).

The step: MLP 784-256-256-10 with ReLU, a float32 batch of 128, cross-entropy, backward, and a
plain SGD update. The scalar Value engine is some 1e5-1e6 times slower, so it runs the same step
on a single sample and its time is multiplied by 128 (labelled "extrapolated" in the table).
Each figure is the median of ``--repeat`` runs after ``--warmup`` runs, the Tensor and PyTorch
steps taking turns; the fastest run is reported too, and the load average, since a busy machine
inflates medians. numpy's BLAS and PyTorch use the same number of threads.
Results go to benchmarks/results/engine_vs_torch.json.

    python benchmarks/engine_vs_torch.py [--repeat 50] [--threads 2]
"""

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import threadpoolctl
import torch

from dlbook.scratch import Tensor, Value, nn
from dlbook.scratch.functional import cross_entropy

SIZES = [784, 256, 256, 10]
BATCH = 128
LR = 0.01
RESULTS = Path(__file__).parent / "results" / "engine_vs_torch.json"


def timed(steps: dict, repeat: int, warmup: int) -> dict[str, list[float]]:
    """Seconds taken by ``repeat`` calls of each step, after ``warmup`` untimed calls.

    The engines take turns, one step each, so that a busy machine slows them alike.
    """
    for _ in range(warmup):
        for step in steps.values():
            step()
    times = {name: [] for name in steps}
    for _ in range(repeat):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    return times


def tensor_engine(x: np.ndarray, y: np.ndarray):
    """The training step in dlbook.scratch.Tensor; returns (step, model)."""
    model = nn.MLP(SIZES, rng=0)

    def step():
        model.zero_grad()
        loss = cross_entropy(model(Tensor(x)), y)
        loss.backward()
        for p in model.parameters():
            p.data -= LR * p.grad
        return loss.item()

    return step, model


def torch_engine(x: np.ndarray, y: np.ndarray, scratch_model: nn.MLP):
    """The same step in PyTorch, starting from the same weights as the Tensor engine."""
    layers = [torch.nn.Linear(n_in, n_out) for n_in, n_out in zip(SIZES[:-1], SIZES[1:], strict=True)]
    model = torch.nn.Sequential(layers[0], torch.nn.ReLU(), layers[1], torch.nn.ReLU(), layers[2])
    with torch.no_grad():
        for mine, theirs in zip(scratch_model.parameters(), model.parameters(), strict=True):
            theirs.copy_(torch.from_numpy(mine.data))
    x, y = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        model.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= LR * p.grad
        return loss.item()

    return step


def neuron(weights: list[Value], bias: Value, inputs: list) -> Value:
    """bias + sum_j weights[j] * inputs[j], one Value operation at a time."""
    return sum((w * x for w, x in zip(weights, inputs, strict=True)), bias)


def value_engine(x: np.ndarray, y: np.ndarray, scratch_model: nn.MLP):
    """The same step in the scalar Value engine, on one sample: weights as lists of Values."""
    linears = [layer for layer in scratch_model.layers if isinstance(layer, nn.Linear)]
    weights = [[[Value(w) for w in row] for row in layer.weight.data.tolist()] for layer in linears]
    biases = [[Value(b) for b in layer.bias.data.tolist()] for layer in linears]
    params = [v for layer in weights for row in layer for v in row] + [v for layer in biases for v in layer]
    sample, target = x[0].tolist(), int(y[0])

    def step():
        for p in params:
            p.grad = 0.0
        h = sample
        for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
            h = [neuron(row, bias, h) for row, bias in zip(w, b, strict=True)]
            if i < len(weights) - 1:
                h = [v.relu() for v in h]
        top = max(v.data for v in h)
        loss = sum((v - top).exp() for v in h).log() - (h[target] - top)
        loss.backward()
        for p in params:
            p.data -= LR * p.grad
        return loss.data

    return step


def machine() -> dict:
    """Where the figures were measured."""
    cpu = platform.processor()
    if Path("/proc/cpuinfo").exists():
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
        cpu = names[0] if names else cpu
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=50, help="timed steps per engine (median reported)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps before timing")
    parser.add_argument("--value-repeat", type=int, default=3, help="timed single-sample Value steps")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="BLAS/PyTorch threads")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], BATCH)
    with threadpoolctl.threadpool_limits(limits=args.threads, user_api="blas"):
        tensor_step, model = tensor_engine(x, y)
        torch_step = torch_engine(x, y, model)
        first = tensor_step(), torch_step()  # one step each from the same weights: the losses agree
        assert abs(first[0] - first[1]) < 1e-4, f"the engines disagree on the first loss: {first}"
        value_step = value_engine(x, y, model)
        seconds = timed({"tensor": tensor_step, "torch": torch_step}, args.repeat, args.warmup)
        seconds |= timed({"value_one_sample": value_step}, args.value_repeat, 0)
        blas = threadpoolctl.threadpool_info()
    median_ms = {name: 1000 * statistics.median(t) for name, t in seconds.items()}
    median_ms["value_extrapolated"] = median_ms["value_one_sample"] * BATCH
    min_ms = {name: 1000 * min(t) for name, t in seconds.items()}
    ratio = median_ms["tensor"] / median_ms["torch"]

    print(f"MLP {'-'.join(map(str, SIZES))}, batch {BATCH}, float32, one SGD step, median of {args.repeat}")
    print(
        f"threads: numpy BLAS {args.threads}, torch.get_num_threads() = {torch.get_num_threads()}; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print(f"{'engine':<34}{'ms per step':>14}{'vs PyTorch':>12}")
    rows = [
        ("PyTorch (CPU)", median_ms["torch"]),
        ("Tensor (numpy)", median_ms["tensor"]),
        (f"Value (1 sample x {BATCH}, extrapolated)", median_ms["value_extrapolated"]),
    ]
    for name, ms in rows:
        print(f"{name:<34}{ms:>14.2f}{ms / median_ms['torch']:>11.1f}x")
    print(
        f"Tensor / PyTorch = {ratio:.2f} (goal: within 3x); fastest steps: "
        f"{min_ms['tensor']:.2f} / {min_ms['torch']:.2f} ms = {min_ms['tensor'] / min_ms['torch']:.2f}"
    )

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "step": f"MLP {SIZES}, batch {BATCH}, float32, cross-entropy, backward, SGD update",
        "machine": machine(),
        "threads": {"numpy_blas": args.threads, "torch": torch.get_num_threads()},
        "versions": {"numpy": np.__version__, "torch": torch.__version__},
        "blas": [{k: lib.get(k) for k in ("internal_api", "version", "num_threads")} for lib in blas],
        "repeat": args.repeat,
        "warmup": args.warmup,
        "median_ms": median_ms,
        "min_ms": min_ms,
        "value_note": f"Value engine timed on 1 sample ({args.value_repeat} runs), multiplied by {BATCH}",
        "tensor_over_torch": ratio,
        "tensor_over_torch_fastest": min_ms["tensor"] / min_ms["torch"],
        "all_ms": {name: [1000 * s for s in t] for name, t in seconds.items()},
    }
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
