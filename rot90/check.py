"""The equivalences, measured: rot90.LSTM/GRU against torch, and rotate() against the layer.

`rot90 check` prints these as a table; the tests assert them. Every case compares outputs,
final states and all parameter and input gradients, and reports the largest difference.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

from . import nn as rnn
from .residual import Residual, rotate
from .rules import RULES


@dataclass(frozen=True)
class Case:
    """One configuration of the torch comparison."""

    num_layers: int = 1
    bidirectional: bool = False
    batch_first: bool = False
    initial_state: bool = False
    packed: bool = False

    def __str__(self):
        flags = [f"{self.num_layers} layer" + ("s" if self.num_layers > 1 else "")]
        flags += [name for name, on in [("bidirectional", self.bidirectional), ("batch_first", self.batch_first),
                                        ("h0", self.initial_state), ("packed", self.packed)] if on]
        return ", ".join(flags)


def cases(full: bool = True) -> list[Case]:
    """Every combination (full) or a spread of them that still covers each option."""
    grid = [Case(*c) for c in itertools.product([1, 2, 3], [False, True], [False, True], [False, True], [False, True])]
    return grid if full else grid[::5]


def _flat(out) -> list[torch.Tensor]:
    """Output and states of an RNN call as a flat list of tensors."""
    y, state = out
    y = y.data if isinstance(y, PackedSequence) else y
    return [y] + (list(state) if isinstance(state, tuple) else [state])


def compare_with_torch(kind: str, case: Case, impl: str = "residual", seed: int = 0,
                       input_size: int = 5, hidden_size: int = 6, batch: int = 4, steps: int = 7,
                       dtype=torch.float32) -> float:
    """Largest |rot90 - torch| over outputs, final states and every gradient, for LSTM or GRU."""
    g = torch.Generator().manual_seed(seed)
    torch_cls, ours_cls = {"LSTM": (torch.nn.LSTM, rnn.LSTM), "GRU": (torch.nn.GRU, rnn.GRU)}[kind]
    kw = dict(num_layers=case.num_layers, bidirectional=case.bidirectional, batch_first=case.batch_first)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        ref = torch_cls(input_size, hidden_size, **kw).to(dtype)
    ours = ours_cls(input_size, hidden_size, impl=impl, **kw).to(dtype)
    ours.load_state_dict(ref.state_dict())

    shape = (batch, steps, input_size) if case.batch_first else (steps, batch, input_size)
    x = torch.randn(*shape, generator=g, dtype=dtype)
    D = 2 if case.bidirectional else 1
    hx = None
    if case.initial_state:
        h = [torch.randn(case.num_layers * D, batch, hidden_size, generator=g, dtype=dtype) for _ in range(2)]
        hx = tuple(h) if kind == "LSTM" else h[0]

    lengths = torch.randint(1, steps + 1, (batch,), generator=g)  # unsorted, so the permutation is exercised
    lengths[0] = steps
    results = []
    for model in (ref, ours):
        xi = x.clone().requires_grad_()
        hi = None if hx is None else (tuple(t.clone().requires_grad_() for t in hx) if kind == "LSTM"
                                     else hx.clone().requires_grad_())
        inp = xi
        if case.packed:
            inp = pack_padded_sequence(xi, lengths, batch_first=case.batch_first, enforce_sorted=False)
        outs = _flat(model(inp, hi))
        # A fixed random projection of every output, so each element's gradient counts.
        w = torch.Generator().manual_seed(seed + 1)
        loss = sum((o * torch.randn(o.shape, generator=w, dtype=dtype)).sum() for o in outs)
        loss.backward()
        grads = [xi.grad] + ([] if hi is None else [t.grad for t in (hi if isinstance(hi, tuple) else (hi,))])
        grads += [p.grad for _, p in sorted(model.named_parameters())]
        results.append([o.detach() for o in outs] + grads)
    return max((a - b).abs().max().item() for a, b in zip(*results))


def rotation_difference(rule: str, seed: int = 0, input_size: int = 5, hidden_size: int = 6,
                        batch: int = 3, steps: int = 9) -> tuple[float, float]:
    """(|rotate(layer, T)(x) - layer(x)|, |rotate(rotate(layer, T))(x) - layer(x)|), outputs and states."""
    torch.manual_seed(seed)
    layer = Residual(rule, hidden_size, "time", input_size=input_size)
    x = torch.randn(batch, steps, input_size)
    stack = rotate(layer, steps=steps)
    back = rotate(stack)
    ref = _flat(layer(x))
    diff = lambda m: max((a - b).abs().max().item() for a, b in zip(ref, _flat(m(x))))  # noqa: E731
    return diff(stack), diff(back)


def report(full: bool = False) -> list[tuple[str, str, float]]:
    """Rows (what, case, max difference) for the check table."""
    rows = []
    for kind, impl in itertools.product(["LSTM", "GRU"], ["residual", "fused"]):
        diffs = {c: compare_with_torch(kind, c, impl) for c in cases(full)}
        worst = max(diffs, key=diffs.get)
        rows.append((f"rot90.{kind}({impl}) vs torch.nn.{kind}", f"{len(diffs)} cases, worst: {worst}", diffs[worst]))
    for rule in RULES:
        there, back = rotation_difference(rule)
        rows.append((f"rotate({rule} layer, T=9) vs layer", "outputs + final state", there))
        rows.append((f"rotate(rotate({rule} layer)) vs layer", "outputs + final state", back))
    return rows
