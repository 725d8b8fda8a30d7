"""The rules: how one gated residual update computes its gates.

Every model in rot90 is one update of a residual stream s along an axis k:

    s_k = f_k * s_{k-1} + i_k * u_k
    y_k = out(s_k)

A rule says how f, i, u and out come from the two pre-activations a step sees:

    px = W x_k + b_ih       what the step reads from its input   (..., n*H)
    py = U y_{k-1} + b_hh   what it reads from the stream        (..., n*H), or None

| rule    | f        | i      | u                        | out           | reads the state? |
|---------|----------|--------|--------------------------|---------------|------------------|
| plain   | 0        | 1      | tanh(px + py)            | s             | yes, no residual |
| resnet  | 1        | 1      | tanh(px + py)            | s             | yes              |
| highway | 1 - T    | T      | tanh(px + py)            | s             | yes              |
| lstm    | σ        | σ      | tanh(px + py)            | o * tanh(s)   | yes (sequential) |
| gru     | z        | 1 - z  | tanh(px + r * py)        | s             | yes (sequential) |
| minlstm | f'(x)    | i'(x)  | px                       | s             | no: a scan       |
| mingru  | 1 - z(x) | z(x)   | px                       | s             | no: a scan       |

Rules know nothing about axes, loops or tasks: each row below is one small function
from pre-activations to (f, i, u, o), elementwise over any leading dimensions, so the
same function serves one step (B, n*H) or a whole sequence at once (B, T, n*H).
`o` is what `out` needs besides s (the LSTM's output gate), None for the others.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor
from torch.nn import functional as F

Gates = tuple["Tensor | float", "Tensor | float", Tensor, "Tensor | None"]  # f, i, u, o


def _sum(px: Tensor | None, py: Tensor | None) -> Tensor:
    # At depth a state-reading block has no injected input (px is None); a gate-decoupled
    # rule never reads the stream (py is None).
    if px is None:
        return py
    return px if py is None else px + py


def plain(px, py) -> Gates:
    """Elman RNN along time, a plain deep net along depth: nothing carried over."""
    return 0.0, 1.0, torch.tanh(_sum(px, py)), None


def plain_relu(px, py) -> Gates:
    """The plain rule with torch.nn.RNN's other nonlinearity (nonlinearity="relu"; IRNN, Le et al. 2015)."""
    return 0.0, 1.0, torch.relu(_sum(px, py)), None


def resnet(px, py) -> Gates:
    """The identity carries the stream; the block only adds to it (He et al. 2015)."""
    return 1.0, 1.0, torch.tanh(_sum(px, py)), None


def highway(px, py) -> Gates:
    """A transform gate T decides how much to rewrite (Srivastava et al. 2015)."""
    t, h = _sum(px, py).chunk(2, -1)
    t = torch.sigmoid(t)
    return 1.0 - t, t, torch.tanh(h), None


def lstm(px, py) -> Gates:
    """Hochreiter & Schmidhuber 1997, with the forget gate; torch.nn.LSTM's gate order i, f, g, o."""
    i, f, g, o = _sum(px, py).chunk(4, -1)
    return torch.sigmoid(f), torch.sigmoid(i), torch.tanh(g), torch.sigmoid(o)


def gru(px, py) -> Gates:
    """Cho et al. 2014 as torch.nn.GRU computes it: r gates U y + b_hn, and torch's z is the
    *keep* gate (h = z*h + (1-z)*n), so f = z here where docs/architecture.md's table writes 1 - z."""
    x_r, x_z, x_n = px.chunk(3, -1) if px is not None else (0.0, 0.0, 0.0)
    y_r, y_z, y_n = py.chunk(3, -1)
    r = torch.sigmoid(x_r + y_r)
    z = torch.sigmoid(x_z + y_z)
    return z, 1.0 - z, torch.tanh(x_n + r * y_n), None


def minlstm(px, py) -> Gates:
    """Feng et al. 2024: gates from the input only, f and i normalised to sum to one."""
    f, i, u = px.chunk(3, -1)
    # σ(f) / (σ(f) + σ(i)) as the sigmoid of log σ(f) - log σ(i): no 0/0 when both sigmoids underflow
    d = F.logsigmoid(f) - F.logsigmoid(i)
    return torch.sigmoid(d), torch.sigmoid(-d), u, None


def mingru(px, py) -> Gates:
    """Feng et al. 2024: a GRU whose update gate and candidate read only the input."""
    z, u = px.chunk(2, -1)
    z = torch.sigmoid(z)
    return 1.0 - z, z, u, None


def stream(s: Tensor, o: Tensor | None) -> Tensor:
    """The next step sees the stream itself."""
    return s


def squashed(s: Tensor, o: Tensor) -> Tensor:
    """The LSTM shows a gated, squashed view of its cell: h = o * tanh(c)."""
    return o * torch.tanh(s)


@dataclass(frozen=True)
class Rule:
    name: str
    chunks: int  # pre-activations per hidden unit: W and U have chunks*H rows (the LSTM's i, f, g, o: 4)
    reads_state: bool  # False: f, i, u depend on x only, so the stream is a linear recurrence
    gates: Callable[[Tensor | None, Tensor | None], Gates]
    out: Callable[[Tensor, Tensor | None], Tensor]
    bias: tuple[float, ...] | None = None  # initial b_ih per chunk; None: zeros
    carries: Literal["none", "identity", "gated"] = "gated"  # what of the stream a step keeps: f = 0, 1, or a gate
    torch_kernel: str | None = None  # torch's fused kernel computing this rule along time (torch._VF.NAME), if any
    stream_chunks: int = 0  # chunks of U when fewer pre-activations read the stream than x (gates says which); 0: all

    @property
    def u_chunks(self) -> int:
        """Pre-activations per unit that U writes, py (..., u_chunks*H); 0 for a rule that does not read the stream."""
        return (self.stream_chunks or self.chunks) if self.reads_state else 0

    @property
    def separate_output(self) -> bool:
        """True when y differs from s, so a state is the pair (y, s) (LSTM's (h, c))."""
        return self.out is not stream

    @property
    def n(self) -> int:
        warnings.warn("Rule.n is renamed Rule.chunks; Rule.n goes in the next release", DeprecationWarning,
                      stacklevel=2)
        return self.chunks


RULES: dict[str, Rule] = {
    r.name: r
    for r in [
        Rule("plain", 1, True, plain, stream, carries="none", torch_kernel="rnn_tanh"),
        Rule("resnet", 1, True, resnet, stream, carries="identity"),
        Rule("highway", 2, True, highway, stream, bias=(-1.0, 0.0)),  # start by carrying
        Rule("lstm", 4, True, lstm, squashed, bias=(0.0, 1.0, 0.0, 0.0), torch_kernel="lstm"),  # Jozefowicz 2015
        Rule("gru", 3, True, gru, stream, torch_kernel="gru"),
        Rule("minlstm", 3, False, minlstm, stream),
        Rule("mingru", 2, False, mingru, stream),
    ]
}


# Not a row of the table, a variant of its first: what rot90.RNN(nonlinearity="relu") computes.
PLAIN_RELU = Rule("plain-relu", 1, True, plain_relu, stream, carries="none", torch_kernel="rnn_relu")


# Not a row either: the resnet rule with every write scaled, "resnet@c" (f = 1, i = c). The carry diagram's f = 1
# column at a gated rule's write scale: a gated rule at carry f0 starts writing 1 - f0, the resnet rule 1, so
# comparing them alone mixes carry and write scale (model.write).
def _writing(scale: float) -> Callable:
    def gates(px, py) -> Gates:
        return 1.0, scale, torch.tanh(_sum(px, py)), None
    return gates


# Not a row either: the LSTM with its gates moved to the input side, "lstm-input-gates". i, f and o read only x, as
# minLSTM's gates do, while the candidate still reads the state (so it is sequential): what minLSTM loses by its gates
# alone, apart from its candidate, its missing output gate and its parameter count (model.gates = "input").
def lstm_input_gates(px, py) -> Gates:
    """px: (..., 4H) in torch's order i, f, g, o; py: (..., H), the candidate's alone."""
    i, f, g, o = px.chunk(4, -1)
    return torch.sigmoid(f), torch.sigmoid(i), torch.tanh(g + py), torch.sigmoid(o)


LSTM_INPUT_GATES = Rule("lstm-input-gates", 4, True, lstm_input_gates, squashed, bias=(0.0, 1.0, 0.0, 0.0),
                        stream_chunks=1)


def get_rule(name: str | Rule) -> Rule:
    if isinstance(name, Rule):
        return name
    if isinstance(name, str) and name.startswith("resnet@"):
        try:
            scale = float(name[len("resnet@"):])
        except ValueError:
            scale = -1.0
        if not 0 < scale <= 1:
            raise ValueError(f"rule {name!r}: resnet@C writes C * u, with C in (0, 1]")
        return Rule(name, 1, True, _writing(scale), stream, carries="identity")
    if name == LSTM_INPUT_GATES.name:
        return LSTM_INPUT_GATES
    if name not in RULES:
        raise ValueError(f"unknown rule {name!r}: choose one of {', '.join(RULES)}")
    return RULES[name]
