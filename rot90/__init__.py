"""rot90: an LSTM is a ResNet rotated 90 degrees.

One gated residual update, s_k = f_k * s_{k-1} + i_k * u_k, any rule, along time or depth.
"""

from .nn import GRU, LSTM, MinGRU, MinLSTM, rotate
from .residual import Cell, Residual
from .rules import RULES, Rule
from .scan import scan
from .version import __version__


def __getattr__(name: str):
    if name == "Translator":  # imported when first used: it needs the data and search modules, the layers do not
        from .translate import Translator

        return Translator
    raise AttributeError(f"module 'rot90' has no attribute {name!r}")


def load(folder):
    """(model, info) from a folder written by `rot90 train` (the run folder or its export/)."""
    from .export import load_export

    return load_export(folder)


__all__ = ["LSTM", "GRU", "MinLSTM", "MinGRU", "Cell", "Residual", "rotate", "RULES", "Rule", "scan", "load",
           "Translator", "__version__"]
