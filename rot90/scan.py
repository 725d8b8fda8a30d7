"""The linear recurrence h_k = f_k * h_{k-1} + b_k, computed for all k at once.

When a rule's gates do not read the state (minlstm, mingru), its residual stream is this
first-order linear recurrence and needs no step-by-step loop over the gates: a scan does it.

    scan(f, b, h0=None, dim=1, method="auto")      # h: same shape as b

Methods (each a forward kernel without autograd; gradients come from one autograd.Function
whose backward is the same recurrence run in reverse, so every method has the same
exact gradients):

    sequential   the reference: a Python loop with ordinary autograd, the definition itself
    loop         the same loop as a kernel (no autograd graph of T nodes)
    doubling     Hillis & Steele: log2(T) rounds of (f, b) <- (f_t f_{t-d}, f_t b_{t-d} + b_t)

Backward of h_k = f_k h_{k-1} + b_k, with g_k = dL/dh_k from the output:
    a_k = g_k + f_{k+1} a_{k+1}      (the adjoint: a scan in reverse)
    dL/db_k = a_k,  dL/df_k = a_k h_{k-1},  dL/dh0 = f_0 a_0
"""

from __future__ import annotations

import torch
from torch import Tensor

METHODS = ("sequential", "loop", "doubling")


def scan_sequential(f: Tensor, b: Tensor, h0: Tensor | None = None) -> Tensor:
    """The definition, time-major (T, ...), with autograd through every step."""
    h = torch.zeros_like(b[0]) if h0 is None else h0
    out = []
    for f_k, b_k in zip(f.unbind(0), b.unbind(0)):  # unbind, not f[k]: keeps backward linear in T
        h = f_k * h + b_k
        out.append(h)
    return torch.stack(out)


def _loop(f: Tensor, b: Tensor, h0: Tensor) -> Tensor:
    h = torch.empty_like(b)
    prev = h0
    for k in range(b.shape[0]):
        prev = torch.addcmul(b[k], f[k], prev, out=h[k])
    return h


def _doubling(f: Tensor, b: Tensor, h0: Tensor) -> Tensor:
    h = b.clone()
    h[0].addcmul_(f[0], h0)
    f = f.clone()
    d, T = 1, b.shape[0]
    while d < T:
        # Right-hand sides are materialised before the write, so the overlap is harmless.
        h[d:] = torch.addcmul(h[d:], f[d:], h[:-d])
        if 2 * d < T:
            f[d:] = f[d:] * f[:-d]
        d *= 2
    return h


_KERNELS = {"loop": _loop, "doubling": _doubling}


class _Scan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, f, b, h0, method):
        h = _KERNELS[method](f, b, h0)
        ctx.method = method
        ctx.save_for_backward(f, h0, h)
        return h

    @staticmethod
    def backward(ctx, g):
        f, h0, h = ctx.saved_tensors
        # a_k = g_k + f_{k+1} a_{k+1}: the forward kernel on the reversed sequence.
        f_next = torch.cat([f[1:], torch.zeros_like(f[:1])]).flip(0)
        a = _KERNELS[ctx.method](f_next, g.flip(0).contiguous(), torch.zeros_like(h0)).flip(0)
        h_prev = torch.cat([h0.unsqueeze(0), h[:-1]])
        return a * h_prev, a, f[0] * a[0], None


def _choose(b: Tensor) -> str:
    # Doubling does log2(T) full passes: it wins when T is short or channels are few
    # (little parallel work per step); the loop wins when each step is already wide.
    T, width = b.shape[0], b[0].numel()
    return "doubling" if T <= 64 or width < 4096 else "loop"


def scan(f: Tensor, b: Tensor, h0: Tensor | None = None, dim: int = 1, method: str = "auto") -> Tensor:
    """h_k = f_k * h_{k-1} + b_k along `dim` (k = 0 uses h0, zeros when None).

    f broadcasts against b; h0 has b's shape without `dim`. Returns h, shaped like b.
    """
    if method not in METHODS + ("auto",):
        raise ValueError(f"unknown scan method {method!r}: choose one of auto, {', '.join(METHODS)}")
    f = torch.broadcast_to(f, b.shape) if f.shape != b.shape else f
    f, b = f.movedim(dim, 0), b.movedim(dim, 0)  # time-major: each step is one contiguous slab
    if h0 is not None and h0.shape != b.shape[1:]:
        raise ValueError(f"scan: h0 has shape {tuple(h0.shape)}, expected {tuple(b.shape[1:])}")
    if b.shape[0] == 0:
        return b.movedim(0, dim)
    if method == "sequential":
        return scan_sequential(f, b, h0).movedim(0, dim)
    if method == "auto":
        method = _choose(b)
    dtype = torch.promote_types(f.dtype, b.dtype)
    f, b = f.to(dtype).contiguous(), b.to(dtype).contiguous()
    h0 = torch.zeros_like(b[0]) if h0 is None else h0.to(dtype)
    return _Scan.apply(f, b, h0, method).movedim(0, dim)
