"""One rule along one axis: the residual stream over time or over depth, and the rotation.

    s_k = f_k * s_{k-1} + i_k * u_k,   y_k = out(s_k)

A `Cell` holds the weights of one block (W, U, biases) and applies one update.
`integrate` runs a sequence of cells over the stream, one per k: the same loop whether k
counts positions (the same cell T times) or layers (L different cells). That is the
whole claim of the project in one function; the two axes differ only in which cells
they hand it and where x_k comes from:

    time    one cell, shared over k; x_k is the input at position k  (an RNN)
    depth   one cell per layer; x_k is the stream itself, or an injected input  (a ResNet)

`rotate(layer, steps=T)` turns a time layer into a T-deep stack of its one cell (tied
weights, x_k injected at block k): the same function. `rotate(stack)` turns it back.
A stream whose gates do not read it is a linear recurrence: along time it is computed
by `scan` for all k at once instead of by the loop.

`along_time` picks the path, each computing the same function as `integrate` (the reference):

    sequential   integrate, one step at a time
    parallel     the fastest path there is (the default): torch's fused kernel for plain, lstm and
                 gru (rot90.torch_rnn); rot90's compiled pass for minlstm and mingru on the CPU
                 (rot90.compiled); elsewhere rules + scan
    compiled     rot90's compiled pass (gate-decoupled rules, CPU)
    loop, doubling, chunked   rules + scan with that scan method
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from . import compiled, torch_rnn
from .errors import ArgumentError
from .lengths import check_lengths, mask
from .rules import Rule, get_rule
from .scan import METHODS as SCAN_METHODS
from .scan import scan

State = Tensor | tuple[Tensor, Tensor]  # s, or (y, s) when out(s) != s (LSTM's (h, c))


class Weights(NamedTuple):
    """One block's parameters, named as torch.nn.LSTMCell names them; None where absent."""

    weight_ih: Tensor | None  # (n*H, I): W
    weight_hh: Tensor | None  # (n*H, P): U, over the output y (P = H, or proj_size)
    bias_ih: Tensor | None
    bias_hh: Tensor | None
    weight_hr: Tensor | None = None  # (P, H): the output's projection (LSTMP, Sak et al. 2014), or none


def project(w: Weights, x: Tensor | None) -> Tensor | None:
    """px = W x + b_ih over any leading dims: (..., I) -> (..., n*H). Tied weights allow all steps at once."""
    if x is None or w.weight_ih is None:
        return None
    return nn.functional.linear(x, w.weight_ih, w.bias_ih)


def output(rule: Rule, w: Weights, s: Tensor, o: Tensor | None) -> Tensor:
    """y = out(s, o), projected by W_hr where the block has a projection: (..., H) -> (..., P)."""
    y = rule.out(s, o)
    return y if w.weight_hr is None else nn.functional.linear(y, w.weight_hr)


def update(rule: Rule, w: Weights, px: Tensor | None, y: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
    """One step of the stream: (y_{k-1}, s_{k-1}) -> (y_k, s_k), given px = W x_k + b_ih."""
    py = None if w.weight_hh is None else nn.functional.linear(y, w.weight_hh, w.bias_hh)
    f, i, u, o = rule.gates(px, py)
    s = f * s + i * u
    return output(rule, w, s, o), s


def integrate(rule: Rule, ws: Sequence[Weights], pxs, y: Tensor, s: Tensor, mask: Tensor | None = None):
    """Run the update with weights ws[k] for k = 0..K-1, one step at a time.

    The same loop serves both axes: along time ws is one block's weights repeated T times,
    along depth it is L blocks' own weights. pxs[k]: projected input of step k (B, n*H) or
    None. mask[k]: (B, 1) bool, False where a sequence has ended: there the state is carried
    and the output is 0. Returns the outputs (K, B, H) and the final (y, s).
    """
    ys = []
    for w, px, m in zip(ws, pxs, mask if mask is not None else [None] * len(ws)):
        y_new, s_new = update(rule, w, px, y, s)
        if m is not None:
            y, s = torch.where(m, y_new, y), torch.where(m, s_new, s)
            y_new = y_new * m
        else:
            y, s = y_new, s_new
        ys.append(y_new)
    if not ys:  # no steps: nothing out, the state as it came in
        return y.new_zeros(0, *y.shape), (y, s)
    return torch.stack(ys), (y, s)


class Cell(nn.Module):
    """The parameters of one block: W over the input, U over the stream, with biases.

    input_size 0 means no input (a depth block of a state-reading rule reads only the
    stream); gate-decoupled rules (minlstm, mingru) have no U. proj_size > 0 projects the
    output of a rule whose output is not its stream (the LSTM's h = W_hr (o * tanh(c))).
    """

    def __init__(self, rule: str | Rule, input_size: int, hidden_size: int, bias: bool = True, proj_size: int = 0):
        super().__init__()
        self.rule = get_rule(rule)
        if hidden_size <= 0 or input_size < 0:
            raise ValueError(f"{self.rule.name} cell: sizes must be positive, "
                             f"got input_size={input_size}, hidden_size={hidden_size}")
        if input_size == 0 and self.rule.u_chunks < self.rule.chunks:
            raise ValueError(f"rule {self.rule.name!r}: its gates read only the input: input_size must be > 0")
        if proj_size and not (self.rule.separate_output and 0 < proj_size < hidden_size):
            raise ValueError(f"{self.rule.name} cell: proj_size={proj_size} needs a rule whose output is not its "
                             f"stream (lstm) and 0 < proj_size < hidden_size={hidden_size}")
        self.input_size, self.hidden_size, self.proj_size = input_size, hidden_size, proj_size
        rows = self.rule.chunks * hidden_size

        def param(*shape):
            return nn.Parameter(torch.empty(*shape))

        self.weight_ih = param(rows, input_size) if input_size else None
        self.bias_ih = param(rows) if bias and input_size else None
        u_rows = self.rule.u_chunks * hidden_size  # fewer than rows where only some pre-activations read the stream
        self.weight_hh = param(u_rows, proj_size or hidden_size) if self.rule.reads_state else None
        self.bias_hh = param(u_rows) if bias and self.rule.reads_state else None
        self.weight_hr = param(proj_size, hidden_size) if proj_size else None
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1 / math.sqrt(self.hidden_size)  # torch.nn.RNN's init
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)
        bias = self.bias_ih if self.bias_ih is not None else self.bias_hh
        if self.rule.bias is not None and bias is not None:
            with torch.no_grad():
                for chunk, value in zip(bias.chunk(self.rule.chunks), self.rule.bias):
                    chunk.fill_(value)

    @property
    def weights(self) -> Weights:
        return Weights(self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, self.weight_hr)

    def forward(self, x: Tensor | None, y: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
        """One update from input x_k (B, I) or None: (y_{k-1}, s_{k-1}) -> (y_k, s_k)."""
        return update(self.rule, self.weights, project(self.weights, x), y, s)


def _split(rule: Rule, state: State | None, like: Tensor, y_like: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """(y, s) from a caller's state, checked against `y_like` (B, P) and `like` (B, H): the kernels trust shapes."""
    y_like = like if y_like is None else y_like
    if state is None:
        return torch.zeros_like(y_like), torch.zeros_like(like)
    if rule.separate_output:
        if not isinstance(state, tuple) or len(state) != 2:
            raise ArgumentError(f"rule {rule.name!r} has state (y, s): pass a pair of tensors")
        parts = state
    elif isinstance(state, tuple):
        raise ArgumentError(f"rule {rule.name!r} has a single state tensor s, not a tuple")
    else:
        parts = (state, state)
    for t, ref in zip(parts, (y_like, like)):
        if not isinstance(t, Tensor):
            raise ArgumentError(f"{rule.name}: the state must be tensors, got {type(t).__name__}")
        if t.shape != ref.shape:
            raise ArgumentError(f"{rule.name}: the state has shape {tuple(t.shape)}, expected {tuple(ref.shape)}")
        if t.device != like.device:
            raise ArgumentError(f"{rule.name}: the state is on {t.device}, the input on {like.device}")
    return parts


def _join(rule: Rule, y: Tensor, s: Tensor) -> State:
    return (y, s) if rule.separate_output else s


METHODS = ("parallel", "compiled", "sequential", *(m for m in SCAN_METHODS if m not in ("sequential", "compiled")))


def check_method(method: str) -> str:
    """A method of along_time; "fused" (the compiled pass's old name) warns and is read as "compiled"."""
    if method == "fused":
        warnings.warn('method="fused" is renamed method="compiled" (rot90\'s compiled pass); "fused" goes in the '
                      "next release", DeprecationWarning, stacklevel=3)
        return "compiled"
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: choose one of {', '.join(METHODS)}")
    return method


def along_time(rule: Rule, w: Weights, x: Tensor, state: State | None = None, lengths: Tensor | None = None,
               method: str = "parallel") -> tuple[Tensor, State]:
    """One block's weights along time. x: (T, B, I), time-major; lengths: (B,) or None.

    Returns y (T, B, H), zero past each sequence's end, and the final state (see the module's
    docstring for the methods).
    """
    T, B = x.shape[:2]
    weight = w.weight_hh if w.weight_hh is not None else w.weight_ih
    if x.device != weight.device or (x.dtype != weight.dtype and not torch.is_autocast_enabled(x.device.type)):
        # said here, not left to the first matmul: an empty sequence (T = 0) has none
        raise ArgumentError(f"{rule.name}: the input is {x.dtype} on {x.device}, the weights {weight.dtype} "
                            f"on {weight.device}")
    H = weight.shape[0] // (rule.u_chunks if w.weight_hh is not None else rule.chunks)
    P = H if w.weight_hr is None else w.weight_hr.shape[0]
    y0, s0 = _split(rule, state, x.new_zeros(B, H), x.new_zeros(B, P))
    lengths = check_lengths(lengths, B, T)
    if T == 0:  # no steps: nothing out, the state as it came in, on every path
        return x.new_zeros(0, B, P), _join(rule, y0, s0)
    if rule.reads_state and method == "parallel" and _torch_kernel_fits(rule, w, lengths, B, T, x.device):
        params = [w.weight_ih, w.weight_hh] + ([w.bias_ih, w.bias_hh] if w.bias_ih is not None else [])
        done = torch_rnn.block(rule.torch_kernel, params, x, (y0, s0) if rule.separate_output else (y0,), lengths)
        if done is not None:  # else torch's kernel lacks this precision here: the integrator computes the same
            y, last = done
            return y, _join(rule, last[0], last[-1])
    fast = w.weight_hr is None and compiled.supported(rule, x)
    if not rule.reads_state and (method == "compiled" or (method == "parallel" and fast)):
        px = project(w, x.transpose(0, 1))  # (B, T, n*H), batch-major: one lane per (b, unit)
        h, h_last = compiled.gated_scan(rule, px, s0, lengths)
        return h.transpose(0, 1), _join(rule, h_last, h_last)
    px = project(w, x)  # (T, B, n*H): one matmul for all steps, since the weights are tied
    inside = None if lengths is None else mask(lengths, T, x.device).T.unsqueeze(-1)  # (T, B, 1)
    if rule.reads_state or method == "sequential":
        pxs = px.unbind(0) if px is not None else [None] * T
        ys, (y_T, s_T) = integrate(rule, [w] * T, pxs, y0, s0, inside)
        return ys, _join(rule, y_T, s_T)
    f, i, u, o = rule.gates(px, None)  # (T, B, H) each: the gates read only x
    b = i * u
    if inside is not None:  # past its end a sequence keeps its state: f = 1, b = 0
        f, b = torch.where(inside, f, 1.0), b * inside
    s = scan(f, b, s0, dim=0, method="auto" if method == "parallel" else method)  # (T, B, H)
    y = output(rule, w, s, o)  # the rule's output on every path, not only where it is the stream
    if inside is None:
        return y, _join(rule, y[-1], s[-1])
    # Padding carried s, so s[-1] is each sequence's last; y is taken at each last real step.
    last = (lengths.to(x.device) - 1).clamp(min=0)[None, :, None].expand(1, B, P)
    y_T = torch.where(lengths.to(x.device)[:, None] > 0, y.gather(0, last)[0], y0)
    return y * inside, _join(rule, y_T, s[-1])


def _torch_kernel_fits(rule: Rule, w: Weights, lengths: Tensor | None, B: int, T: int, device: torch.device) -> bool:
    """torch's kernel computes this block: a rule that names one, an input, no projection, no empty batch or
    sequence (those run on the integrator), and on the CPU more than one step. A single step (a decoder's, in beam
    search) is two products and a few pointwise ops, which the integrator does in half oneDNN's time: an LSTM layer
    of 256 on 163 rows, 0.77 against 1.59 ms under bf16 autocast, 1.55 against 1.93 ms in fp32 (one thread)."""
    return (rule.torch_kernel is not None and w.weight_ih is not None and w.weight_hr is None and B > 0
            and (lengths is None or int(lengths.min()) > 0) and (T > 1 or device.type != "cpu"))


class Residual(nn.Module):
    """One rule along one axis.

    axis="time": one cell shared over positions (an RNN). forward(x (B, T, I), state=None,
        lengths=None) -> (y (B, T, H), state).
    axis="depth": `layers` cells, one per layer (a ResNet / Highway / depth-gated LSTM), or one
        cell used `layers` times when tied. With input_size=0 the stream is the input:
        forward(x (B, H), state=None) -> (y (B, L, H): the stream after every block, state).
        With input_size > 0 block k is also given an injected x_k: forward(x (B, L, I)) —
        the form a time layer takes when rotated.
    """

    def __init__(self, rule: str | Rule, hidden_size: int, axis: str = "time", input_size: int | None = None,
                 layers: int = 1, tied: bool = False, bias: bool = True, method: str = "parallel",
                 proj_size: int = 0):
        super().__init__()
        self.rule = get_rule(rule)
        if axis not in ("time", "depth"):
            raise ValueError(f"unknown axis {axis!r}: choose 'time' or 'depth'")
        if layers < 1:
            raise ValueError(f"layers must be >= 1, got {layers}")
        self.axis, self.hidden_size, self.layers, self.tied, self.method = axis, hidden_size, layers, tied, method
        self.proj_size = proj_size
        if axis == "time":
            self.input_size = hidden_size if input_size is None else input_size
            self.cells = nn.ModuleList([Cell(self.rule, self.input_size, hidden_size, bias, proj_size)])
            self.tied = True
            return
        self.input_size = 0 if input_size is None else input_size
        if proj_size and not self.input_size:
            raise ValueError("a depth stack whose input is its stream cannot project its output (proj_size > 0): "
                             "the stream starts as the input")
        # A depth block of a gate-decoupled rule reads the stream as its input x.
        cell_in = self.input_size or (0 if self.rule.reads_state else hidden_size)
        n_cells = 1 if tied else layers
        self.cells = nn.ModuleList([Cell(self.rule, cell_in, hidden_size, bias, proj_size) for _ in range(n_cells)])

    @property
    def method(self) -> str:
        """How the time axis is computed (METHODS); every method computes the same function."""
        return self._method

    @method.setter
    def method(self, value: str):
        self._method = check_method(value)

    def extra_repr(self):
        return (f"rule={self.rule.name}, axis={self.axis}, input_size={self.input_size}, "
                f"hidden_size={self.hidden_size}, layers={self.layers}, tied={self.tied}"
                + (f", proj_size={self.proj_size}" if self.proj_size else ""))

    def forward(self, x: Tensor, state: State | None = None, lengths: Tensor | None = None):
        if self.axis == "time":
            self._check(x, 3, self.input_size, "(B, T, input_size)")
            cell = self.cells[0]
            y, state = along_time(self.rule, cell.weights, x.transpose(0, 1), state, lengths, self.method)
            return y.transpose(0, 1), state
        return self._depth(x, state)

    def _depth(self, x: Tensor, state: State | None):
        cells = list(self.cells) * self.layers if self.tied else list(self.cells)
        if self.input_size:  # injected inputs, one per block: the rotated form of a time layer
            self._check(x, 3, self.input_size, "(B, layers, input_size)")
            if x.shape[1] != self.layers:
                raise ArgumentError(f"depth stack of {self.layers} blocks got {x.shape[1]} injected inputs")
            B = x.shape[0]
            y, s = _split(self.rule, state, x.new_zeros(B, self.hidden_size), x.new_zeros(B, self.proj_size
                                                                                           or self.hidden_size))
            ws = [c.weights for c in cells]
            ys, last = integrate(self.rule, ws, [project(w, x_k) for w, x_k in zip(ws, x.unbind(1))], y, s)
        else:  # the stream is the input: it starts as x
            self._check(x, 2, self.hidden_size, "(B, hidden_size)")
            y, s = _split(self.rule, state, x) if state is not None else (x, x)
            ys, last = self._stream(cells, y, s)
        return ys.transpose(0, 1), _join(self.rule, *last)

    def _stream(self, cells, y, s):
        if self.rule.reads_state:
            return integrate(self.rule, [c.weights for c in cells], [None] * len(cells), y, s)
        ys = []
        for cell in cells:  # x_k = y_{k-1}: the gates read the stream, so no scan at depth
            y, s = cell(y, y, s)
            ys.append(y)
        return torch.stack(ys), (y, s)

    def _check(self, x: Tensor, dims: int, size: int, shape: str):
        if x.dim() != dims or x.shape[-1] != size:
            raise ArgumentError(f"{self.rule.name}@{self.axis}: expected input {shape} with last dim {size}, "
                             f"got {tuple(x.shape)}")


def rotate(module: nn.Module, steps: int | None = None) -> Residual:
    """Rotate 90 degrees. A time layer (with steps=T) becomes a T-deep stack of its one cell,
    tied, with x_k injected at block k; a tied, injected depth stack becomes the time layer.
    The result shares the cell (and so the parameters) with `module`: it is a view, not a copy.

    A one-layer rot90.LSTM / rot90.GRU rotates as the time layer it is (parameters shared);
    rot90.rotate takes torch.nn.LSTM / GRU too (rot90.nn.rotate: through a rot90 copy of its
    state dict). Stacks are batch-first (B, T, I).
    """
    if hasattr(module, "as_residual"):  # rot90.LSTM / rot90.GRU
        module = module.as_residual()
    if not isinstance(module, Residual):
        raise TypeError(f"rotate expects a rot90.Residual, rot90.LSTM/GRU or torch.nn.LSTM/GRU, "
                        f"got {type(module).__name__}")
    if module.axis == "time":
        if steps is None or steps < 1:
            raise ValueError("rotate(time layer) needs steps=T >= 1: the depth of the stack it becomes")
        out = Residual(module.rule, module.hidden_size, "depth", module.input_size, steps, tied=True,
                       proj_size=module.proj_size)
    else:
        if steps is not None and steps != module.layers:
            raise ValueError(f"rotate(stack): steps={steps} differs from the stack's {module.layers} layers")
        if not module.tied:
            raise ValueError(f"cannot rotate an untied depth stack ({module.layers} blocks with their own weights) "
                             "to time: a time layer shares one cell over all steps; build it with tied=True")
        if not module.input_size:
            raise ValueError("cannot rotate a depth stack whose input is its own stream: a time layer needs "
                             "an injected input per step; build it with input_size > 0")
        out = Residual(module.rule, module.hidden_size, "time", module.input_size, method=module.method,
                       proj_size=module.proj_size)
    out.cells = module.cells
    return out
