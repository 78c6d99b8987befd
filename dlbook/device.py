"""Choosing the accelerator, making runs repeatable, and the one rule for where a model runs."""

import os
import random
import re

import numpy as np
import torch
from torch import nn

from dlbook.checks import check_int

KNOWN_DEVICES = ("cuda", "mps", "cpu")
MAX_SEED = 2**64 - 1  # the largest seed torch.manual_seed takes


def device(name: str | torch.device | None = None) -> torch.device:
    """The best device here: cuda, then mps, then cpu.

    ``name`` (or the ``DLBOOK_DEVICE`` environment variable) forces one: a string such as ``"cpu"``,
    ``"mps"``, ``"cuda"`` or ``"cuda:1"`` (any case), or a ``torch.device``. Asking for a device this
    machine lacks is an error, not a silent fall-back to the CPU. A number is refused with a TypeError
    rather than guessed at (torch reads ``0`` as the current accelerator): write ``"cuda:0"``.
    """
    if name is not None and not isinstance(name, (str, torch.device)):
        fix = f"; for GPU {name}, write dlbook.device('cuda:{name}')" if type(name) is int else ""
        raise TypeError(
            f"device() takes a name such as 'cuda:0', 'mps' or 'cpu' (or a torch.device), "
            f"got {name!r} ({type(name).__name__}){fix}."
        )
    where = ""
    if not name and os.environ.get("DLBOOK_DEVICE", "").strip():
        name = os.environ["DLBOOK_DEVICE"]
        where = " (from DLBOOK_DEVICE: fix it, or unset it to pick the best device present)"
    if not name:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    text = str(name).strip().lower()
    kind = re.match(r"[a-z]*", text).group()
    if kind not in KNOWN_DEVICES:
        raise ValueError(f"unknown device {name!r}{where}; use one of {KNOWN_DEVICES}, e.g. 'cuda:0'.")
    if not re.fullmatch(r"(cuda|mps|cpu)(:\d+)?", text):
        raise ValueError(
            f"malformed device name {name!r}{where}: write the kind, then optionally a colon and an index, "
            "as in 'cpu', 'mps', 'cuda' or 'cuda:0'."
        )
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if not available[kind]:
        raise RuntimeError(
            f"device {name!r} was asked for but this machine has no {kind.upper()} "
            "(check DLBOOK_DEVICE, or leave it unset to pick the best device present)."
        )
    dev = torch.device(text)
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise RuntimeError(f"device {name!r} does not exist: this machine has {torch.cuda.device_count()} GPU(s).")
    return dev


def seed(n: int = 0, deterministic: bool = False) -> int:
    """Seed Python, NumPy and PyTorch (all devices) with ``n``; return ``n`` as an int.

    ``n`` is an int (a NumPy integer is fine) from 0 to 2**64 - 1, checked before any generator is
    touched. ``deterministic=True`` also asks PyTorch for deterministic kernels (slower on a GPU).
    """
    n = check_int("seed", n, minimum=0, maximum=MAX_SEED, hint="(2**64 - 1 is the largest seed torch takes.)")
    random.seed(n)
    np.random.seed(n % 2**32)
    torch.manual_seed(n)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    return n


def model_device(model: nn.Module, device: str | torch.device | None = None) -> torch.device:
    """Where ``model`` runs: the device of its parameters and buffers (the one rule of fit, evaluate and plots).

    ``device``, when given, must be that device: move the model yourself first, with
    ``model.to(device)`` before you build its optimizer. A model with no parameters or buffers runs
    on ``device`` (default: the CPU).
    """
    places = {tensor.device for tensor in [*model.parameters(), *model.buffers()]}
    asked = torch.device(device) if device is not None else None
    if not places:
        return asked or torch.device("cpu")
    if len(places) > 1:
        raise ValueError(
            f"the model's parameters are spread over {sorted(map(str, places))}; put them on one device "
            "with model.to(device)."
        )
    place = places.pop()
    if asked is not None and (asked.type != place.type or asked.index not in (None, place.index)):
        raise ValueError(
            f"the model is on {place}, but device={str(asked)!r} was asked for: move it first with "
            "model.to(device), before building its optimizer (or leave device out to run where it is)."
        )
    return place
