"""dlbook: the helper package of the book *Deep Learning by Building It*.

The small public surface every chapter starts from::

    import dlbook
    dlbook.require("0.2.0")                # the version the chapter was written for
    device = dlbook.start()                # seed 0, CPU threads for the scale, cuda > mps > cpu
    epochs = dlbook.pick(book=3, full=30)  # a size that differs between the two scales
    dlbook.glue(ch01_epochs=epochs)        # a number the prose quotes
"""

from dlbook.chapter import glue, start, threads
from dlbook.config import pick, scale
from dlbook.device import device, seed
from dlbook.source import show

__version__ = "0.2.0"

__all__ = ["__version__", "device", "glue", "pick", "require", "scale", "seed", "show", "start", "threads"]

# Submodules load on first use, so `import dlbook` stays fast and `dlbook.train.fit` just works.
_SUBMODULES = (
    "checkpoint", "data", "distributed", "fairness", "features", "generative_metrics", "hardware", "history",
    "interpret", "layers", "metrics", "models", "optim", "plot", "progress", "ranking", "robust", "schedules",
    "scratch", "sequence_metrics", "tokenize", "train",
    "control", "games", "mcts",
)  # fmt: skip


def __getattr__(name: str):
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"dlbook.{name}")
    raise AttributeError(f"module 'dlbook' has no attribute {name!r}")


def require(version: str) -> None:
    """Check that this dlbook is the one a chapter was written for (same major.minor).

    ``version`` is a string such as ``"0.1.0"`` or ``"0.1"``. A mismatch raises an ImportError that says
    which version to install, instead of an AttributeError somewhere further down the chapter; a version
    that is not a string is a TypeError, a string that is not a version a ValueError.
    """
    import re

    if not isinstance(version, str):
        raise TypeError(
            f"version must be a string such as '{__version__}', got {version!r} ({type(version).__name__}): "
            f'write dlbook.require("{__version__}") with quotes.'
        )
    version = version.strip()
    wanted = re.fullmatch(r"(\d+)\.(\d+)(\.\w+)*", version)
    if wanted is None:
        raise ValueError(f"malformed version {version!r}: write major.minor[.patch], e.g. '{__version__}'.")
    want, have = [int(part) for part in wanted.groups()[:2]], [int(part) for part in __version__.split(".")[:2]]
    if want != have:
        raise ImportError(
            f"this chapter was written for dlbook {version}, but dlbook {__version__} is installed. "
            f"Run `pip install -e .` in the book's folder (or `pip install dlbook=={version}`), "
            "then restart the kernel."
        )
