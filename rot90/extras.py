"""Optional dependencies: the layers need torch and numpy; the rest comes with an extra of the package.

`need("sacrebleu", "nmt")` imports a module or raises MissingExtra, one line that names the
extra to install; the CLI prints it and exits with 2.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingExtra(ImportError):
    """A feature's optional dependency is not installed."""


def need(module: str, extra: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as e:
        top = module.split(".")[0]
        raise MissingExtra(f"this needs the package {top!r} ({e.name or top} is not installed): "
                           f"pip install 'rot90[{extra}]'") from e
