"""`rot90 check`: the equivalences, measured: rot90.LSTM/GRU/RNN against torch, and rotate() against the layer.

The tests assert them; this prints them as a table. Every case compares outputs, final states
and all parameter and input gradients, each tensor as a relative error (rot90.testing), and
reports the largest against its bound(dtype, chain).
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass

import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

from .. import nn as rnn
from ..residual import Residual, rotate
from ..rules import RULES
from ..testing import bound, relative_error


@dataclass(frozen=True)
class Case:
    """One configuration of the torch comparison."""

    num_layers: int = 1
    bidirectional: bool = False
    batch_first: bool = False
    initial_state: bool = False
    packed: bool = False
    proj_size: int = 0  # LSTM only: h = W_hr (o * tanh(c))

    def __str__(self):
        flags = [f"{self.num_layers} layer" + ("s" if self.num_layers > 1 else "")]
        flags += [name for name, on in [("bidirectional", self.bidirectional), ("batch_first", self.batch_first),
                                        ("h0", self.initial_state), ("packed", self.packed)] if on]
        flags += [f"proj_size={self.proj_size}"] if self.proj_size else []
        return ", ".join(flags)


def cases(full: bool = True, proj_size: int = 0) -> list[Case]:
    """Every combination (full) or a spread of them that still covers each option."""
    grid = [Case(*c, proj_size=proj_size)
            for c in itertools.product([1, 2, 3], [False, True], [False, True], [False, True], [False, True])]
    return grid if full else grid[::5]


def _flat(out) -> list[torch.Tensor]:
    """Output and states of an RNN call as a flat list of tensors."""
    y, state = out
    y = y.data if isinstance(y, PackedSequence) else y
    return [y] + (list(state) if isinstance(state, tuple) else [state])


def compare_with_torch(kind: str, case: Case, impl: str = "residual", seed: int = 0,
                       input_size: int = 5, hidden_size: int = 6, batch: int = 4, steps: int = 7,
                       dtype=torch.float32) -> float:
    """Largest relative error of rot90 against torch over outputs, final states and every gradient."""
    g = torch.Generator().manual_seed(seed)
    torch_cls, ours_cls = {"LSTM": (torch.nn.LSTM, rnn.LSTM), "GRU": (torch.nn.GRU, rnn.GRU),
                           "RNN": (torch.nn.RNN, rnn.RNN)}[kind]
    kw = dict(num_layers=case.num_layers, bidirectional=case.bidirectional, batch_first=case.batch_first)
    if case.proj_size:
        kw["proj_size"] = case.proj_size
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
        h = [torch.randn(case.num_layers * D, batch, size, generator=g, dtype=dtype)
             for size in (case.proj_size or hidden_size, hidden_size)]
        hx = tuple(h) if kind == "LSTM" else h[0]

    lengths = torch.randint(1, steps + 1, (batch,), generator=g)  # unsorted, so the permutation is exercised
    lengths[0] = steps
    results = []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "LSTM with projections is not supported with oneDNN")  # torch's, not ours
        for model in (ref, ours):
            results.append(_run(model, kind, case, x, hx, lengths, seed, dtype))
    ref, ours_ = results
    return max(relative_error(b, a) for a, b in zip(ref, ours_))


def _run(model, kind: str, case: Case, x, hx, lengths, seed: int, dtype) -> list[torch.Tensor]:
    """Outputs, final states, and the gradients of input, initial state and every parameter."""
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
    return [o.detach() for o in outs] + grads


def chain(case: Case, steps: int = 7, batch: int = 4) -> int:
    """The longest chain of a comparison: every layer's steps, and the sum over B*T of a weight's gradient."""
    return case.num_layers * steps + batch * steps


def rotation_difference(rule: str, seed: int = 0, input_size: int = 5, hidden_size: int = 6,
                        batch: int = 3, steps: int = 9) -> tuple[float, float]:
    """Relative errors of rotate(layer, T) and rotate(rotate(layer, T)) against the layer, outputs and states."""
    torch.manual_seed(seed)
    layer = Residual(rule, hidden_size, "time", input_size=input_size)
    x = torch.randn(batch, steps, input_size)
    stack = rotate(layer, steps=steps)
    back = rotate(stack)
    ref = _flat(layer(x))
    diff = lambda m: max(relative_error(b, a) for a, b in zip(ref, _flat(m(x))))  # noqa: E731
    return diff(stack), diff(back)


def report(full: bool = False) -> list[tuple[str, str, float, float]]:
    """Rows (what, case, largest relative error, its bound) for the check table, in float32."""
    rows = []
    for kind, impl, proj in [(k, i, 0) for k in ("LSTM", "GRU", "RNN") for i in ("residual", "torch")] + \
            [("LSTM", "residual", 3), ("LSTM", "torch", 3)]:
        diffs = {c: compare_with_torch(kind, c, impl) for c in cases(full, proj)}
        worst = max(diffs, key=diffs.get)
        what = f"rot90.{kind}({impl}{', proj_size=3' if proj else ''}) vs torch.nn.{kind}"
        rows.append((what, f"{len(diffs)} cases, worst: {worst}", diffs[worst],
                     bound(torch.float32, chain(Case(num_layers=3)))))
    for rule in RULES:
        there, back = rotation_difference(rule)
        rows.append((f"rotate({rule} layer, T=9) vs layer", "outputs + final state", there, bound(torch.float32, 9)))
        rows.append((f"rotate(rotate({rule} layer)) vs layer", "outputs + final state", back, 0.0))
    return rows
