"""Misuse of the public API never crashes, hangs or answers wrongly: it raises, as torch would.

The property test throws random wrong shapes, lengths, dims and dtypes at scan, MinLSTM, MinGRU
and Residual on every method. Cases run in a worker process (tests/safety_worker.py), so that a
crash kills the worker, not the test run, and fails with the case that caused it; a case that
takes over a minute is a hang. Each case runs its method twice and the sequential reference
once: both runs must raise a clean error, or agree with each other bit for bit (memory read
past a tensor differs from call to call) and with the reference to rounding.
"""

import json
import math
import os
import select
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rot90
from rot90.errors import ArgumentError
from rot90.testing import bound

CLEAN = {"ArgumentError", "ValueError", "RuntimeError", "IndexError", "TypeError"}
TARGETS = {
    "scan": ["auto", "compiled", "loop", "doubling", "chunked"],
    "MinLSTM": ["parallel", "compiled", "doubling", "chunked"],
    "MinGRU": ["parallel", "compiled", "loop"],
    "Residual minlstm": ["parallel", "compiled", "chunked"],
    "Residual mingru": ["parallel", "compiled"],
    "Residual lstm": ["parallel"],
}


class Worker:
    def __init__(self):
        self.proc = None

    def ask(self, case: dict, timeout: float = 60.0) -> list:
        if self.proc is None or self.proc.poll() is not None:
            env = dict(os.environ, OMP_NUM_THREADS="2")
            self.proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("safety_worker.py"))],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self.proc.stdin.write(json.dumps(case) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.proc.kill()
            self.proc = None
            pytest.fail(f"hang: no answer in {timeout:.0f} s to {case}")
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            self.proc = None
            pytest.fail(f"crash: the worker died with exit code {code} on {case}")
        return json.loads(line)

    def close(self):
        if self.proc is not None:
            self.proc.kill()


@pytest.fixture(scope="module")
def worker():
    w = Worker()
    yield w
    w.close()


def shape_of(spec: dict | None) -> list | None:
    """The shape of the tensor the worker builds from spec."""
    if spec is None:
        return None
    shape = list(spec["shape"])
    return shape[:-2] + shape[:-3:-1] if spec.get("transposed") and len(shape) >= 2 else shape


def valid(case: dict) -> bool | None:
    """Whether a layer's arguments are valid (then it must answer) or not (then it must raise); None: not said."""
    if case["target"] == "scan":
        rank = len(shape_of(case["x"]))
        return None if rank and -rank <= case["dim"] < rank else False
    x, h0, lengths = shape_of(case["x"]), shape_of(case["h0"]), case["lengths"]
    if len(x) != 3 or x[2] != case["I"] or case["dtype"] != "float32":  # float32: the layer's own dtype
        return False
    B, T = x[0], x[1]
    if h0 is not None and h0 != [B, case["H"]]:
        return False
    return lengths is None or (lengths["dtype"] == "int64" and len(lengths["values"]) == B
                               and all(0 <= v <= T for v in lengths["values"]))


def judge(case: dict, results: list):
    (first, second, ref) = results
    if valid(case) is not None:
        assert (first[0] == "ok") == valid(case), f"{'refused valid' if valid(case) else 'accepted bad'} input: " \
            f"{first[1:] if first[0] == 'error' else ''} {case}"
    if first[0] == "error":
        assert first[1] in CLEAN, f"{first[1]} is not a clean error: {first[2]} ({case})"
        assert second[0] == "error" and second[1] == first[1], f"the second call did not fail alike: {case}"
        return
    assert second == first, f"two calls gave different answers (memory read out of bounds?): {case}"
    assert ref[0] == "ok", f"the fast path answered where the sequential reference refused ({ref[1]}: {ref[2]}): {case}"
    dtype = {"float64": torch.float64}.get(case["dtype"], torch.float32 if case["dtype"] != "bfloat16"
                                           else torch.bfloat16)
    for a, b in zip(first[1], ref[1]):
        if a is None or b is None:  # no path from a leaf to the loss on one side: its gradient is zero
            other = torch.tensor(b if a is None else a, dtype=torch.float64) if (a, b) != (None, None) else None
            assert other is None or not other.any(), f"a gradient exists on one path only: {case}"
            continue
        a, b = torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)
        assert a.shape == b.shape, f"shapes differ from the reference: {case}"
        scale = b.abs().max().item() if b.numel() else 0.0
        err = (a - b).abs().max().item() / scale if scale else (a - b).abs().max().item() if a.numel() else 0.0
        assert err <= bound(dtype, 64), f"relative error {err:.2e} against the reference: {case}"


shapes = st.lists(st.integers(0, 5), min_size=0, max_size=4)


@st.composite
def cases(draw):
    """A valid call with one fault (or none, or several) drawn on purpose: each kind of misuse is common."""
    target = draw(st.sampled_from(sorted(TARGETS)))
    method = draw(st.sampled_from(TARGETS[target]))
    B, T, n_in, H = draw(st.integers(0, 3)), draw(st.integers(0, 6)), draw(st.integers(1, 3)), draw(st.integers(1, 4))
    faults = draw(st.sets(st.sampled_from(["x shape", "dtype", "h0", "lengths", "transposed", "dim", "f"]),
                          max_size=2))
    dtype = draw(st.sampled_from(["float64", "bfloat16", "int64"])) if "dtype" in faults else "float32"
    case = dict(target=target, methods=[method, method, "sequential"], dtype=dtype, seed=draw(st.integers(0, 99)),
                I=n_in, H=H, dim=1, f=None, lengths=None)
    x_shape = draw(shapes) if "x shape" in faults else ([B, T, H] if target == "scan" else [B, T, n_in])
    case["x"] = {"shape": x_shape, "transposed": "transposed" in faults}
    state = [B, H] if target != "scan" else [s for k, s in enumerate(x_shape) if k != 1]
    if "h0" in faults:
        case["h0"] = draw(st.one_of(st.builds(lambda s: {"shape": s}, shapes), st.just({"shape": [B, H * 4096]})))
    else:
        case["h0"] = draw(st.sampled_from([None, {"shape": state}]))
    if target == "scan":
        case["dim"] = draw(st.integers(-5, 5)) if "dim" in faults else 1
        f_shape = draw(shapes) if "f" in faults else draw(st.sampled_from([x_shape, [1] * len(x_shape)]))
        case["f"] = {"shape": f_shape, "unit": True}
    elif "lengths" in faults:
        n = draw(st.sampled_from([B, B + 1, max(B - 1, 0)]))
        values = draw(st.lists(st.integers(-3, T + 3), min_size=n, max_size=n))
        case["lengths"] = {"values": values, "dtype": draw(st.sampled_from(["int64", "float32"]))}
    else:
        case["lengths"] = draw(st.sampled_from([None, {"values": [T] * B, "dtype": "int64"}]))
    return case


@settings(max_examples=int(os.environ.get("ROT90_SAFETY_EXAMPLES", 150)), deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=cases())
def test_misuse_raises_never_crashes_hangs_or_lies(worker, case):
    judge(case, worker.ask(case))


# -- the misuse that crashed or corrupted memory before these checks, one by one --------------------


@pytest.mark.parametrize("cls", [rot90.MinLSTM, rot90.MinGRU, lambda i, h: rot90.Residual("minlstm", h, input_size=i)])
@pytest.mark.parametrize("bad", ["huge h0", "short h0", "h0 of another batch", "negative length", "length past T",
                                 "lengths of another batch", "float lengths"])
def test_known_crashes_are_clean_errors(cls, bad):
    layer, x = cls(4, 64), torch.randn(2, 4, 4)
    h0, lengths = None, None
    h0 = {"huge h0": torch.zeros(2, 64 * 4096), "short h0": torch.zeros(2, 63),
          "h0 of another batch": torch.zeros(3, 64)}.get(bad)
    lengths = {"negative length": torch.tensor([-5, 2]), "length past T": torch.tensor([4, 9]),
               "lengths of another batch": torch.tensor([4]), "float lengths": torch.tensor([1.0, 2.0])}.get(bad)
    with pytest.raises(RuntimeError):  # torch's kind of error for this misuse (ArgumentError is also a ValueError)
        layer(x, h0, lengths=lengths)


def test_scan_dim_and_rank_errors_are_torchs():
    b = torch.randn(2, 3, 4)
    with pytest.raises(IndexError, match="dim 5 is out of range for a 3-d tensor"):
        rot90.scan(b, b, dim=5)
    with pytest.raises(IndexError, match="0-d"):
        rot90.scan(torch.tensor(0.5), torch.tensor(1.0))
    with pytest.raises(ArgumentError, match="does not broadcast"):
        rot90.scan(torch.rand(2, 3, 5), b)


@pytest.mark.parametrize("misuse", ["non-contiguous", "float16", "mismatched dtype", "wrong h0", "lengths past T",
                                    "meta device", "unknown rule"])
def test_the_operators_check_every_argument(misuse):
    px, h0, lengths, rule = torch.randn(2, 5, 12), torch.zeros(2, 4), None, "minlstm"
    if misuse == "non-contiguous":
        px = torch.randn(2, 12, 5).transpose(1, 2)
    elif misuse == "float16":
        px, h0 = px.half(), h0.half()
    elif misuse == "mismatched dtype":
        h0 = h0.double()
    elif misuse == "wrong h0":
        h0 = torch.zeros(2, 5)
    elif misuse == "lengths past T":
        lengths = torch.tensor([5, 6])
    elif misuse == "meta device":
        px = px.to("meta")
    elif misuse == "unknown rule":
        rule = "lstm"
    with pytest.raises(ArgumentError):
        torch.ops.rot90.gated(px, h0, lengths, rule)
    f = torch.rand(2, 5, 4)
    with pytest.raises(ArgumentError):
        torch.ops.rot90.scan(f, f.transpose(0, 1).contiguous(), h0)


def test_empty_sizes_compute_without_touching_memory():
    for B, T in [(0, 5), (2, 0)]:
        y, h = rot90.MinLSTM(3, 4)(torch.randn(B, T, 3))
        assert y.shape == (B, T, 4) and h.shape == (B, 4)
    assert rot90.scan(torch.rand(2, 0, 3), torch.randn(2, 0, 3)).shape == (2, 0, 3)
    assert math.prod(rot90.scan(torch.rand(0, 4), torch.randn(0, 4), dim=1).shape) == 0
