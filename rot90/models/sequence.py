"""A stack of time-axis residual layers with an input map and an output head.

    x (B, T) token ids or (B, T, D) values
      -> embed -> [Residual(rule, axis="time")] * layers (+ GNMT-style residual from a layer up)
      -> dropout -> head -> (B, T, out)

The residual option adds each layer's input to its output (y = layer(x) + x) from layer
`residual_from` up: the ResNet connection along depth, on top of the one every LSTM already has
along time (Wu et al. 2016 found deep LSTM stacks need it beyond four layers).
"""

from __future__ import annotations

from torch import Tensor, nn

from ..residual import Residual


class SequenceModel(nn.Module):
    def __init__(self, rule: str, hidden: int, layers: int, out: int, vocab: int = 0, input_dim: int = 1,
                 residual: bool = False, residual_from: int = 1, dropout: float = 0.0):
        super().__init__()
        self.args = dict(rule=rule, hidden=hidden, layers=layers, out=out, vocab=vocab, input_dim=input_dim,
                         residual=residual, residual_from=residual_from, dropout=dropout)  # rebuilds it: rot90.load
        self.embed = nn.Embedding(vocab, hidden) if vocab else nn.Linear(input_dim, hidden)
        self.layers = nn.ModuleList([Residual(rule, hidden, "time", input_size=hidden) for _ in range(layers)])
        self.residual = [residual and k >= residual_from for k in range(layers)]
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, out)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        return self.stream(x, lengths=lengths)[0]

    def stream(self, x: Tensor, states: list | None = None, lengths: Tensor | None = None) -> tuple[Tensor, list]:
        """forward from each layer's state (None: zeros), also giving their states at the end: (B, T, out), states.
        Generation carries them on, one token at a time at O(1) cost each."""
        h, last = self.drop(self.embed(x)), []  # (B, T, H)
        for k, (layer, skip) in enumerate(zip(self.layers, self.residual)):
            y, state = layer(h, None if states is None else states[k], lengths=lengths)
            last.append(state)
            h = self.drop(y + h if skip else y)
        return self.head(h), last


class DepthModel(nn.Module):
    """The rotated twin: a vector (B, D) -> width H -> L residual blocks of a rule along depth -> (B, out).

    The stream starts as the projected input and each block updates it, as a time layer updates
    its state at each step; a state-reading rule (lstm, gru, highway) reads the stream through U.

    The two ways a depth stack differs from a time layer, each a switch (the rotation's 2x2):
    tied: one block's weights for all L blocks, as one cell serves every step along time.
    inject: x is a sequence (B, L, D) and block k reads x_k, as step k reads its input; the stream
        starts at zero. Tied and injected, this is the time layer computed along depth: built from
        the same seed it has SequenceModel(rule, H, 1, out, input_dim=D)'s weights and function.
    """

    def __init__(self, rule: str, hidden: int, layers: int, out: int, inputs: int, tied: bool = False,
                 inject: bool = False):
        super().__init__()
        if inject and not layers:
            raise ValueError("DepthModel: an injected stack needs at least one block")
        self.args = dict(rule=rule, hidden=hidden, layers=layers, out=out, inputs=inputs, tied=tied, inject=inject)
        self.inject = inject
        self.inp = nn.Linear(inputs, hidden)  # inject: applied to each x_k, as SequenceModel's embed
        self.stack = (Residual(rule, hidden, "depth", input_size=hidden if inject else None, layers=layers, tied=tied)
                      if layers else None)  # 0 blocks: a linear classifier
        self.head = nn.Linear(hidden, out)

    def forward(self, x: Tensor) -> Tensor:
        if self.inject:  # x (B, L, D): block k writes from x_k into a stream that starts at zero
            return self.head(self.stack(self.inp(x))[0][:, -1])
        s = self.inp(x)  # (B, H): the start of the stream
        if self.stack is not None:
            s = self.stack(s)[0][:, -1]  # the stack gives the stream after each block, (B, L, H)
        return self.head(s)


__all__ = ["DepthModel", "SequenceModel"]
