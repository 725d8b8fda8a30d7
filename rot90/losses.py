"""Label-smoothed cross-entropy, a block of rows at a time, so that the passes over the logits stay in cache.

    smoothed_cross_entropy(logits (N, V), target (N,), smoothing, ignore_index)
        = F.cross_entropy(logits.float(), target, ignore_index=..., reduction="sum", label_smoothing=smoothing)

Why: a translation model's output layer makes (N, V) logits, N ≈ 4,000 target tokens and V = 8,000 pieces,
128 MB in fp32, and on a CPU the passes over them cost more than their arithmetic. torch's loss reads and
writes the whole of them about seven times in a training step (log-softmax and its backward, a zero-filled
gradient of the picked entries, the smoothing term's gradient added to it, a copy; under bf16 autocast one
more, to fp32), each pass from main memory. Here a block of rows (4 MB in fp32, near the core's caches) is read
once from memory and every pass over it is made while it is there: forward, its log-softmax in fp32
(straight from bf16 logits), the picked entries and the row sum; backward, its softmax again (recomputed:
cheaper than a 128 MB fp32 tensor saved and read back) turned into the gradient in place,

    d loss / d logit_v = p_v - (1 - ε) [v = target] - ε / V     (rows of ignore_index: 0)

and written once in the logits' precision. On a GPU the whole is one block (the passes are not the bottleneck
there; launches would be). The reference is torch's F.cross_entropy; tests/test_losses.py compares the two
on losses and gradients, with blocks that do not divide N.
"""

from __future__ import annotations

import torch
from torch import Tensor

# fp32 numbers in a block of rows on the CPU: 128 rows of 8,000. Forward + backward of (4,095 x 8,000) logits, one
# thread, Sapphire Rapids: bf16 143 ms in one block of all rows (saved log-probabilities, as before) -> 113 ms in
# blocks of 128 rows (8 and 32 rows: 113-125 ms, 512: 164 ms); fp32 98 -> 100 ms, level.
CACHE_FLOATS = 1 << 20


class _SmoothedCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits: Tensor, target: Tensor, smoothing: float, ignore_index: int, rows: int) -> Tensor:
        N, V = logits.shape
        keep = target != ignore_index  # (N,)
        picked = target.masked_fill(~keep, 0)[:, None]  # (N, 1) a valid index on ignored rows too
        per_row = torch.empty(N, dtype=torch.float32, device=logits.device)
        for i in range(0, N, rows):
            logp = torch.log_softmax(logits[i:i + rows], -1, dtype=torch.float32)  # (rows, V), in cache
            r = logp.gather(1, picked[i:i + rows])[:, 0].mul_(-(1 - smoothing))
            if smoothing:
                r.sub_(logp.sum(-1), alpha=smoothing / V)
            per_row[i:i + rows] = r
        ctx.save_for_backward(logits, picked, keep)
        ctx.smoothing, ctx.rows = smoothing, rows
        return (per_row * keep).sum()

    @staticmethod
    def backward(ctx, grad: Tensor):
        logits, picked, keep = ctx.saved_tensors
        V, eps, rows = logits.shape[1], ctx.smoothing, ctx.rows
        scale = (grad * keep).to(torch.float32)[:, None]  # (N, 1) ignored rows: 0
        out = torch.empty_like(logits)
        for i in range(0, logits.shape[0], rows):
            g = torch.softmax(logits[i:i + rows], -1, dtype=torch.float32)  # (rows, V), in cache
            if eps:
                g.sub_(eps / V)
            g.scatter_add_(1, picked[i:i + rows], g.new_full((len(g), 1), -(1 - eps)))
            out[i:i + rows] = g.mul_(scale[i:i + rows])  # rounded once to the logits' precision
        return out, None, None, None, None


def smoothed_cross_entropy(logits: Tensor, target: Tensor, smoothing: float = 0.0, ignore_index: int = -100,
                           rows: int | None = None) -> Tensor:
    """The summed label-smoothed cross-entropy of logits (N, V) against target (N,) in fp32, rows whose target is
    ignore_index left out: F.cross_entropy(logits.float(), target, reduction="sum", ...) in fewer passes.
    rows: the block of rows made at a time (None: CACHE_FLOATS numbers on a CPU; all of them on a GPU)."""
    if logits.dim() != 2 or target.shape != logits.shape[:1]:
        raise ValueError(f"smoothed_cross_entropy: logits (N, V) and target (N,), got {tuple(logits.shape)} and "
                         f"{tuple(target.shape)}")
    if not 0 <= smoothing < 1:
        raise ValueError(f"smoothed_cross_entropy: smoothing {smoothing} is not in [0, 1)")
    if rows is None:
        rows = max(1, CACHE_FLOATS // logits.shape[1]) if logits.device.type == "cpu" else logits.shape[0]
    return _SmoothedCrossEntropy.apply(logits, target, float(smoothing), ignore_index, max(1, rows))
