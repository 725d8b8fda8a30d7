"""How far back a gradient reaches along the residual stream: the same measurement on either axis.

For a stack of L blocks along depth, or one layer run for T steps along time, the stream is
s_0 .. s_K (K = L or T). A zero e_k is added to the stream after update k; d loss / d e_k is the
gradient with respect to the stream there, and |d loss / d e_k| against the distance K - k shows
how a carry f decays it, as f^k on either axis (the demo's section 2 and `rot90 experiment
gradient-flow`); `decay` fits that factor per step.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor
from torch.nn import functional as F

from ..models import DepthModel, SequenceModel
from ..residual import Residual


def stream_log_gradients(module: Residual, x: Tensor, loss_fn: Callable[[Tensor], Tensor]) -> list[float]:
    """log10(|d loss / d s_k| / B) for every k, index = distance from the output; loss = loss_fn(y_K), y_K (B, H).

    x: (B, T, D) inputs along time, or (B, H) the start of the stream along depth. The update is
    written out step by step (not the fast path), and the backward pass goes one step at a time with
    the carried gradient rescaled to norm 1 (its log kept aside): the product of K Jacobians never
    underflows, so a plain net 784 steps deep reads 1e-700, not 0. -inf only where a gradient is exactly 0.
    """
    rule, cells = module.rule, list(module.cells)
    K = x.shape[1] if module.axis == "time" else module.layers
    cells = cells * K if (module.axis == "time" or module.tied) else cells
    B, H = x.shape[0], module.hidden_size
    s = x.new_zeros(B, H) if module.axis == "time" else x
    y = s
    steps = []  # per step: its inputs (y_{k-1}, s_{k-1}) as leaves, and its outputs (y_k, s_k)
    for k, cell in enumerate(cells):
        s = s.detach().requires_grad_()
        y = y.detach().requires_grad_() if rule.separate_output else s
        w = cell.weights
        inp = x[:, k] if module.axis == "time" else (None if rule.reads_state else y)
        px = None if inp is None or w.weight_ih is None else F.linear(inp, w.weight_ih, w.bias_ih)
        py = None if w.weight_hh is None else F.linear(y, w.weight_hh, w.bias_hh)
        f, i, u, o = rule.gates(px, py)
        s_new = f * s + i * u
        y_new = rule.out(s_new, o)
        steps.append(((y, s), (y_new, s_new)))
        y, s = y_new, s_new
    last = y.detach().requires_grad_()
    g_y, g_s = torch.autograd.grad(loss_fn(last), last)[0], torch.zeros_like(s)
    scale, logs = 0.0, []  # the true gradient is 10**scale times the carried one
    for (y_in, s_in), (y_out, s_out) in reversed(steps):
        # d loss / d s_k: what comes back through s_{k+1} and through y_k = out(s_k)
        outs, grads = ([y_out, s_out], [g_y, g_s]) if rule.separate_output else ([s_out], [g_y + g_s])
        wants = [s_out, s_in] + ([y_in] if rule.separate_output else [])
        got = torch.autograd.grad(outs, wants, grads, allow_unused=True)
        g_here = got[0]
        norm = g_here.double().norm().item()
        logs.append(math.log10(norm) + scale - math.log10(B) if norm > 0 else -math.inf)
        g_s = got[1] if got[1] is not None else torch.zeros_like(s_in)
        g_y = got[2] if rule.separate_output and got[2] is not None else torch.zeros_like(g_s)
        size = max(g_s.double().norm().item(), g_y.double().norm().item())
        if size > 0:
            g_s, g_y, scale = g_s / size, g_y / size, scale + math.log10(size)
    return logs


def classifier_gradients(model: DepthModel | SequenceModel, x: Tensor, labels: Tensor) -> list[float]:
    """stream_log_gradients of a classifier under its own loss (cross-entropy of the last output), log10.

    model: a DepthModel (x (B, D), the stream starts at inp(x)) or a one-layer SequenceModel read
    at its last step (x (B, T, D)), as rot90's ImageTask builds them; dropout is not applied.
    """
    if isinstance(model, DepthModel) and not model.inject:
        stack, start = model.stack, model.inp(x)
    elif isinstance(model, SequenceModel) and len(model.layers) == 1:
        stack, start = model.layers[0], model.embed(x)
    else:
        raise ValueError("classifier_gradients: a DepthModel whose stream starts as its input, or a one-layer "
                         "SequenceModel")
    return stream_log_gradients(stack, start, lambda y: F.cross_entropy(model.head(y), labels, reduction="sum"))


def decay(logs: list[float]) -> float:
    """log10 of the per-step factor of the gradient: the least-squares slope of log10 |g_k| over k = 1 .. K-1."""
    points = [(k, v) for k, v in enumerate(logs) if k >= 1 and math.isfinite(v)]
    if len(points) < 2:
        return math.nan
    mk = sum(k for k, _ in points) / len(points)
    mv = sum(v for _, v in points) / len(points)
    return sum((k - mk) * (v - mv) for k, v in points) / sum((k - mk) ** 2 for k, _ in points)


__all__ = ["classifier_gradients", "decay", "stream_log_gradients"]
