"""Comparing two computations of one function: rot90's answer to "how close is close enough".

    relative_error(ours, ref)            max|ours - ref| / max|ref|, in float64
    bound(dtype, chain)                  8 eps(dtype) x the longest chain of dependent steps
    assert_close(ours, ref, chain=T)     every tensor within its bound, or AssertionError naming it

Two correct programs differ by rounding only, and how much rounding a recurrence accumulates
follows from the dtype and the length of its longest chain of dependent operations: the bound
is that allowance, the same on every CPU (torch.testing.assert_close takes tolerances instead).
"""

from __future__ import annotations

import torch


def relative_error(ours: torch.Tensor, ref: torch.Tensor) -> float:
    """max|ours - ref| / max|ref| over one tensor (0 when both are 0; compared in float64)."""
    ours, ref = ours.detach().double(), ref.detach().double()
    if ours.shape != ref.shape:
        raise ValueError(f"shapes differ: {tuple(ours.shape)} against {tuple(ref.shape)}")
    if ref.numel() == 0:
        return 0.0
    scale = ref.abs().max().item()
    diff = (ours - ref).abs().max().item()
    return diff / scale if scale > 0 else (0.0 if diff == 0 else float("inf"))


def bound(dtype: torch.dtype, chain: int) -> float:
    """Relative error allowed between two correct computations whose longest chain is `chain` steps.

    Rounding grows at most linearly along a chain of dependent operations (a recurrence over T
    steps, a reduction over B*T terms for a weight's gradient): eps per link, times 8 for the
    few roundings inside one step of a cell and its backward, each of which two programs may do
    in their own order (fused kernels, blocked matmuls, other CPU vector widths).
    """
    return 8 * torch.finfo(dtype).eps * max(chain, 1)


def assert_close(ours, ref, chain: int, dtype: torch.dtype | None = None, what: str = ""):
    """Every tensor of `ours` within bound(dtype, chain) of the matching one of `ref`, relative to its magnitude.

    ours, ref: tensors or equally long sequences of them; dtype: the one computed in (default ref's).
    """
    pairs = list(zip(ours, ref, strict=True)) if isinstance(ref, (list, tuple)) else [(ours, ref)]
    for k, (a, b) in enumerate(pairs):
        tol = bound(dtype or b.dtype, chain)
        err = relative_error(a, b)
        if not err <= tol:
            raise AssertionError(f"{what or 'tensor'} {k}: relative error {err:.3e} above {tol:.3e} "
                                 f"({dtype or b.dtype}, chain {chain})")


__all__ = ["assert_close", "bound", "relative_error"]
