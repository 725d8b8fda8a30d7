"""Models built from the residual stream. They import nothing from training, data or the CLI."""

from .sequence import SequenceModel

__all__ = ["SequenceModel"]
