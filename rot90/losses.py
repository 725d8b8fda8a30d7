"""Label-smoothed cross-entropy in three passes over the logits instead of seven.

    smoothed_cross_entropy(logits (N, V), target (N,), smoothing, ignore_index)
        = F.cross_entropy(logits.float(), target, ignore_index=..., reduction="sum", label_smoothing=smoothing)

Why: a translation model's output layer makes (N, V) logits, N ≈ 4,000 target tokens and V = 8,000 pieces,
128 MB in fp32, and on a CPU the passes over them cost more than their arithmetic. torch's loss reads and
writes them about seven times in a training step (log-softmax and its backward, the zero-filled gradient of
the picked entries, the smoothing term's gradient added to it, a copy; under bf16 autocast one more, to fp32);
here the forward is one log-softmax (written in fp32 straight from bf16 logits) and a sum, and the backward
turns the saved log-probabilities into the gradient in place:

    d loss / d logit_v = p_v - (1 - ε) [v = target] - ε / V     (rows of ignore_index: 0)

The reference is torch's F.cross_entropy; tests/test_losses.py compares the two on losses and gradients.
"""

from __future__ import annotations

import torch
from torch import Tensor


class _SmoothedCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits: Tensor, target: Tensor, smoothing: float, ignore_index: int) -> Tensor:
        logp = torch.log_softmax(logits, -1, dtype=torch.float32)  # (N, V)
        keep = target != ignore_index  # (N,)
        picked = target.masked_fill(~keep, 0)[:, None]  # (N, 1) a valid index on ignored rows too
        per_row = -(1 - smoothing) * logp.gather(1, picked)[:, 0]
        if smoothing:
            per_row = per_row - smoothing / logp.shape[-1] * logp.sum(-1)
        ctx.save_for_backward(logp, picked, keep)
        ctx.smoothing, ctx.dtype = smoothing, logits.dtype
        return (per_row * keep).sum()

    @staticmethod
    def backward(ctx, grad: Tensor):
        # In place on the saved log-probabilities: a second backward through the same graph would read them
        # changed, and autograd refuses that (the saved tensor's version moved), rather than computing it wrong.
        logp, picked, keep = ctx.saved_tensors
        g = logp.exp_()  # (N, V) the softmax
        if ctx.smoothing:
            g.sub_(ctx.smoothing / g.shape[-1])
        g.scatter_add_(1, picked, g.new_full(picked.shape, -(1 - ctx.smoothing)))
        g.mul_((grad * keep)[:, None])  # ignored rows: 0
        return g.to(ctx.dtype), None, None, None


def smoothed_cross_entropy(logits: Tensor, target: Tensor, smoothing: float = 0.0, ignore_index: int = -100) -> Tensor:
    """The summed label-smoothed cross-entropy of logits (N, V) against target (N,) in fp32, rows whose target is
    ignore_index left out: F.cross_entropy(logits.float(), target, reduction="sum", ...) in fewer passes."""
    if logits.dim() != 2 or target.shape != logits.shape[:1]:
        raise ValueError(f"smoothed_cross_entropy: logits (N, V) and target (N,), got {tuple(logits.shape)} and "
                         f"{tuple(target.shape)}")
    if not 0 <= smoothing < 1:
        raise ValueError(f"smoothed_cross_entropy: smoothing {smoothing} is not in [0, 1)")
    return _SmoothedCrossEntropy.apply(logits, target, float(smoothing), ignore_index)
