"""How far back a gradient reaches along the residual stream: the same measurement on either axis.

For a stack of L blocks along depth, or one layer run for T steps along time, the stream is
s_0 .. s_K (K = L or T). A zero e_k is added to the stream after update k; d loss / d e_k is the
gradient with respect to the stream there, and |d loss / d e_k| against the distance K - k shows
how a carry f decays it, as f^k on either axis (the demo's section 2 and `rot90 experiment
gradient-flow`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.nn import functional as F

from .models import DepthModel, SequenceModel
from .residual import Residual


def stream_gradients(module: Residual, x: Tensor, loss_fn: Callable[[Tensor], Tensor]) -> list[float]:
    """|d loss / d s_k| / B for every k, index = distance from the output; loss = loss_fn(y_K), y_K (B, H).

    x: (B, T, D) inputs along time, or (B, H) the start of the stream along depth. The update is
    written out step by step (not the fast path) so that the zero can be added after each step.
    """
    rule, cells = module.rule, list(module.cells)
    K = x.shape[1] if module.axis == "time" else module.layers
    cells = cells * K if (module.axis == "time" or module.tied) else cells
    B, H = x.shape[0], module.hidden_size
    y = s = x.new_zeros(B, H) if module.axis == "time" else x
    probes = []
    for k, cell in enumerate(cells):
        w = cell.weights
        inp = x[:, k] if module.axis == "time" else (None if rule.reads_state else y)
        px = None if inp is None or w.weight_ih is None else F.linear(inp, w.weight_ih, w.bias_ih)
        py = None if w.weight_hh is None else F.linear(y, w.weight_hh, w.bias_hh)
        f, i, u, o = rule.gates(px, py)
        e = x.new_zeros(B, H, requires_grad=True)
        s = f * s + i * u + e
        y = rule.out(s, o)
        probes.append(e)
    grads = torch.autograd.grad(loss_fn(y), probes)
    return [g.norm().item() / B for g in grads][::-1]


def classifier_gradients(model: DepthModel | SequenceModel, x: Tensor, labels: Tensor) -> list[float]:
    """stream_gradients of a trained classifier under its own loss (cross-entropy of the last output).

    model: a DepthModel (x (B, D), the stream starts at inp(x)) or a one-layer SequenceModel read
    at its last step (x (B, T, D)), as rot90's ImageTask builds them; dropout is not applied.
    """
    if isinstance(model, DepthModel):
        stack, start = model.stack, model.inp(x)
    elif isinstance(model, SequenceModel) and len(model.layers) == 1:
        stack, start = model.layers[0], model.embed(x)
    else:
        raise ValueError("classifier_gradients: a DepthModel or a one-layer SequenceModel")
    return stream_gradients(stack, start, lambda y: F.cross_entropy(model.head(y), labels, reduction="sum"))


__all__ = ["classifier_gradients", "stream_gradients"]
