"""Sequence to sequence with recurrent stacks of any time-axis rule (Sutskever et al. 2014).

    encoder: embed -> [Residual(rule)] * layers   (the bottom `bidirectional_layers` optionally bidirectional)
    decoder: embed (+ previous attentional vector: input feeding) -> [Residual(rule)] * layers
             -> Luong attention over the encoder outputs (dot or general), or none -> logits

Options, each a line of the literature:
- reverse_source: read the source backwards (2014: test perplexity 5.8 -> 4.7);
- residual: add each layer's input to its output from layer `residual_from` up (GNMT 2016:
  the ResNet connection along depth, which deep LSTM stacks need);
- attention "none": the final encoder states initialise the decoder and are all it sees (2014);
  "dot"/"general": Luong et al. 2015; input_feeding feeds the attentional vector back in, which
  makes the decoder sequential; without it a gate-decoupled decoder (minlstm, mingru) trains
  in parallel over time through the scan;
- bidirectional: the bottom encoder layer reads the source both ways, half the units each (GNMT 2016);
  bidirectional_layers = layers makes every encoder layer do so (OpenNMT-py's brnn encoder);
- layer_norm: LayerNorm over each layer's input (Ba et al. 2016), pre-norm as in the Transformer: outside
  the cell, so that the fused kernel and the scan still compute it, and off the residual path, so that the
  outputs (attention's keys and the tied output layer's input) stay in the cell's range.
The decoder's initial state is always the encoder's final state, layer by layer.

Shapes: src (B, S) ids, src_len (B,), tgt (B, T) ids; pad = 0, bos = 1, eos = 2.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..lengths import mask, reverse_padded
from ..residual import Residual
from ..tokens import PAD
from .search import beam_rows, source_rows


def _reverse(x: Tensor, lengths: Tensor) -> Tensor:
    """Reverse each row of a batch-first (B, S, ...) tensor within its length."""
    squeeze = x.dim() == 2
    x = x.unsqueeze(-1) if squeeze else x
    out = reverse_padded(x.transpose(0, 1), lengths).transpose(0, 1)
    return out.squeeze(-1) if squeeze else out


def _select(state, idx: Tensor):
    """Rows idx of a tensor, of a layer state (y, s), or None."""
    if state is None:
        return None
    return tuple(t.index_select(0, idx) for t in state) if isinstance(state, tuple) else state.index_select(0, idx)


def _merge(fwd, bwd):
    """The final states of the two directions of a bidirectional layer, side by side."""
    if isinstance(fwd, tuple):
        return tuple(torch.cat(p, -1) for p in zip(fwd, bwd))
    return torch.cat([fwd, bwd], -1)


@dataclass
class DecoderState:
    """What incremental decoding carries: O(1) per step in the length of the output.

    Under beam search each source has `beam` hypotheses, the N = B * beam rows of `layers` and `feed`,
    consecutive per source; what depends on the source alone (memory, mask, keys) keeps one row per source,
    so following the hypotheses never copies it.
    """

    memory: Tensor  # (B, S, H) encoder outputs
    mask: Tensor  # (B, S) True at real source positions
    layers: list  # per decoder layer: s (N, H) or (y, s)
    feed: Tensor | None  # (N, H) previous attentional vector (input feeding), else None
    keys: Tensor | None = None  # (B, S, H) general attention's keys, computed once per source, not per step
    beam: int = 1

    def select(self, idx: Tensor) -> DecoderState:
        """Rows idx (N',) of the hypotheses; with beam > 1 each source's rows stay together, beam of them."""
        src = source_rows(idx, self.beam)
        return DecoderState(_select(self.memory, src), _select(self.mask, src), [_select(s, idx) for s in self.layers],
                            _select(self.feed, idx), _select(self.keys, src), self.beam)

    def beams(self, K: int) -> DecoderState:
        """K hypotheses for each source, all starting from its state."""
        idx = beam_rows(len(self.mask), K, self.mask.device)
        return DecoderState(self.memory, self.mask, [_select(s, idx) for s in self.layers], _select(self.feed, idx),
                            self.keys, K)


class RecurrentSeq2Seq(nn.Module):
    def __init__(self, src_vocab: int, tgt_vocab: int, rule: str = "lstm", hidden: int = 256, layers: int = 2,
                 embed: int = 0, attention: str = "none", input_feeding: bool = False, residual: bool = False,
                 residual_from: int = 1, bidirectional: bool = False, reverse_source: bool = False,
                 dropout: float = 0.0, tie_embeddings: bool = False, layer_norm: bool = False,
                 bidirectional_layers: int = 1):
        super().__init__()
        if attention not in ("none", "dot", "general"):
            raise ValueError(f"unknown attention {attention!r}: choose none, dot or general")
        if input_feeding and attention == "none":
            raise ValueError("input_feeding needs attention (dot or general)")
        if bidirectional and hidden % 2:
            raise ValueError(f"a bidirectional layer splits hidden={hidden} in two: make it even")
        if bidirectional and not 1 <= bidirectional_layers <= layers:
            raise ValueError(f"bidirectional_layers={bidirectional_layers}: between 1 and layers={layers}")
        embed = embed or hidden
        if tie_embeddings and embed != hidden:
            raise ValueError(f"tie_embeddings needs embed == hidden, got {embed} and {hidden}")
        self.args = dict(src_vocab=src_vocab, tgt_vocab=tgt_vocab, rule=rule, hidden=hidden, layers=layers,
                         embed=embed, attention=attention, input_feeding=input_feeding, residual=residual,
                         residual_from=residual_from, bidirectional=bidirectional, reverse_source=reverse_source,
                         dropout=dropout, tie_embeddings=tie_embeddings, layer_norm=layer_norm,
                         bidirectional_layers=bidirectional_layers)  # what rot90.load rebuilds it from
        self.attention, self.input_feeding, self.reverse_source = attention, input_feeding, reverse_source
        self.hidden = hidden
        self.src_embed = nn.Embedding(src_vocab, embed, padding_idx=PAD)
        self.tgt_embed = nn.Embedding(tgt_vocab, embed, padding_idx=PAD)
        self.both_ways = bidirectional_layers if bidirectional else 0  # the bottom layers that read both ways
        inputs = [embed] + [hidden] * (layers - 1)
        width = [hidden // 2 if k < self.both_ways else hidden for k in range(layers)]
        self.encoder = nn.ModuleList([Residual(rule, width[k], "time", input_size=inputs[k]) for k in range(layers)])
        if self.both_ways:  # the backward halves; the bottom one keeps the name it had before any other could be
            self.encoder_backward = Residual(rule, width[0], "time", input_size=inputs[0])
            self.encoder_backward_upper = nn.ModuleList([Residual(rule, width[k], "time", input_size=inputs[k])
                                                         for k in range(1, self.both_ways)])
        feed = hidden if input_feeding else 0
        self.decoder = nn.ModuleList([Residual(rule, hidden, "time", input_size=embed + feed)] +
                                     [Residual(rule, hidden, "time", input_size=hidden) for _ in range(layers - 1)])
        self.skip = [residual and k >= residual_from for k in range(layers)]
        sizes = [hidden] * (layers - 1)  # each layer's input features, above the first
        norm = nn.LayerNorm if layer_norm else (lambda n: nn.Identity())
        self.encoder_norm = nn.ModuleList([norm(n) for n in [embed, *sizes]])
        self.decoder_norm = nn.ModuleList([norm(n) for n in [embed + feed, *sizes]])
        if attention == "general":
            self.attn_in = nn.Linear(hidden, hidden, bias=False)
        if attention != "none":
            self.attn_out = nn.Linear(2 * hidden, hidden, bias=False)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, tgt_vocab)
        if tie_embeddings:
            self.out.weight = self.tgt_embed.weight

    # -- encoder -------------------------------------------------------------------------------

    def encode(self, src: Tensor, src_len: Tensor) -> DecoderState:
        """The decoder's starting point for a batch of sources."""
        src_len = src_len.to(src.device)
        if self.reverse_source:
            src = _reverse(src, src_len)
        h = self.drop(self.src_embed(src))  # (B, S, E)
        finals = []
        for k, layer in enumerate(self.encoder):
            x = self.encoder_norm[k](h)
            y, final = layer(x, lengths=src_len)
            if k < self.both_ways:
                backward = self.encoder_backward if k == 0 else self.encoder_backward_upper[k - 1]
                yb, fb = backward(_reverse(x, src_len), lengths=src_len)
                y, final = torch.cat([y, _reverse(yb, src_len)], -1), _merge(final, fb)
            h = self.drop(y + h if self.skip[k] else y)
            finals.append(final)
        inside = mask(src_len, src.shape[1], src.device)  # (B, S)
        feed = h.new_zeros(h.shape[0], self.hidden) if self.input_feeding else None
        return DecoderState(h, inside, finals, feed, self.attn_in(h) if self.attention == "general" else None)

    # -- decoder -------------------------------------------------------------------------------

    def _attend(self, h: Tensor, state: DecoderState) -> Tensor:
        """Luong attention: h (B, T, H) queries over the encoder outputs -> attentional vectors (B, T, H)."""
        if self.attention == "none":
            return h
        keys = state.memory if state.keys is None else state.keys  # dot: the outputs are their own keys
        q = h.reshape(len(keys), -1, h.shape[-1])  # (B, beam T, H): a source's hypotheses query its memory together
        scores = q @ keys.transpose(1, 2)  # (B, beam T, S)
        scores = scores.masked_fill(~state.mask[:, None, :], float("-inf"))
        context = (torch.softmax(scores, -1) @ state.memory).view_as(h)  # (N, T, H)
        return torch.tanh(self.attn_out(torch.cat([context, h], -1)))

    def _layers(self, x: Tensor, states: list) -> tuple[Tensor, list]:
        new = []
        for k, layer in enumerate(self.decoder):
            y, s = layer(self.decoder_norm[k](x), states[k])
            x = self.drop(y + x if self.skip[k] else y)
            new.append(s)
        return x, new

    def step(self, tokens: Tensor, state: DecoderState, out=None) -> tuple[Tensor, DecoderState]:
        """One output position: tokens (N,) -> logits (N, V) and the next state (out: an output layer instead of
        self.out, search.restrict's shortlist: (N, C))."""
        x = self.drop(self.tgt_embed(tokens))[:, None]  # (N, 1, E)
        if state.feed is not None:
            x = torch.cat([x, state.feed[:, None]], -1)
        h, layers = self._layers(x, state.layers)
        att = self._attend(h, state)  # (N, 1, H)
        logits = (out or self.out)(self.drop(att))[:, 0]
        return logits, DecoderState(state.memory, state.mask, layers, att[:, 0] if self.input_feeding else None,
                                    state.keys, state.beam)

    def forward(self, src: Tensor, src_len: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher forcing: logits (B, T, V) for every position of tgt_in (BOS y_1 ... y_{T-1})."""
        state = self.encode(src, src_len)
        if self.input_feeding:  # each step needs the previous one's attentional vector
            # What does not depend on that is done once for all positions: the embeddings, the attention
            # keys (in encode), and the output projection (one (B*T, H) x (H, V) product instead of T small ones).
            # unbind, not emb[:, t:t + 1]: a slice's backward fills a zero tensor the size of all of emb at
            # every step (O(T^2) memory traffic, a quarter of a training step measured); unbind's is one stack.
            emb = self.drop(self.tgt_embed(tgt_in)).unbind(1)  # T x (B, E)
            feed, layers, atts = state.feed, state.layers, []
            for t in range(tgt_in.shape[1]):
                h, layers = self._layers(torch.cat([emb[t], feed], -1)[:, None], layers)
                att = self._attend(h, state)  # (B, 1, H)
                atts.append(att)
                feed = att[:, 0]
            return self.out(self.drop(torch.cat(atts, 1)))
        h, _ = self._layers(self.drop(self.tgt_embed(tgt_in)), state.layers)  # whole sequence at once
        return self.out(self.drop(self._attend(h, state)))
