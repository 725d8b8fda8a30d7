"""The linear recurrence h_k = f_k * h_{k-1} + b_k, computed for all k at once.

When a rule's gates do not read the state (minlstm, mingru), its residual stream is this
first-order linear recurrence and needs no step-by-step loop over the gates: a scan does it.

    scan(f, b, h0=None, dim=1, method="auto")      # h: same shape as b

Methods (each a forward kernel without autograd; gradients come from one autograd.Function
whose backward is the same recurrence run in reverse, so every method has exact gradients):

    sequential   the reference: a Python loop with ordinary autograd, the definition itself
    compiled     one streaming pass in C++ (csrc/scan.cpp, the operator rot90::scan): reads f
                 and b once, writes h once; CPU only
    loop         the same pass as a PyTorch loop over k (~25 us a step of overhead)
    doubling     Hillis & Steele: log2(T) rounds of (f, b) <- (f_t f_{t-d}, f_t b_{t-d} + b_t);
                 O(T log T) work but only log2(T) dependent steps: for short T
    chunked      blocks of C = 64 steps: doubling inside every block at once (O(T log C) work),
                 then the T/C block carries scanned the same way, then one fix-up pass: O(T)
                 work for fixed C in O(log T) dependent steps, any device (the GPU default)

Backward of h_k = f_k h_{k-1} + b_k, with g_k = dL/dh_k from the output:
    a_k = g_k + f_{k+1} a_{k+1}      (the adjoint: a scan in reverse)
    dL/db_k = a_k,  dL/df_k = a_k h_{k-1},  dL/dh0 = f_0 a_0

No log space: log-space scans (cumsum of log f, logcumsumexp of log b) lose precision as T
grows and need the sign of b handled apart; these methods multiply and add, as the definition.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from . import compiled
from .errors import ArgumentError

METHODS = ("sequential", "compiled", "loop", "doubling", "chunked")
CHUNK = 64


def scan_sequential(f: Tensor, b: Tensor, h0: Tensor) -> Tensor:
    """The definition along dim 1 of (outer, T, inner), with autograd through every step."""
    h, out = h0, []
    for f_k, b_k in zip(f.unbind(1), b.unbind(1)):  # unbind, not f[:, k]: keeps backward linear in T
        h = f_k * h + b_k
        out.append(h)
    return torch.stack(out, 1)


def _loop(f: Tensor, b: Tensor, h0: Tensor) -> Tensor:
    h = torch.empty_like(b)
    prev = h0
    for k in range(b.shape[1]):
        prev = torch.addcmul(b[:, k], f[:, k], prev)
        h[:, k] = prev
    return h


def _doubling(f: Tensor, b: Tensor, h0: Tensor) -> Tensor:
    h = b.clone()
    h[:, 0].addcmul_(f[:, 0], h0)
    f = f.clone()
    d, T = 1, b.shape[1]
    while d < T:
        # Right-hand sides are materialised before the write, so the overlap is harmless.
        h[:, d:] = torch.addcmul(h[:, d:], f[:, d:], h[:, :-d])
        if 2 * d < T:
            f[:, d:] = f[:, d:] * f[:, :-d]
        d *= 2
    return h


def _chunked(f: Tensor, b: Tensor, h0: Tensor) -> Tensor:
    outer, T, inner = b.shape
    if T <= CHUNK:
        return _doubling(f, b, h0)
    n = -(-T // CHUNK)
    pad = n * CHUNK - T  # padded steps: f = 1, b = 0, so they change nothing and are cut off
    fp = torch.nn.functional.pad(f, (0, 0, 0, pad), value=1.0).view(outer * n, CHUNK, inner)
    bp = torch.nn.functional.pad(b, (0, 0, 0, pad)).view(outer * n, CHUNK, inner)
    # Every block from a zero state at once: local h, and F = the product of f within the block.
    local = _doubling(fp, bp, bp.new_zeros(outer * n, inner))  # (outer*n, C, inner)
    F = torch.cumprod(fp, 1)
    # The state entering each block is itself a linear recurrence over the n blocks.
    F, local = F.view(outer, n, CHUNK, inner), local.view(outer, n, CHUNK, inner)
    ends = _chunked(F[:, :, -1].contiguous(), local[:, :, -1].contiguous(), h0)  # (outer, n, inner)
    entering = torch.cat([h0[:, None], ends[:, :-1]], 1)  # (outer, n, inner)
    h = torch.addcmul(local, F, entering[:, :, None])
    return h.view(outer, n * CHUNK, inner)[:, :T]


_TORCH_KERNELS = {"loop": _loop, "doubling": _doubling, "chunked": _chunked}


class _Scan(torch.autograd.Function):
    """h = scan(f, b, h0) by a PyTorch method on contiguous (outer, T, inner) tensors, h0 (outer, inner)."""

    @staticmethod
    def forward(ctx, f, b, h0, method):
        h = _TORCH_KERNELS[method](f, b, h0)
        ctx.method = method
        ctx.save_for_backward(f, h0, h)
        return h

    @staticmethod
    def backward(ctx, g):
        f, h0, h = ctx.saved_tensors
        # a_k = g_k + f_{k+1} a_{k+1}: the forward kernel on the reversed sequence.
        f_next = torch.cat([f[:, 1:], torch.zeros_like(f[:, :1])], 1).flip(1)
        a = _TORCH_KERNELS[ctx.method](f_next, g.flip(1).contiguous(), torch.zeros_like(h0)).flip(1)
        h_prev = torch.cat([h0.unsqueeze(1), h[:, :-1]], 1)
        return a * h_prev, a, f[:, 0] * a[:, 0], None


def choose(b: Tensor) -> str:
    """The method "auto" takes for b, viewed as (outer, T, inner)."""
    if b.device.type == "cpu":
        if b.dtype in compiled.DTYPES and compiled.available():
            return "compiled"  # one pass over memory: nothing else on a CPU comes close
        return "doubling" if b.shape[1] <= 64 else "loop"
    # On accelerators a step of a loop costs a kernel launch; O(log T) rounds of O(T) work are cheaper.
    return "chunked"


def scan(f: Tensor, b: Tensor, h0: Tensor | None = None, dim: int = 1, method: str = "auto") -> Tensor:
    """h_k = f_k * h_{k-1} + b_k along `dim` (k = 0 uses h0, zeros when None).

    f broadcasts against b; h0 has b's shape without `dim`. Returns h, shaped like b, in the
    promoted dtype of f and b; bfloat16 and float16 are scanned in float32 and cast back.
    """
    if method not in METHODS + ("auto",):
        raise ValueError(f"unknown scan method {method!r}: choose one of auto, {', '.join(METHODS)}")
    if b.dim() == 0:
        raise IndexError("scan: b must have at least one dimension (the axis to scan along), got a 0-d tensor")
    if not -b.dim() <= dim < b.dim():
        raise IndexError(f"scan: dim {dim} is out of range for a {b.dim()}-d tensor "
                         f"(expected to be in [{-b.dim()}, {b.dim() - 1}])")
    dim = dim % b.dim()
    state_shape = b.shape[:dim] + b.shape[dim + 1:]
    if h0 is not None and h0.shape != state_shape:
        raise ArgumentError(f"scan: h0 has shape {tuple(h0.shape)}, expected {tuple(state_shape)}")
    try:
        broadcast = torch.broadcast_shapes(f.shape, b.shape) == b.shape
    except RuntimeError:
        broadcast = False
    if not broadcast:
        raise ArgumentError(f"scan: f of shape {tuple(f.shape)} does not broadcast to b's {tuple(b.shape)}")
    if b.shape[dim] == 0:
        return b.clone()
    out_dtype = torch.promote_types(f.dtype, b.dtype)
    dtype = torch.float32 if out_dtype in (torch.bfloat16, torch.float16) else out_dtype
    # (outer, T, inner) views: the recurrence runs along T; every other element is a lane.
    outer, T = math.prod(b.shape[:dim]), b.shape[dim]
    shape3 = (outer, T, math.prod(b.shape[dim + 1:]))
    f3 = torch.broadcast_to(f, b.shape).to(dtype).reshape(shape3).contiguous()
    b3 = b.to(dtype).reshape(shape3).contiguous()
    if h0 is None:
        h0 = torch.zeros(outer, shape3[2], dtype=dtype, device=b.device)
    else:
        h0 = h0.to(dtype).reshape(outer, -1).contiguous()
    if method == "auto":
        method = choose(b3)
    if method == "compiled" and not compiled.supports(b3):
        raise ArgumentError(f"scan: method 'compiled' needs a CPU float32/float64 tensor and a C compiler "
                            f"(got {b3.dtype} on {b3.device}; compiler available: {compiled.available()})")
    if method == "sequential":
        h = scan_sequential(f3, b3, h0)
    elif method == "compiled":
        h = compiled.scan(f3, b3, h0)
    else:
        h = _Scan.apply(f3, b3, h0, method)
    return h.reshape(b.shape).to(out_dtype)
