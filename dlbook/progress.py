"""The progress line of a training run: one line in a terminal, one updated output in a notebook.

In a notebook (and the built book) a text bar written as a stream would keep every update as a new
line; this one writes to a single display output that is replaced in place, so only its final state
is saved.
"""

import sys
import warnings

with warnings.catch_warnings():  # without ipywidgets, tqdm.auto warns in a notebook, then draws a text bar
    warnings.simplefilter("ignore")
    from tqdm import autonotebook, std
    from tqdm.auto import tqdm

WIDGET_BAR = autonotebook.tqdm is not std.tqdm  # tqdm.auto draws a Jupyter widget (ipywidgets is installed)


def progress_bar(total: int, initial: int = 0, desc: str = "fit", unit: str = "epoch", enabled: bool = True):
    """A tqdm bar for ``total`` steps, starting at ``initial``, that leaves one clean line wherever it runs."""
    in_notebook = enabled and not WIDGET_BAR and in_jupyter()
    return tqdm(
        total=total,
        initial=initial,
        desc=desc,
        unit=unit,
        mininterval=0.5,
        disable=not enabled,
        file=NotebookLine() if in_notebook else None,
    )


def postfix(record: dict) -> dict[str, str]:
    """The latest losses and accuracies of an epoch's record, short, for the progress bar."""
    short = {"train_loss": "loss", "train_accuracy": "acc", "val_loss": "val_loss", "val_accuracy": "val_acc"}
    return {name: f"{record[key]:.4g}" for key, name in short.items() if key in record}


def in_jupyter() -> bool:
    """Whether this runs in a Jupyter kernel (a notebook, or the book being built) rather than a terminal."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython else None
    return shell is not None and "IPKernelApp" in shell.config


class NotebookLine:
    """A file-like target for tqdm that keeps one notebook output line, updated in place."""

    encoding = "utf-8"  # lets tqdm draw its bar with block characters

    def __init__(self):
        from IPython.display import Pretty, display

        self.pretty = Pretty
        self.output = display(Pretty(""), display_id=True)

    def write(self, text: str) -> None:
        line = text.rsplit("\r", 1)[-1].rstrip()
        if line:
            self.output.update(self.pretty(line))

    def flush(self) -> None:
        pass
