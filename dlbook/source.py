"""Show the package's real source code in a notebook, so the book never keeps a copy."""

import inspect


class Source:
    """Source code of one object; renders as a highlighted code block in Jupyter and the book."""

    def __init__(self, name: str, path: str, code: str):
        self.name, self.path, self.code = name, path, code

    def _repr_markdown_(self) -> str:
        return f"```python\n# {self.path}\n{self.code.rstrip()}\n```"

    def __str__(self) -> str:
        return self.code

    __repr__ = __str__


def show(obj) -> Source:
    """The source of a dlbook function, class or module, e.g. ``dlbook.show(dlbook.train.fit)``."""
    if not (inspect.isfunction(obj) or inspect.isclass(obj) or inspect.ismodule(obj) or inspect.ismethod(obj)):
        raise TypeError(
            f"show() takes a function, class or module, got {type(obj).__name__}; "
            "pass the object itself, e.g. dlbook.show(dlbook.train.fit), not the result of calling it."
        )
    module = inspect.getmodule(obj)
    if module is None or not module.__name__.startswith("dlbook"):
        raise ValueError(
            f"show() renders dlbook's own code; {getattr(obj, '__qualname__', obj)!r} comes from "
            f"{getattr(module, '__name__', 'an unknown module')!r}. Use inspect.getsource for other code."
        )
    path = module.__name__.replace(".", "/") + ("/__init__.py" if hasattr(module, "__path__") else ".py")
    return Source(getattr(obj, "__qualname__", module.__name__), path, inspect.getsource(obj))
