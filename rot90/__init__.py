"""rot90: an LSTM is a ResNet rotated 90 degrees.

One gated residual update, s_k = f_k * s_{k-1} + i_k * u_k, any rule, along time or depth.

The names below are imported when first used (PEP 562), so that `import rot90` and the `rot90` command's
help do not wait for torch: `rot90.LSTM` imports the layers, `rot90.Translator` the translation stack.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING

from .version import __version__

# public name -> the module that defines it
_HOMES = {
    "RNN": "nn", "LSTM": "nn", "GRU": "nn", "MinLSTM": "nn", "MinGRU": "nn", "rotate": "nn",
    "Cell": "residual", "Residual": "residual",
    "RULES": "rules", "Rule": "rules",
    "scan": "scan",
    "Translator": "translate", "Sampler": "generate",
}
# subpackages and modules a user reaches as attributes (rot90.testing.assert_close after `import rot90`)
_MODULES = {"testing", "nn", "residual", "rules", "scan", "init", "lengths", "export", "config", "models"}


class _Package(types.ModuleType):
    """rot90 itself. Importing a submodule sets it as an attribute of its package; for rot90.scan that would hide
    the function `rot90.scan` behind the module rot90/scan.py of the same name, so that one is not set."""

    def __setattr__(self, name, value):
        if not (name == "scan" and isinstance(value, types.ModuleType)):
            super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str):
    if name in _HOMES:
        value = getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    elif name in _MODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module 'rot90' has no attribute {name!r}")
    globals()[name] = value  # once: later lookups do not come here
    return value


def __dir__():
    return sorted([*globals(), *_HOMES, *_MODULES])


def load(folder):
    """(model, info) from a folder written by `rot90 train` (the run folder or its export/)."""
    from .export import load_export

    return load_export(folder)


if TYPE_CHECKING:  # what type checkers and IDEs see
    from . import testing
    from .generate import Sampler
    from .nn import GRU, LSTM, RNN, MinGRU, MinLSTM, rotate
    from .residual import Cell, Residual
    from .rules import RULES, Rule
    from .scan import scan
    from .translate import Translator

__all__ = ["RNN", "LSTM", "GRU", "MinLSTM", "MinGRU", "Cell", "Residual", "rotate", "RULES", "Rule", "scan", "load",
           "Translator", "Sampler", "testing", "__version__"]
