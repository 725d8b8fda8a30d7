"""Models built from the residual stream. They import nothing from training, data or the CLI."""

from .seq2seq import RecurrentSeq2Seq
from .sequence import DepthModel, SequenceModel
from .transformer import CausalTransformer, Transformer

__all__ = ["CausalTransformer", "DepthModel", "RecurrentSeq2Seq", "SequenceModel", "Transformer"]
