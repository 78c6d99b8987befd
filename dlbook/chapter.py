"""How every chapter starts, and how it hands its numbers to the prose.

    device = dlbook.start()             # seed 0, the best device, CPU threads for this scale
    dlbook.glue(ch03_accuracy=accuracy) # the text quotes it with myst-nb's glue:text role

At book scale a chapter runs on one CPU thread, for PyTorch and for the BLAS library behind NumPy
and scikit-learn alike: the timings it reports are those of one core, its results repeat run to run,
and the tests can run two chapters side by side without the threads fighting over the cores. At
full scale it uses every core it may. ``DLBOOK_THREADS=n`` sets the number yourself.
"""

import os

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from dlbook.config import pick, scale
from dlbook.device import device as pick_device
from dlbook.device import seed as seed_everything
from dlbook.hardware import allowed_cpus

GLUED: dict[str, object] = {}  # every value glued in this process, by name


def threads() -> int:
    """CPU threads for this scale: ``$DLBOOK_THREADS`` if set, else 1 at book scale and every core at full."""
    value = os.environ.get("DLBOOK_THREADS", "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"DLBOOK_THREADS={value!r} is not a whole number >= 1; set it to e.g. 4, or unset it.")
        return int(value)
    return pick(book=1, full=allowed_cpus())


def start(seed: int = 0, device: str | None = None) -> torch.device:
    """Start a chapter: seed every generator, set the CPU threads, pick the device; return the device.

    ``device`` (or ``$DLBOOK_DEVICE``) forces one, e.g. ``"cpu"``; by default cuda, then mps,
    then the CPU. Prints one line saying what was chosen.
    """
    chosen = pick_device(device)
    n = threads()
    torch.set_num_threads(n)
    threadpool_limits(n)  # NumPy's and scikit-learn's BLAS and OpenMP threads
    seed_everything(seed)
    from dlbook import __version__

    print(f"dlbook {__version__} | scale: {scale()} | device: {chosen} | CPU threads: {n} | seed: {seed}")
    return chosen


def glue(**values) -> None:
    """Hand numbers to the prose: after ``glue(ch03_accuracy=0.91)`` the text quotes ``ch03_accuracy:.2f``.

    When the book is built (myst-nb installed) each value is glued without being displayed; a chapter
    run elsewhere (Colab, a plain Jupyter, a script) keeps them in ``dlbook.chapter.GLUED`` and runs the same.
    Tensors and NumPy scalars of one element become plain Python numbers.
    """
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        myst_glue = None
    for name, value in values.items():
        if isinstance(value, torch.Tensor) and value.numel() == 1 or isinstance(value, np.generic):
            value = value.item()
        GLUED[name] = value
        if myst_glue is not None:
            myst_glue(name, value, display=False)
