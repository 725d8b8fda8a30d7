"""Generated tasks, the embedded default for quick runs and tests. Deterministic given a seed.

Memory tasks, each with a length parameter T (how far back the answer lies):

    copy            k symbols, T blanks, a delimiter, then the k symbols again (Hochreiter 1997)
    adding          T steps of (value, marker); the answer is the sum of the two marked values
    selective_copy  k symbols scattered among T noise positions; copy them out in order
                    (Gu & Dao 2023; Feng et al. 2024 report minLSTM/minGRU on it)

Numbers to words (num2words): English → French or German, the quick translation task; German
reorders ("fünfundvierzig" is five-and-forty), French counts in twenties ("quatre-vingt-dix").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..extras import need
from .io import DataError


@dataclass
class MemoryBatch:
    x: Tensor  # (B, L) token ids, or (B, L, 2) floats for adding
    y: Tensor  # (B, k) target ids at the answer positions, or (B,) floats for adding
    answer_from: int  # position of the first answer step in x (the model's outputs from here are scored)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def copy_task(batch: int, T: int, k: int = 8, vocab: int = 8, seed: int = 0) -> MemoryBatch:
    """Tokens: 0 blank, 1 delimiter, 2.. symbols. x = [s_1..s_k, 0 * T, 1, 0 * (k-1)] then copy s."""
    g = _gen(seed)
    s = torch.randint(2, vocab + 2, (batch, k), generator=g)
    blank = torch.zeros(batch, T, dtype=torch.long)
    tail = torch.zeros(batch, k - 1, dtype=torch.long)
    x = torch.cat([s, blank, torch.ones(batch, 1, dtype=torch.long), tail], 1)  # (B, k + T + k)
    return MemoryBatch(x, s, answer_from=k + T)


def adding_task(batch: int, T: int, seed: int = 0) -> MemoryBatch:
    """x[..., 0] uniform in [0, 1), x[..., 1] marks two positions (one in each half); y is their sum."""
    g = _gen(seed)
    values = torch.rand(batch, T, generator=g)
    first = torch.randint(0, max(T // 2, 1), (batch,), generator=g)
    second = torch.randint(max(T // 2, 1), T, (batch,), generator=g) if T > 1 else first
    marks = torch.zeros(batch, T)
    marks[torch.arange(batch), first] = 1.0
    marks[torch.arange(batch), second] = 1.0
    y = (values * marks).sum(1)
    return MemoryBatch(torch.stack([values, marks], -1), y, answer_from=T - 1)


def selective_copy(batch: int, T: int, k: int = 16, vocab: int = 8, seed: int = 0) -> MemoryBatch:
    """Tokens: 0 noise, 1 delimiter, 2.. symbols. k symbols at random positions among T, then k answer steps."""
    if k > T:
        raise DataError(f"selective copy: {k} symbols do not fit in {T} positions")
    g = _gen(seed)
    s = torch.randint(2, vocab + 2, (batch, k), generator=g)
    pos = torch.rand(batch, T, generator=g).argsort(1)[:, :k].sort(1).values  # (B, k) increasing positions
    x = torch.zeros(batch, T, dtype=torch.long)
    x.scatter_(1, pos, s)
    x = torch.cat([x, torch.ones(batch, 1, dtype=torch.long), torch.zeros(batch, k - 1, dtype=torch.long)], 1)
    return MemoryBatch(x, s, answer_from=T)


# -- numbers to words --------------------------------------------------------------------------


def number_pairs(lang: str = "fr", n: int = 1000, low: int = 0, high: int = 9999,
                 seed: int = 0) -> list[tuple[str, str]]:
    """n distinct numbers from [low, high] as (English words, `lang` words); n <= high - low + 1."""
    num2words = need("num2words", "nmt").num2words

    if lang not in ("fr", "de"):
        raise DataError(f"numbers: unsupported language {lang!r} (fr or de)")
    if n > high - low + 1:
        raise DataError(f"numbers: asked for {n} distinct numbers from a range of {high - low + 1}")
    g = _gen(seed)
    picks = (torch.randperm(high - low + 1, generator=g)[:n] + low).tolist()
    return [(num2words(v, lang="en"), num2words(v, lang=lang)) for v in picks]


def number_splits(lang: str = "fr", low: int = 0, high: int = 9999, dev: int = 500, test: int = 500,
                  train: int | None = None, seed: int = 0) -> dict[str, list[tuple[str, str]]]:
    """Disjoint train/dev/test splits of numbers (a number is in one split only)."""
    total = high - low + 1
    train = total - dev - test if train is None else train
    if train <= 0 or dev + test + train > total:
        raise DataError(f"numbers: {train} + {dev} + {test} pairs do not fit in a range of {total}")
    pairs = number_pairs(lang, dev + test + train, low, high, seed)
    return {"test": pairs[:test], "dev": pairs[test:test + dev], "train": pairs[test + dev:]}
