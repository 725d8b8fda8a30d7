"""The fused label-smoothed cross-entropy against torch's F.cross_entropy: losses and gradients."""

import pytest
import torch
import torch.nn.functional as F

from rot90.losses import smoothed_cross_entropy
from rot90.testing import assert_close


def case(N=37, V=53, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = (3 * torch.randn(N, V, generator=g, dtype=torch.float64)).to(dtype).requires_grad_()
    target = torch.randint(1, V, (N,), generator=g)
    target[::5] = 0  # padding rows, left out
    return logits, target


@pytest.mark.parametrize("rows", [None, 1, 5])  # one block; blocks of one row; blocks that do not divide N = 37
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.5])
def test_loss_and_gradient_are_torchs(smoothing, rows):
    logits, target = case()
    ours = smoothed_cross_entropy(logits, target, smoothing, ignore_index=0, rows=rows)
    ref = F.cross_entropy(logits.double(), target, ignore_index=0, reduction="sum", label_smoothing=smoothing)
    assert ours.dtype == torch.float32  # computed in fp32 whatever the logits
    # computed in fp32: a log-softmax over V, summed over N rows
    assert_close(ours, ref, chain=logits.shape[0] + logits.shape[1], dtype=torch.float32)
    upstream = torch.tensor(0.37)  # a mean over tokens, a loss scale
    (g_ours,) = torch.autograd.grad(ours * upstream, logits)
    (g_ref,) = torch.autograd.grad(ref * upstream, logits)
    assert_close(g_ours, g_ref, chain=logits.shape[1], dtype=torch.float32)
    assert torch.equal(g_ours[::5], torch.zeros_like(g_ours[::5]))  # padding rows get no gradient


@pytest.mark.parametrize("rows", [None, 8])
def test_bf16_logits_give_bf16_gradients_of_the_fp32_loss(rows):
    logits, target = case(dtype=torch.bfloat16)
    ours = smoothed_cross_entropy(logits, target, 0.1, ignore_index=0, rows=rows)
    ref = F.cross_entropy(logits.float(), target, ignore_index=0, reduction="sum", label_smoothing=0.1)
    assert_close(ours, ref, chain=logits.shape[0] + logits.shape[1])  # both in fp32 from the same bf16 logits
    (g_ours,) = torch.autograd.grad(ours, logits)
    (g_ref,) = torch.autograd.grad(ref, logits)
    assert g_ours.dtype == torch.bfloat16
    assert_close(g_ours, g_ref, chain=1, dtype=torch.bfloat16)  # the fp32 gradient rounded to bf16 once


def test_a_second_backward_gives_the_same_gradient():
    """Nothing saved for backward is changed in place (the softmax is recomputed), so a retained graph works."""
    logits, target = case()
    loss = smoothed_cross_entropy(logits, target, 0.1, ignore_index=0, rows=4)
    (first,) = torch.autograd.grad(loss, logits, retain_graph=True)
    (second,) = torch.autograd.grad(loss, logits)
    assert torch.equal(first, second)


def test_bad_shapes_and_smoothing():
    logits, target = case()
    with pytest.raises(ValueError, match=r"logits \(N, V\) and target \(N,\)"):
        smoothed_cross_entropy(logits[None], target)
    with pytest.raises(ValueError, match="smoothing 1.0 is not in"):
        smoothed_cross_entropy(logits, target, 1.0)
