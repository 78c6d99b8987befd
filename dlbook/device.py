"""Choosing the accelerator and making runs repeatable."""

import os
import random

import numpy as np
import torch

KNOWN_DEVICES = ("cuda", "mps", "cpu")


def device(name: str | None = None) -> torch.device:
    """The best device here: cuda, then mps, then cpu.

    ``name`` (or the ``DLBOOK_DEVICE`` environment variable) forces one, e.g. ``"cpu"``
    or ``"cuda:1"``; asking for a device this machine lacks is an error, not a silent
    fall-back to the CPU.
    """
    name = name or os.environ.get("DLBOOK_DEVICE") or None
    if name is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind = str(name).split(":")[0].strip().lower()
    if kind not in KNOWN_DEVICES:
        raise ValueError(f"unknown device {name!r}; use one of {KNOWN_DEVICES}, e.g. 'cuda:0'.")
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if not available[kind]:
        raise RuntimeError(
            f"device {name!r} was asked for but this machine has no {kind.upper()} "
            "(check DLBOOK_DEVICE, or leave it unset to pick the best device present)."
        )
    dev = torch.device(str(name).strip().lower())
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise RuntimeError(f"device {name!r} does not exist: this machine has {torch.cuda.device_count()} GPU(s).")
    return dev


def seed(n: int = 0, deterministic: bool = False) -> int:
    """Seed Python, NumPy and PyTorch (all devices) with ``n``; return ``n``.

    ``deterministic=True`` also asks PyTorch for deterministic kernels (slower on a GPU).
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(f"seed must be a non-negative int, got {n!r}.")
    random.seed(n)
    np.random.seed(n % 2**32)
    torch.manual_seed(n)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    return n
