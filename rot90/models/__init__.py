"""Models built from the residual stream. They import nothing from training, data or the CLI."""

from .seq2seq import RecurrentSeq2Seq
from .sequence import SequenceModel
from .transformer import CausalTransformer, Transformer

__all__ = ["CausalTransformer", "RecurrentSeq2Seq", "SequenceModel", "Transformer"]
