"""The gate-decoupled rules' fast path on CPU: gates and scan in one compiled pass.

For minlstm and mingru, rules.py + scan.py compute f, i, u as full-size tensors, then the
scan; each of those elementwise steps, and its backward, reads and writes the whole (B, T, H)
tensor again. The operator rot90::gated (csrc/scan.cpp) instead reads the pre-activations
px = W x + b once, forms the gates per element inside the recurrence and recomputes them in
backward, so a layer costs its matmuls plus about one pass over memory each way. The
reference beside it is rules + scan; tests compare the two on outputs, final states and
every gradient.
"""

from __future__ import annotations

import torch
from torch import Tensor

from . import kernel
from .errors import ArgumentError
from .rules import Rule, get_rule, stream


def supported(rule: str | Rule, px: Tensor) -> bool:
    """The kernel computes this rule: its gates are one of the kernel's, and its output is the stream."""
    rule = get_rule(rule)
    return rule.name in kernel.GATED and rule.out is stream and px.device.type == "cpu" and kernel.available()


def fused_scan(rule: str | Rule, px: Tensor, h0: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """px: (B, T, n*H) pre-activations, h0: (B, H), lengths: (B,) or None -> (h (B, T, H), h_last (B, H)).

    h is 0 past each sequence's end; h_last is the state at its last real step.
    """
    rule = get_rule(rule)
    if not supported(rule, px):
        raise ArgumentError(f"the fused kernel computes minlstm and mingru on the CPU with a C++ compiler; "
                            f"got rule {rule.name!r} on {px.device} (compiler available: {kernel.available()}): "
                            "use method='parallel'")
    dtype = px.dtype if px.dtype in kernel.DTYPES else torch.float32  # bf16/fp16: computed in fp32
    lengths = None if lengths is None else lengths.to(dtype=torch.int64).contiguous()
    h, h_last = kernel.gated(px.to(dtype).contiguous(), h0.to(dtype).contiguous(), lengths, rule.name)
    return h.to(px.dtype), h_last.to(px.dtype)
