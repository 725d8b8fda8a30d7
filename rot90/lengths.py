"""Sequences of different lengths in one padded batch: the checks, masks, reversal and packing every layer shares.

    lengths (B,) integers in [0, T]        mask(lengths, T) -> (B, T) bool, True inside a sequence

Past its end a sequence's output is 0 and its state is carried unchanged (what torch's packed
sequences compute); the helpers here are the one place that says where "past its end" is.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence

from .errors import ArgumentError


def check_lengths(lengths: Tensor | None, B: int, T: int) -> Tensor | None:
    """lengths (B,) of integers in [0, T] (as torch's pack_padded_sequence asks), as int64 on the CPU."""
    if lengths is None:
        return None
    lengths = torch.as_tensor(lengths)
    if lengths.shape != (B,) or lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
        raise ArgumentError(f"lengths must be {B} integers (one per sequence), got {lengths.dtype} "
                            f"of shape {tuple(lengths.shape)}")
    lengths = lengths.to("cpu", torch.int64)
    if B and (int(lengths.min()) < 0 or int(lengths.max()) > T):
        raise ArgumentError(f"lengths must lie in [0, {T}] (the sequence length), got {lengths.tolist()}")
    return lengths


def mask(lengths: Tensor, T: int, device: torch.device | None = None) -> Tensor:
    """(B,) lengths -> (B, T) bool, True at positions inside each sequence."""
    device = lengths.device if device is None else device
    return torch.arange(T, device=device)[None, :] < lengths.to(device)[:, None]


def reverse_padded(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each sequence of x (T, B, F) within its own length; padding stays in place."""
    if lengths is None:
        return x.flip(0)
    T = x.shape[0]
    t = torch.arange(T, device=x.device)[:, None]  # (T, 1)
    n = lengths.to(x.device)[None, :]  # (1, B)
    idx = torch.where(t < n, n - 1 - t, t)  # (T, B)
    return x.gather(0, idx.unsqueeze(-1).expand_as(x))


def pack_like(y: Tensor, packed: PackedSequence) -> PackedSequence:
    """Pack y (T, B, F), in the caller's batch order, with the same layout as `packed`."""
    y = y.index_select(1, packed.sorted_indices) if packed.sorted_indices is not None else y
    B = y.shape[1]
    keep = torch.arange(B)[None, :] < packed.batch_sizes[:, None]  # (T, B): rows alive at step t
    return PackedSequence(y[keep.to(y.device)], packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)
