"""The two scales of the book: ``book`` (a laptop CPU, the default) and ``full`` (a GPU).

Set ``DLBOOK_SCALE=full`` in the environment to run every chapter at full scale.
Every size that differs between the two goes through :func:`pick`; nothing else forks.
"""

import os

SCALES = ("book", "full")


def scale() -> str:
    """The current scale: the value of ``DLBOOK_SCALE``, ``"book"`` when unset."""
    value = os.environ.get("DLBOOK_SCALE", "book").strip().lower() or "book"
    if value not in SCALES:
        raise ValueError(
            f"DLBOOK_SCALE={value!r} is not a known scale; use one of {SCALES} "
            "(unset it for the default 'book')."
        )
    return value


def pick(*, book, full):
    """Return ``book`` or ``full`` for the current scale, e.g. ``epochs = pick(book=3, full=30)``."""
    return book if scale() == "book" else full
