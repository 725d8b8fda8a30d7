"""rot90: an LSTM is a ResNet rotated 90 degrees.

One gated residual update, s_k = f_k * s_{k-1} + i_k * u_k, any rule, along time or depth.
"""

from .nn import GRU, LSTM, MinGRU, MinLSTM, rotate
from .residual import Cell, Residual
from .rules import RULES, Rule
from .scan import scan
from .version import __version__


def load(folder):
    """(model, info) from a folder written by `rot90 train` (the run folder or its export/)."""
    from .export import load_export

    return load_export(folder)


__all__ = ["LSTM", "GRU", "MinLSTM", "MinGRU", "Cell", "Residual", "rotate", "RULES", "Rule", "scan", "load",
           "__version__"]
