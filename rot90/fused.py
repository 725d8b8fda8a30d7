"""The gate-decoupled rules' fast path on CPU: gates and scan in one compiled pass.

For minlstm and mingru, rules.py + scan.py compute f, i, u as full-size tensors, then the
scan; each of those elementwise steps, and its backward, reads and writes the whole (B, T, H)
tensor again. csrc/scan.cpp instead reads the pre-activations px = W x + b once, forms the
gates per element inside the recurrence and recomputes them in backward, so a layer costs its
matmuls plus about one pass over memory each way. The reference beside it is rules + scan;
tests compare the two on outputs, final states and every gradient.
"""

from __future__ import annotations

import torch
from torch import Tensor

from . import kernel

RULES = ("minlstm", "mingru")


def supported(rule: str, px: Tensor) -> bool:
    return rule in RULES and px.device.type == "cpu" and kernel.available()


class _Fused(torch.autograd.Function):
    @staticmethod
    def forward(ctx, px, h0, lengths, rule):
        B, T, _ = px.shape
        H = h0.shape[-1]
        h, h_last = px.new_empty(B, T, H), px.new_empty(B, H)
        kernel.call(f"{rule}_fwd", px, h0, h, h_last, lengths, outer=B, steps=T, lanes=H, dtype=px.dtype)
        ctx.rule = rule
        ctx.save_for_backward(px, h0, h, lengths)
        return h, h_last

    @staticmethod
    def backward(ctx, g, g_last):
        px, h0, h, lengths = ctx.saved_tensors
        B, T, H = h.shape
        dpx, dh0 = torch.empty_like(px), torch.empty_like(h0)
        kernel.call(f"{ctx.rule}_bwd", px, h0, h, g.contiguous(), g_last.contiguous(), dpx, dh0, lengths,
                    outer=B, steps=T, lanes=H, dtype=px.dtype)
        return dpx, dh0, None, None


def fused_scan(rule: str, px: Tensor, h0: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """px: (B, T, n*H) pre-activations, h0: (B, H), lengths: (B,) or None -> (h (B, T, H), h_last (B, H)).

    h is 0 past each sequence's end; h_last is the state at its last real step.
    """
    if not supported(rule, px):
        raise ValueError(f"the fused {rule} kernel runs on CPU with a C++ compiler; got a tensor on {px.device}"
                         f" (compiler available: {kernel.available()}): use method='parallel'")
    dtype = px.dtype if px.dtype in kernel.DTYPES else torch.float32  # bf16/fp16: computed in fp32
    lengths = None if lengths is None else lengths.to(device=px.device, dtype=torch.int64).contiguous()
    h, h_last = _Fused.apply(px.to(dtype).contiguous(), h0.to(dtype).contiguous(), lengths, rule)
    return h.to(px.dtype), h_last.to(px.dtype)
