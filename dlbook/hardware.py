"""How fast this machine multiplies matrices, and how fast it could in principle.

``matmul_gflops`` measures; ``peak_gflops`` estimates the ceiling (a CPU from its clock and
vector units, a GPU from its vendor's datasheet); ``describe`` names the hardware in one line and
``slug`` in a short name for files (``nvidia-h200``, ``cpu``).
"""

import math
import os
import platform
import re
import statistics
import time

import torch

from dlbook.device import device as best_device

# Published dense peaks in TFLOP/s from NVIDIA's product datasheets, without the 2:4 sparsity the
# datasheets often quote (which doubles the figure). float32 is the plain CUDA-core rate, what torch
# uses by default; bfloat16 and float16 run on tensor cores. The first pattern that matches the
# device name wins, so specific variants come before the family. The T4 has no bfloat16 units.
GPU_PEAK_TFLOPS = [
    # (name pattern, float32, bfloat16, float16)
    (r"H100.*PCIe", 51.0, 756.0, 756.0),
    (r"H100.*NVL", 60.0, 835.0, 835.0),
    (r"H100", 67.0, 989.0, 989.0),  # SXM5
    (r"H200.*NVL", 60.0, 835.0, 835.0),
    (r"H200", 67.0, 989.0, 989.0),  # SXM
    (r"A100", 19.5, 312.0, 312.0),
    (r"\bL4\b", 30.3, 121.0, 121.0),
    (r"\bT4\b", 8.1, None, 65.0),
]
_DTYPE_COLUMN = {torch.float32: 1, torch.bfloat16: 2, torch.float16: 3}

MIN_SECONDS = 2e-3  # each timed repeat runs enough products to last at least this long


def _resolve(device) -> torch.device:
    return best_device(None if device is None else str(device))


def _sync(dev: torch.device) -> None:
    """Wait until the device has finished its queued work (GPU kernels run asynchronously)."""
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    elif dev.type == "mps":
        torch.mps.synchronize()


def matmul_gflops(n: int, dtype: torch.dtype = torch.float32, device=None, repeats: int = 5) -> float:
    """Measured throughput of an (n, n) @ (n, n) matrix product in GFLOP/s: 2 n^3 FLOPs / median time."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive int (the matrix side), got {n!r}.")
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a positive int, got {repeats!r}.")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point torch dtype such as torch.float32, got {dtype!r}.")
    dev = _resolve(device)
    a = torch.randn(n, n, device=dev).to(dtype)
    b = torch.randn(n, n, device=dev).to(dtype)
    out = torch.empty_like(a)

    def seconds(k: int) -> float:  # wall time of k products, device idle before and after
        _sync(dev)
        start = time.perf_counter()
        for _ in range(k):
            torch.matmul(a, b, out=out)
        _sync(dev)
        return time.perf_counter() - start

    seconds(1)  # warm-up: the first call pays for kernel selection, caches and thread start-up
    k = max(1, math.ceil(MIN_SECONDS / max(seconds(1), 1e-6)))
    times = [seconds(k) / k for _ in range(repeats)]
    return 2 * n**3 / statistics.median(times) / 1e9


def _cpuinfo_fields(cpuinfo: str) -> dict[str, str]:
    """The `key: value` lines of the first processor in /proc/cpuinfo text."""
    fields = {}
    for line in cpuinfo.split("\n\n")[0].splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def cpu_peak_gflops(cpuinfo: str, cpus: int, mhz: float | None = None) -> float | None:
    """Estimated float32 peak in GFLOP/s of ``cpus`` logical CPUs described by /proc/cpuinfo text.

    peak = physical cores x GHz x FLOPs per cycle per core, assuming two FMA units per core, each
    doing a multiply and an add on every lane: AVX2 with FMA (8 lanes) gives 2 x 8 x 2 = 32 FLOPs per
    cycle, AVX-512 (16 lanes) 64, except AMD family 25 (Zen 4), which runs AVX-512 on 256-bit
    units (32). Hyper-threads share their core's units, so ``cpus`` is divided by threads per core.
    The clock is ``mhz`` when given, else the largest of the "cpu MHz" lines and the "@ x.xxGHz" of
    the model name; a virtual machine often reports its base clock, and boosting cores can beat the
    estimate. Returns None when the text lacks what is needed (no FMA, other architectures).
    """
    if not isinstance(cpus, int) or cpus < 1:
        raise ValueError(f"cpus must be a positive int (logical CPUs in use), got {cpus!r}.")
    fields = _cpuinfo_fields(cpuinfo)
    flags = set(fields.get("flags", "").split())
    zen4 = fields.get("vendor_id") == "AuthenticAMD" and fields.get("cpu family") == "25"
    if "avx512f" in flags:
        per_cycle = 32 if zen4 else 64
    elif {"avx2", "fma"} <= flags:
        per_cycle = 32
    else:
        return None
    clocks = [float(m) for m in re.findall(r"^cpu MHz\s*:\s*([\d.]+)", cpuinfo, re.MULTILINE)]
    nominal = re.search(r"@\s*([\d.]+)\s*GHz", fields.get("model name", ""))
    if nominal:
        clocks.append(float(nominal.group(1)) * 1000)
    mhz = mhz or max(clocks, default=None)
    if not mhz:
        return None
    try:
        threads_per_core = max(1, int(fields["siblings"]) // int(fields["cpu cores"]))
    except (KeyError, ValueError, ZeroDivisionError):
        threads_per_core = 1
    cores = math.ceil(cpus / threads_per_core)
    return cores * mhz / 1000 * per_cycle


def gpu_peak_gflops(name: str, dtype: torch.dtype = torch.float32) -> float | None:
    """Published dense peak in GFLOP/s of the GPU called ``name`` (as torch.cuda.get_device_name gives it)."""
    column = _DTYPE_COLUMN.get(dtype)
    row = next((row for row in GPU_PEAK_TFLOPS if re.search(row[0], name)), None)
    if column is None or row is None or row[column] is None:
        return None
    return row[column] * 1000


def allowed_cpus() -> int:
    """Logical CPUs this process may run on: its affinity mask where the OS has one, else all of them."""
    return (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()) or 1


def usable_cpus() -> int:
    """Logical CPUs this process may run on and torch will use (affinity mask and thread setting)."""
    return min(allowed_cpus(), torch.get_num_threads())


def peak_gflops(device=None, dtype: torch.dtype = torch.float32) -> float | None:
    """Estimated peak GFLOP/s of ``device`` for ``dtype``, or None when it cannot tell.

    A CPU (float32 only) is estimated by :func:`cpu_peak_gflops` from /proc/cpuinfo; a CUDA GPU is
    looked up in ``GPU_PEAK_TFLOPS`` (vendor datasheets); other devices give None.
    """
    dev = _resolve(device)
    if dev.type == "cuda":
        return gpu_peak_gflops(torch.cuda.get_device_name(dev), dtype)
    if dev.type != "cpu" or dtype != torch.float32:
        return None
    try:
        with open("/proc/cpuinfo") as f:
            cpuinfo = f.read()
    except OSError:
        return None
    try:  # the highest clock the cores may run at, where Linux exposes it (kHz)
        with open("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq") as f:
            mhz = int(f.read()) / 1000
    except (OSError, ValueError):
        mhz = None
    return cpu_peak_gflops(cpuinfo, usable_cpus(), mhz)


def describe(device=None) -> str:
    """One line naming the hardware behind ``device``, e.g. 'NVIDIA H100 80GB HBM3 (cuda, 79 GiB)'."""
    dev = _resolve(device)
    if dev.type == "cuda":
        props = torch.cuda.get_device_properties(dev)
        return f"{props.name} (cuda, {props.total_memory / 2**30:.0f} GiB)"
    if dev.type == "mps":
        return "Apple GPU (mps)"
    try:
        with open("/proc/cpuinfo") as f:
            model = _cpuinfo_fields(f.read()).get("model name", "")
    except OSError:
        model = ""
    model = model or platform.processor() or platform.machine() or "unknown CPU"
    threads = usable_cpus()
    return f"{model} (cpu, {threads} thread{'s' if threads > 1 else ''})"


def slug(device=None) -> str:
    """A file-name-safe name for the hardware of ``device``: the GPU's (``"nvidia-h200"``), ``"mps"`` or ``"cpu"``."""
    dev = _resolve(device)
    if dev.type == "cuda":
        return re.sub(r"[^a-z0-9]+", "-", torch.cuda.get_device_name(dev).lower()).strip("-") or "cuda"
    return dev.type
