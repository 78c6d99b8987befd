"""dlbook: the helper package of the book *Deep Learning by Building It*.

The small public surface every chapter starts from::

    import dlbook
    dlbook.require("0.1.0")      # the version the chapter was written for
    dev = dlbook.device()        # cuda > mps > cpu
    dlbook.seed(0)
    epochs = dlbook.pick(book=3, full=30)
"""

from dlbook.config import pick, scale
from dlbook.device import device, seed
from dlbook.source import show

__version__ = "0.1.0"

__all__ = ["__version__", "device", "pick", "require", "scale", "seed", "show"]

# Submodules load on first use, so `import dlbook` stays fast and `dlbook.train.fit` just works.
_SUBMODULES = ("data", "features", "hardware", "layers", "models", "optim", "plot", "schedules", "scratch", "train")


def __getattr__(name: str):
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"dlbook.{name}")
    raise AttributeError(f"module 'dlbook' has no attribute {name!r}")


def require(version: str) -> None:
    """Check that this dlbook is the one a chapter was written for (same major.minor).

    A mismatch raises an ImportError that says which version to install, instead of an
    AttributeError somewhere further down the chapter.
    """
    want, have = version.split(".")[:2], __version__.split(".")[:2]
    if want != have:
        raise ImportError(
            f"this chapter was written for dlbook {version}, but dlbook {__version__} is installed. "
            f"Run `pip install -e .` in the book's folder (or `pip install dlbook=={version}`), "
            "then restart the kernel."
        )
