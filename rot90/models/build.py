"""The one place that turns a model config into a model: every task, the demo and the experiments build here.

`m` is a config with the keys of rot90.train.config.ModelConfig (read by name, not imported: model
code imports nothing from training). Initialisation that the config asks for (uniform init range,
the initial carry, chrono, the stream matrices) is applied here too, so that a model built twice from
one config and seed is the same.
"""

from __future__ import annotations

from torch import nn

from ..init import carry_init, chrono_init, stream_init
from ..residual import Residual
from .seq2seq import RecurrentSeq2Seq
from .sequence import DepthModel, SequenceModel
from .transformer import CausalTransformer, Transformer


def _rule(m) -> str:
    """m.rule; or "resnet@C" when m.write = C scales the resnet rule's writes, "lstm-input-gates" when m.gates =
    "input" moves the LSTM's gates to the input side (rot90.rules.get_rule)."""
    if getattr(m, "write", 0):
        return f"resnet@{m.write:g}"
    return "lstm-input-gates" if getattr(m, "gates", "state") == "input" else m.rule


def sequence_model(m, out: int, vocab: int = 0, input_dim: int = 1, max_len: int = 1024) -> nn.Module:
    """A stack along time (any rule) or a causal Transformer: (B, T) tokens or (B, T, input_dim) -> (B, T, out)."""
    if m.arch == "transformer":
        return CausalTransformer(m.hidden, m.heads, m.layers, out, vocab=vocab, input_dim=input_dim,
                                 dropout=m.dropout, max_len=max_len)
    model = SequenceModel(_rule(m), m.hidden, m.layers, out, vocab=vocab, input_dim=input_dim,
                          residual=m.residual, dropout=m.dropout)
    for layer in model.layers:
        initialise(layer, m)
    return model


def initialise(layer: Residual, m) -> Residual:
    """The initial carry (model.carry, or model.chrono's time scales) and stream matrices (model.init) asked for."""
    if m.carry:
        carry_init(layer, m.carry)
    if m.chrono:
        chrono_init(layer, m.chrono)
    return stream_init(layer, m.init)


def depth_model(m, inputs: int, out: int) -> nn.Module:
    """m.layers blocks of rule m.rule along depth, the input starting the stream: (B, inputs) -> (B, out);
    0 blocks: the linear classifier (the baseline every depth must beat). m.tied shares one block's weights;
    m.inject gives block k the input x_k of a sequence (B, layers, inputs) instead."""
    model = DepthModel(_rule(m), m.hidden, m.layers, out=out, inputs=inputs, tied=m.tied, inject=m.inject)
    if model.stack is not None:
        initialise(model.stack, m)
    return model


def seq2seq_model(m, vocab: int, max_len: int) -> nn.Module:
    """An encoder-decoder over one joint vocabulary: recurrent (any time rule) or a Transformer."""
    if m.arch == "transformer":
        return Transformer(vocab, vocab, d=m.hidden, heads=m.heads, layers=m.layers, ff=4 * m.hidden,
                           dropout=m.dropout, tie_embeddings=m.tie_embeddings, max_len=max(2 * max_len + 20, 256))
    model = RecurrentSeq2Seq(vocab, vocab, rule=_rule(m), hidden=m.hidden, layers=m.layers, embed=m.embed,
                             attention=m.attention, input_feeding=m.input_feeding, residual=m.residual,
                             residual_from=m.residual_from, bidirectional=m.bidirectional,
                             reverse_source=m.reverse_source, dropout=m.dropout, tie_embeddings=m.tie_embeddings,
                             layer_norm=m.layer_norm, bidirectional_layers=m.bidirectional_layers)
    if m.init_range > 0:
        for p in model.parameters():
            nn.init.uniform_(p, -m.init_range, m.init_range)
        for norm in model.modules():  # a LayerNorm starts as the identity's scale, not at gain +-r
            if isinstance(norm, nn.LayerNorm):
                norm.reset_parameters()
    return model
