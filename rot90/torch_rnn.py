"""The one home that calls torch's fused RNN kernels (torch._VF.rnn_tanh / lstm / gru).

Some rules along time are functions torch already computes in one fused call, with the same
gate order and parameter layout: plain (an Elman RNN, tanh or relu), lstm and gru; a Rule names
its kernel (Rule.torch_kernel). rot90 uses those kernels for speed, and the integrator of
rot90.residual stays the reference they are tested against. Plain tensors in and out (a flat
parameter list, hx, lengths), so nothing here knows rot90's modules:

    block(kernel, params, x, hx, lengths)                   one layer, one direction, x (T, B, I)
    stack(kernel, params, x | packed, hx, num_layers, ...)  torch.nn.LSTM/GRU/RNN's whole call
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

# (kernel, device type, dtype) where torch's kernel cannot run on this machine: under CPU autocast torch sends LSTMs
# to oneDNN, which has no bfloat16 LSTM on CPUs without AVX512-BF16; torch.nn.LSTM itself fails there.
_UNUSABLE: set[tuple[str, str, torch.dtype]] = set()


def compute_dtype(x: Tensor) -> torch.dtype:
    """The dtype a kernel computes in: autocast's where it is on, else the input's."""
    kind = x.device.type
    return torch.get_autocast_dtype(kind) if torch.is_autocast_enabled(kind) else x.dtype


def _kernel(name: str):
    return getattr(torch._VF, name)  # rnn_tanh, rnn_relu, lstm, gru


def block(name: str, params: list[Tensor], x: Tensor, hx: tuple[Tensor, ...], lengths: Tensor | None
          ) -> tuple[Tensor, tuple[Tensor, ...]] | None:
    """One layer along time on torch's kernel `name`, or None where that kernel cannot run here
    (reduced precision it lacks on this CPU): the caller then integrates.

    params: [W_ih, W_hh] (+ [b_ih, b_hh]); x (T, B, I); hx: (h0,) or (h0, c0), each (B, H); lengths (B,) on the
    CPU, all >= 1, or None. Returns y (T, B, H), 0 past each sequence's end, and the states at each end.
    """
    where = (name, x.device.type, compute_dtype(x))
    if where in _UNUSABLE:
        return None
    try:
        y, last = _block(_kernel(name), params, x, tuple(h[None] for h in hx), lengths)
    except RuntimeError:
        if where[2] in (torch.float32, torch.float64):
            raise
        _UNUSABLE.add(where)
        return None
    return y, tuple(h[0] for h in last)


def _block(kernel, params, x, hx, lengths):
    has_bias = len(params) == 4
    arg = lambda h: h if len(h) == 2 else h[0]  # noqa: E731 - lstm takes (h, c), the others h
    if lengths is None:
        out = kernel(x, arg(hx), params, has_bias, 1, 0.0, False, False, False)
        return out[0], out[1:]
    if x.device.type == "cpu":
        return _by_length(kernel, x, hx, params, has_bias, lengths)
    packed = pack_padded_sequence(x, lengths, enforce_sorted=False)  # cuDNN takes packed sequences in one call
    order, back = packed.sorted_indices, packed.unsorted_indices
    out = kernel(packed.data, packed.batch_sizes, arg(tuple(h.index_select(1, order) for h in hx)), params,
                 has_bias, 1, 0.0, False, False)
    y, _ = pad_packed_sequence(PackedSequence(out[0], packed.batch_sizes, order, back), total_length=x.shape[0])
    return y, tuple(h.index_select(1, back) for h in out[1:])


def _by_length(kernel, x: Tensor, hx: tuple[Tensor, ...], params: list, has_bias: bool, lengths: Tensor):
    """The kernel over sequences of different lengths: longest first, one call per stretch of time in which the
    same sequences are running (a prefix of the sorted batch), each stretch starting from the last one's states.

    The same function as torch's packed sequences, whose CPU kernel steps one position at a time and, going
    backward, zero-fills the whole packed gate buffer at every position; a batch bucketed by length has a
    dozen stretches over two dozen positions. (On CUDA, cuDNN's packed kernel is one call: used there.)
    """
    T, B = x.shape[:2]
    lengths, order = lengths.sort(descending=True, stable=True)
    x, hx = x.index_select(1, order), [h.index_select(1, order) for h in hx]  # (1, B, H) each
    ys, start, ends = [], 0, lengths.tolist()
    for end in sorted(set(ends)):
        n = sum(e >= end for e in ends)  # the sequences still running from start to end
        part = [h[:, :n] for h in hx]
        out = kernel(x[start:end, :n], tuple(part) if len(part) == 2 else part[0], params, has_bias, 1, 0.0,
                     False, False, False)
        y = out[0]  # (end - start, n, H)
        ys.append(torch.cat([y, y.new_zeros(end - start, B - n, y.shape[-1])], 1) if n < B else y)
        hx = [torch.cat([new, h[:, n:]], 1) if n < B else new for new, h in zip(out[1:], hx)]
        start = end
    if start < T:  # positions past the longest sequence
        ys.append(ys[-1].new_zeros(T - start, B, ys[-1].shape[-1]))
    back = order.argsort()
    return torch.cat(ys).index_select(1, back), tuple(h.index_select(1, back) for h in hx)


def stack(name: str, params: list[Tensor], x: Tensor | PackedSequence, hx: tuple[Tensor, ...], bias: bool,
          num_layers: int, dropout: float, training: bool, bidirectional: bool
          ) -> tuple[Tensor, tuple[Tensor, ...]]:
    """torch.nn.LSTM / GRU / RNN's own call: params in torch's flat order, x time-major (T, B, I) or packed (then
    hx in the caller's batch order), hx (h0,) or (h0, c0), each (L*D, B, H). Returns y (T, B, H*D), padded when
    x was packed, and the final states in the caller's order."""
    kernel = _kernel(name)
    arg = lambda h: h if len(h) == 2 else h[0]  # noqa: E731
    args = (params, bias, num_layers, dropout, training, bidirectional)
    if not isinstance(x, PackedSequence):
        out = kernel(x, arg(hx), *args, False)
        return out[0], tuple(out[1:])
    order, back = x.sorted_indices, x.unsorted_indices
    if order is not None:
        hx = tuple(h.index_select(1, order) for h in hx)
    out = kernel(x.data, x.batch_sizes, arg(hx), *args)
    y, _ = pad_packed_sequence(PackedSequence(out[0], x.batch_sizes, order, back))
    last = tuple(out[1:]) if back is None else tuple(h.index_select(1, back) for h in out[1:])
    return y, last
