"""Checkpoints: saved atomically, loaded safely, and everything ``fit`` needs to resume a run exactly.

``save_checkpoint`` writes to a temporary file beside the target and renames it into place, so a
crash leaves the old checkpoint or the new one, never half of one. ``load_checkpoint`` loads with
``weights_only=True``: tensors and plain data, never code. ``training_state`` and ``restore`` hold
the model, the optimizer, the scheduler, the History and every random number generator training
draws from, so a resumed run gives the same weights as an uninterrupted one.
"""

import os
import pickle
import random
import re
import tempfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

from dlbook.history import History

PLAIN = (int, float, bool, str, bytes, type(None), torch.Tensor, torch.dtype, torch.device, torch.Size)


def save_checkpoint(path: str | os.PathLike, **state) -> Path:
    """Save ``state`` (tensors, dicts, lists, numbers, strings) to ``path`` atomically: the old file or the new.

    Anything ``load_checkpoint`` would refuse (a NumPy array, any other Python object) is refused
    here, before the old file is touched. Temporary files left by an interrupted save are removed.
    """
    path = Path(path).expanduser()
    check_loadable(state)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with open(handle, "wb") as file:
            torch.save(state, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    return path


def load_checkpoint(path: str | os.PathLike, map_location=None) -> dict:
    """Load what ``save_checkpoint`` stored, with ``weights_only=True``: plain data and tensors, never code."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"no checkpoint at {path}: check the path, or train with fit(..., checkpoint={str(path)!r}) first."
        )
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # a damaged file fails in many ways, from EOFError to KeyError
        unsafe = isinstance(error, pickle.UnpicklingError) and re.search(r"GLOBAL (\S+)", str(error))
        if unsafe:
            raise pickle.UnpicklingError(
                f"{path} holds a Python object ({unsafe.group(1)}) and load_checkpoint only loads tensors, "
                "dicts, lists, numbers and strings, because unpickling an object can run arbitrary code. "
                "Save state_dicts and plain data instead; only if you trust the file, use "
                "torch.load(path, weights_only=False)."
            ) from error
        raise RuntimeError(
            f"could not read the checkpoint {path}: the file is damaged or not a torch checkpoint "
            f"({type(error).__name__}). Delete it and train again."
        ) from error


def check_loadable(state: dict, name: str = "state") -> None:
    """Raise a TypeError if ``load_checkpoint`` would refuse part of ``state`` (e.g. a NumPy array)."""
    unloadable = _unloadable(state, name)
    if unloadable:
        where, kind = unloadable
        raise TypeError(
            f"{where} is a {kind}, which load_checkpoint would refuse (it loads only tensors, dicts, lists, "
            "numbers and strings), so this checkpoint could never be resumed. Store it as a tensor or a "
            "list instead, e.g. torch.from_numpy(array) in get_extra_state()."
        )


def _unloadable(value, where: str) -> tuple[str, str] | None:
    """The first place in ``value`` that ``weights_only`` loading refuses, as (where, type name), or None."""
    if isinstance(value, dict | OrderedDict):
        items = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    elif isinstance(value, PLAIN):
        return None
    else:
        return where, f"{type(value).__module__}.{type(value).__qualname__}"
    for key, item in items:
        found = _unloadable(item, f"{where}[{key!r}]")
        if found:
            return found
    return None


def rng_state(loader=None) -> dict:
    """Every random number generator training draws from (and ``loader``'s own), as tensors and numbers."""
    _, keys, position, has_gauss, gauss = np.random.get_state()
    version, python_state, python_gauss = random.getstate()
    generator = _loader_generator(loader)
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(position),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "python": {"version": version, "state": list(python_state), "gauss": python_gauss},
        "loader": generator.get_state() if generator is not None else None,
    }


def set_rng_state(state: dict, loader=None) -> None:
    """Put every generator back where ``rng_state`` found it."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    numpy = state["numpy"]
    keys = numpy["keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, numpy["pos"], numpy["has_gauss"], numpy["gauss"]))
    python = state["python"]
    random.setstate((python["version"], tuple(python["state"]), python["gauss"]))
    generator = _loader_generator(loader)
    if generator is not None and state["loader"] is not None:
        generator.set_state(state["loader"])


def _loader_generator(loader) -> torch.Generator | None:
    """The torch.Generator that shuffles ``loader``, if it has its own."""
    return getattr(loader, "generator", None) or getattr(getattr(loader, "sampler", None), "generator", None)


def training_state(model, optimizer, scheduler, history: History, loader, best_weights: dict | None) -> dict:
    """All ``fit`` needs to continue exactly where it stopped."""
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "optimizer_class": type(optimizer).__qualname__,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "history": history.to_dict(),
        "epoch": len(history),
        "rng": rng_state(loader),
        "best_weights": best_weights,
    }


def restore(state: dict, path, model, optimizer, scheduler, loader) -> tuple[History, dict | None]:
    """Load a ``fit`` checkpoint into the model, optimizer, scheduler and generators.

    Everything is checked before anything is loaded, so a checkpoint of another model or optimizer
    leaves this one untouched. Returns the History and the best weights early stopping kept (None
    without early stopping).
    """
    needed = {"model", "optimizer", "scheduler", "history", "epoch", "rng"}
    if not isinstance(state, dict) or not needed <= state.keys():
        raise ValueError(f"{path} is not a checkpoint written by fit(); delete it or pass another path.")
    _check_same_model(state["model"], model.state_dict(), path)
    saved_class = state.get("optimizer_class")
    saved_groups = [set(group) - {"params"} for group in state["optimizer"]["param_groups"]]
    groups = [set(group) - {"params"} for group in optimizer.state_dict()["param_groups"]]
    if (saved_class and saved_class != type(optimizer).__qualname__) or saved_groups != groups:
        raise ValueError(
            f"{path} was written with the optimizer {saved_class or 'of another kind'}, and this run passes "
            f"{type(optimizer).__qualname__}: resume with the same optimizer class and parameter groups, or "
            "start a new run with another checkpoint path."
        )
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"], loader)
    return History.from_dict(state["history"]), state.get("best_weights")


def _check_same_model(saved: dict, current: dict, path) -> None:
    """Raise unless ``saved`` has exactly the names and shapes of the model's ``current`` state_dict."""
    if saved.keys() != current.keys():
        missing, extra = sorted(current.keys() - saved.keys()), sorted(saved.keys() - current.keys())
        raise ValueError(
            f"{path} holds the weights of another model (missing {missing[:3]}, unexpected {extra[:3]}): "
            "resume with the same model, or start a new run with another checkpoint path."
        )
    for name, tensor in current.items():
        if isinstance(tensor, torch.Tensor) and getattr(saved[name], "shape", None) != tensor.shape:
            raise ValueError(
                f"{path} holds {name} of shape {tuple(saved[name].shape)}, but the model's is "
                f"{tuple(tensor.shape)}: resume with the same model, or start a new run with another path."
            )
