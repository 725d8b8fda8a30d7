"""Drop-ins: rot90.RNN, rot90.LSTM and rot90.GRU for torch.nn.RNN / LSTM / GRU, and MinLSTM, MinGRU.

RNN, LSTM and GRU take torch's constructor arguments, hold torch's parameter names and shapes
(so a torch state_dict loads as it is), and return what torch returns, PackedSequence
included. Two implementations of one function: impl="torch" (the default: torch's speed) calls
the fused kernel torch.nn.LSTM itself calls (rot90.torch_rnn); impl="residual" runs the
integrator of rot90.residual, the reference. Tests hold both to torch.

`from_torch(module)` makes the rot90 copy of a torch.nn.LSTM/GRU, and `rotate` takes those too.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from . import residual, torch_rnn
from .errors import ArgumentError
from .lengths import pack_like, reverse_padded
from .residual import Cell, Residual, Weights, along_time, project, update
from .rules import PLAIN_RELU, get_rule

IMPLS = ("residual", "torch")


def _check_impl(impl: str, name: str) -> str:
    if impl == "fused":
        warnings.warn('impl="fused" is renamed impl="torch" (torch\'s fused kernel); "fused" goes in the next release',
                      DeprecationWarning, stacklevel=3)
        return "torch"
    if impl not in IMPLS:
        raise ValueError(f"rot90.{name}: unknown impl {impl!r}: choose 'residual' or 'torch'")
    return impl


class _DropIn(nn.Module):
    """What LSTM and GRU share: torch's arguments, parameters, shapes and return values."""

    rule_name: str

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, device=None, dtype=None, *, impl: str = "torch"):
        super().__init__()
        name = type(self).__name__
        if proj_size and type(self) is not LSTM:
            raise ValueError(f"rot90.{name}: proj_size argument is only supported for LSTM, not RNN or GRU")
        if not 0 <= proj_size < hidden_size:
            raise ValueError(f"rot90.{name}: proj_size must be >= 0 and smaller than hidden_size={hidden_size}, "
                             f"got {proj_size}")
        impl = _check_impl(impl, name)
        if not (0 <= dropout <= 1):
            raise ValueError(f"rot90.{name}: dropout must be in [0, 1], got {dropout}")
        if input_size <= 0 or hidden_size <= 0 or num_layers <= 0:
            raise ValueError(f"rot90.{name}: input_size, hidden_size and num_layers must be positive, "
                             f"got {input_size}, {hidden_size}, {num_layers}")
        self.rule = self._rule()
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size, self.impl = bidirectional, proj_size, impl
        rows, D, out = self.rule.chunks * hidden_size, 2 if bidirectional else 1, proj_size or hidden_size
        self._names = []  # torch's flat order: per layer, per direction: w_ih, w_hh, b_ih, b_hh, w_hr
        for layer in range(num_layers):
            for d in range(D):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                shapes = [("weight_ih", (rows, input_size if layer == 0 else out * D)),
                          ("weight_hh", (rows, out))]
                if bias:
                    shapes += [("bias_ih", (rows,)), ("bias_hh", (rows,))]
                if proj_size:
                    shapes += [("weight_hr", (proj_size, hidden_size))]
                for key, shape in shapes:
                    self.register_parameter(key + sfx, nn.Parameter(torch.empty(shape, device=device, dtype=dtype)))
                    self._names.append(key + sfx)
        self.reset_parameters()

    def _rule(self):
        return get_rule(self.rule_name)

    def reset_parameters(self):
        bound = 1 / math.sqrt(self.hidden_size)  # torch's init, so seeded models start alike
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def flatten_parameters(self):
        """Accepted for compatibility with torch.nn.LSTM; rot90 keeps no flattened copy."""

    @property
    def all_weights(self) -> list[list[Tensor]]:
        per = (4 if self.bias else 2) + (1 if self.proj_size else 0)
        flat = [getattr(self, n) for n in self._names]
        return [flat[k:k + per] for k in range(0, len(flat), per)]

    def weights(self, layer: int, reverse: bool) -> Weights:
        sfx = f"_l{layer}" + ("_reverse" if reverse else "")
        get = lambda key: getattr(self, key + sfx, None)  # noqa: E731
        return Weights(get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh"), get("weight_hr"))

    def as_residual(self):
        """This one-layer, one-direction RNN as a rot90.Residual time layer sharing its parameters.

        The Residual is batch-first, (B, T, I) -> (B, T, H), as every Residual; rotate() takes it from here.
        """
        if self.num_layers != 1 or self.bidirectional:
            raise ArgumentError(f"rot90.{type(self).__name__}: only a one-layer, one-direction RNN is one "
                                f"residual stream (got {self!r})")
        layer = Residual(self.rule, self.hidden_size, "time", self.input_size, bias=self.bias,
                         proj_size=self.proj_size)
        cell = layer.cells[0]
        for key in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"):
            if (p := getattr(self, f"{key}_l0", None)) is not None:
                setattr(cell, key, p)
        return layer

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"
        for key, default in [("bias", True), ("batch_first", False), ("dropout", 0.0), ("bidirectional", False),
                             ("proj_size", 0)]:
            if getattr(self, key) != default:
                s += f", {key}={getattr(self, key)}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity!r}"
        return s + (f", impl={self.impl!r}" if self.impl != "torch" else "")

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """As torch's, but a state_dict of another architecture fails with one line saying what differs."""
        if strict:
            own = {k: tuple(v.shape) for k, v in self.state_dict().items()}
            got = {k: tuple(v.shape) for k, v in state_dict.items()}
            if missing := sorted(own.keys() - got.keys()):
                raise ValueError(f"state_dict does not fit {self!r}: missing {', '.join(missing)}")
            if extra := sorted(got.keys() - own.keys()):
                raise ValueError(f"state_dict does not fit {self!r}: unexpected {', '.join(extra)}")
            for k in own:
                if own[k] != got[k]:
                    raise ValueError(f"state_dict does not fit {self!r}: {k} has shape {got[k]}, expected {own[k]}")
        return super().load_state_dict(state_dict, strict, assign)

    # -- forward -----------------------------------------------------------------------------

    def forward(self, input, hx=None):
        packed = input if isinstance(input, PackedSequence) else None
        if packed is not None:
            x, lengths = pad_packed_sequence(packed)  # (T, B, I), the caller's batch order
            unbatched = False
        else:
            if input.dim() not in (2, 3):
                raise ArgumentError(f"rot90.{type(self).__name__}: expected a 2-D or 3-D input, "
                                    f"got {tuple(input.shape)}")
            unbatched, lengths = input.dim() == 2, None
            x = input.unsqueeze(1) if unbatched else (input.transpose(0, 1) if self.batch_first else input)
        if x.shape[-1] != self.input_size:
            raise ArgumentError(f"rot90.{type(self).__name__}: input has size {x.shape[-1]} in its last dim, "
                             f"expected input_size={self.input_size}")
        h0, c0 = self._initial(hx, x, unbatched)
        if self.impl == "torch":
            y, h_n, c_n = self._torch(packed, x, h0, c0)
        else:
            y, h_n, c_n = self._residual(x, lengths, h0, c0)
            if (dtype := self._torch_output_dtype(x)) is not None:
                y, h_n, c_n = y.to(dtype), h_n.to(dtype), None if c_n is None else c_n.to(dtype)
        if packed is not None:
            out = pack_like(y, packed)
        elif unbatched:
            out, h_n, c_n = y.squeeze(1), h_n.squeeze(1), None if c_n is None else c_n.squeeze(1)
        else:
            out = y.transpose(0, 1) if self.batch_first else y
        return out, (h_n if c_n is None else (h_n, c_n))

    def _torch_output_dtype(self, x: Tensor) -> torch.dtype | None:
        """The dtype torch's own RNN returns under autocast, where it differs from what the integrator gives.

        The integrator's matmuls follow autocast; its state stays in the input's precision. torch
        casts its whole RNN op: on CUDA both LSTM and GRU (cuDNN's RNN is on the lower-precision
        list), on the CPU only LSTM (`lstm` is on the CPU list, `gru` is not).
        """
        device = x.device.type
        if not torch.is_autocast_enabled(device) or device not in ("cpu", "cuda"):
            return None
        if device == "cpu" and not self.rule.separate_output:
            return None
        return torch.get_autocast_dtype(device)

    def _initial(self, hx, x: Tensor, unbatched: bool):
        """(h0, c0) as (L*D, B, H) tensors in the caller's batch order; c0 None for GRU."""
        D, B = 2 if self.bidirectional else 1, x.shape[1]
        lstm = self.rule.separate_output
        sizes = (self.proj_size or self.hidden_size, self.hidden_size)  # h: the output, c: the stream
        if hx is None:
            return x.new_zeros(self.num_layers * D, B, sizes[0]), (x.new_zeros(self.num_layers * D, B, sizes[1])
                                                                  if lstm else None)
        parts = hx if lstm else (hx,)
        if lstm and not (isinstance(hx, tuple) and len(hx) == 2):
            raise ArgumentError(f"rot90.LSTM: hx must be a tuple (h_0, c_0), got {type(hx).__name__}")
        for name, t, size in zip(("h_0", "c_0"), parts, sizes):
            want = (self.num_layers * D, size) if unbatched else (self.num_layers * D, B, size)
            got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
            if got != want:
                raise ArgumentError(f"rot90.{type(self).__name__}: {name} has shape {got}, expected {want}")
        parts = [t.unsqueeze(1) if unbatched else t for t in parts]
        return parts[0], (parts[1] if lstm else None)

    def _residual(self, x: Tensor, lengths: Tensor | None, h0: Tensor, c0: Tensor | None):
        D = 2 if self.bidirectional else 1
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            outs = []
            for d in range(D):
                k = layer * D + d
                state = (h0[k], c0[k]) if c0 is not None else h0[k]
                xd = reverse_padded(x, lengths) if d else x
                # "sequential": the integrator itself; impl="torch" is the path that calls torch's kernel
                y, last = along_time(self.rule, self.weights(layer, bool(d)), xd, state, lengths,
                                     method="sequential")
                outs.append(reverse_padded(y, lengths) if d else y)
                h_n.append(last[0] if c0 is not None else last)
                if c0 is not None:
                    c_n.append(last[1])
            x = torch.cat(outs, -1) if D == 2 else outs[0]
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = nn.functional.dropout(x, self.dropout, training=True)
        return x, torch.stack(h_n), (torch.stack(c_n) if c0 is not None else None)

    def _torch(self, packed: PackedSequence | None, x: Tensor, h0: Tensor, c0: Tensor | None):
        flat = [getattr(self, n) for n in self._names]
        hx = (h0, c0) if c0 is not None else (h0,)
        y, last = torch_rnn.stack(self.rule.torch_kernel, flat, packed if packed is not None else x, hx, self.bias,
                                  self.num_layers, self.dropout, self.training, self.bidirectional)
        return y, last[0], (last[1] if c0 is not None else None)


class RNN(_DropIn):
    """torch.nn.RNN (Elman) as the plain rule: nothing carried over, y = s = act(W x + U y).

    forward(input, h_0=None) -> (output, h_n), exactly as torch.nn.RNN; nonlinearity "tanh" or "relu".
    """

    rule_name = "plain"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None, *, impl: str = "torch"):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"rot90.RNN: unknown nonlinearity {nonlinearity!r}: choose 'tanh' or 'relu'")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0, device,
                         dtype, impl=impl)

    def _rule(self):
        return PLAIN_RELU if self.nonlinearity == "relu" else get_rule("plain")


class LSTM(_DropIn):
    """torch.nn.LSTM on the residual integrator: c is the stream, h = o * tanh(c) what the next step reads.

    forward(input, (h_0, c_0)=None) -> (output, (h_n, c_n)), exactly as torch.nn.LSTM.
    """

    rule_name = "lstm"


class GRU(_DropIn):
    """torch.nn.GRU on the residual integrator: h is the stream, kept by z, rewritten by 1 - z.

    forward(input, h_0=None) -> (output, h_n), exactly as torch.nn.GRU.
    """

    rule_name = "gru"


class _MinRNN(nn.Module):
    """A gate-decoupled recurrent layer (Feng et al. 2024): trained with a scan, decoded by step()."""

    rule_name: str

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, batch_first: bool = True,
                 method: str = "parallel"):
        super().__init__()
        self.cell = Cell(self.rule_name, input_size, hidden_size, bias)
        self.input_size, self.hidden_size, self.batch_first, self.method = input_size, hidden_size, batch_first, method

    @property
    def method(self) -> str:
        """"parallel" (the default, the fastest path), "compiled", "sequential", or a scan method."""
        return self._method

    @method.setter
    def method(self, value: str):
        self._method = residual.check_method(value)

    def forward(self, x: Tensor, h0: Tensor | None = None, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """x: (B, T, I) if batch_first else (T, B, I) -> (output like x with H features, h_n (B, H))."""
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ArgumentError(f"rot90.{type(self).__name__}: expected input (B, T, {self.input_size}), "
                             f"got {tuple(x.shape)}")
        xt = x.transpose(0, 1) if self.batch_first else x
        y, h_n = along_time(self.cell.rule, self.cell.weights, xt, h0, lengths, self.method)
        return (y.transpose(0, 1) if self.batch_first else y), h_n

    def step(self, x_t: Tensor, h: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """One position: x_t (B, I), h (B, H) -> (y_t, h_t), O(1) state for decoding."""
        w = self.cell.weights
        h = x_t.new_zeros(x_t.shape[0], self.hidden_size) if h is None else h
        y, s = update(self.cell.rule, w, project(w, x_t), h, h)
        return y, s


class MinLSTM(_MinRNN):
    """minLSTM: h_t = f'_t h_{t-1} + i'_t W_h x_t, with f', i' = f, i / (f + i) from x_t only."""

    rule_name = "minlstm"


class MinGRU(_MinRNN):
    """minGRU: h_t = (1 - z_t) h_{t-1} + z_t W_h x_t, with z_t from x_t only."""

    rule_name = "mingru"


def from_torch(module: nn.RNN | nn.LSTM | nn.GRU) -> RNN | LSTM | GRU:
    """The rot90 drop-in of a torch.nn.RNN / LSTM / GRU: same arguments, a copy of its weights, on its device and
    dtype."""
    if not isinstance(module, (nn.RNN, nn.LSTM, nn.GRU)):
        raise TypeError(f"from_torch expects a torch.nn.RNN, LSTM or GRU, got {type(module).__name__}")
    common = dict(num_layers=module.num_layers, bias=module.bias, batch_first=module.batch_first,
                  dropout=module.dropout, bidirectional=module.bidirectional)
    if isinstance(module, nn.RNN):
        ours = RNN(module.input_size, module.hidden_size, nonlinearity=module.nonlinearity, **common)
    else:
        ours = globals()[type(module).__name__](module.input_size, module.hidden_size, proj_size=module.proj_size,
                                                **common)
    ours.load_state_dict(module.state_dict())
    p = next(module.parameters())
    return ours.to(p.device, p.dtype)


def rotate(module: nn.Module, steps: int | None = None) -> Residual:
    """rot90.residual.rotate, for torch.nn.LSTM / GRU too (rotated through from_torch's copy of its weights)."""
    if isinstance(module, (nn.RNN, nn.LSTM, nn.GRU)):
        module = from_torch(module)
    return residual.rotate(module, steps)


__all__ = ["RNN", "LSTM", "GRU", "MinLSTM", "MinGRU", "from_torch", "rotate"]
