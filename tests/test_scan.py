"""scan and the gate-decoupled layers: parallel = sequential = step by step, values and gradients."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rot90 import RULES, MinGRU, MinLSTM, Residual, scan
from rot90.scan import METHODS
from rot90.testing import assert_close


def reference(f, b, h0):
    """h_k = f_k h_{k-1} + b_k in float64, time along dim 1."""
    h, out = h0.double(), []
    for k in range(b.shape[1]):
        h = f[:, k].double() * h + b[:, k].double()
        out.append(h)
    return torch.stack(out, 1)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("T", [1, 2, 3, 17, 64, 100, 1000])
def test_scan_matches_the_definition(method, T):
    g = torch.Generator().manual_seed(T)
    f = torch.rand(3, T, 5, generator=g, dtype=torch.float64)
    b = torch.randn(3, T, 5, generator=g, dtype=torch.float64)
    h0 = torch.randn(3, 5, generator=g, dtype=torch.float64)
    assert_close(scan(f, b, h0, method=method), reference(f, b, h0), chain=T)


@pytest.mark.parametrize("method", METHODS)
def test_scan_gradients_match_the_definition(method):
    g = torch.Generator().manual_seed(0)
    f64 = dict(generator=g, dtype=torch.float64)
    args = [torch.rand(2, 33, 4, **f64), torch.randn(2, 33, 4, **f64), torch.randn(2, 4, **f64)]
    w = torch.randn(2, 33, 4, generator=g, dtype=torch.float64)
    grads = []
    for fn in (lambda f, b, h0: scan(f, b, h0, method=method), reference):
        leaves = [a.clone().requires_grad_() for a in args]
        (fn(*leaves) * w).sum().backward()
        grads.append([leaf.grad for leaf in leaves])
    assert_close(grads[0], grads[1], chain=33)
    if method != "sequential":
        leaves = [a.clone().requires_grad_() for a in args]
        assert torch.autograd.gradcheck(lambda f, b, h0: scan(f, b, h0, method=method), leaves)


def test_scan_dim_broadcast_and_errors():
    f = torch.full((1, 1), 0.5)
    b = torch.ones(4, 3)  # time along dim 0
    h = scan(f, b, dim=0)
    assert h[:, 0].tolist() == pytest.approx([1, 1.5, 1.75, 1.875])
    with pytest.raises(ValueError, match="unknown scan method 'fast'"):
        scan(f, b, method="fast")
    with pytest.raises(ValueError, match=r"h0 has shape \(4,\), expected \(3,\)"):
        scan(f, b, torch.zeros(4), dim=0)


LAYERS = {"minlstm": MinLSTM, "mingru": MinGRU}


@settings(max_examples=25, deadline=None)
@given(rule=st.sampled_from(sorted(LAYERS)), B=st.integers(1, 3), T=st.integers(1, 40), D=st.integers(1, 5),
       H=st.integers(1, 6), with_h0=st.booleans(), gate_scale=st.sampled_from([0.1, 1.0, 30.0]),
       method=st.sampled_from(["parallel", "compiled", "loop", "doubling", "chunked"]),
       seed=st.integers(0, 2**16))
def test_parallel_equals_sequential_equals_step(rule, B, T, D, H, with_h0, gate_scale, method, seed):
    """Outputs, final state and all gradients agree; gate_scale=30 pushes gates to 0 and 1."""
    torch.manual_seed(seed)
    layer = LAYERS[rule](D, H).double()
    with torch.no_grad():
        layer.cell.weight_ih.mul_(gate_scale)
    x = torch.randn(B, T, D, dtype=torch.float64)
    h0 = torch.randn(B, H, dtype=torch.float64) if with_h0 else None
    w = torch.randn(B, T, H, dtype=torch.float64)

    def run(mode):
        layer.zero_grad()
        xi = x.clone().requires_grad_()
        hi = None if h0 is None else h0.clone().requires_grad_()
        if mode == "step":
            h, ys = hi, []
            for x_t in xi.unbind(1):
                y, h = layer.step(x_t, h)
                ys.append(y)
            y = torch.stack(ys, 1)
        else:
            layer.method = mode
            y, h = layer(xi, hi)
        ((y * w).sum() + h.square().sum()).backward()
        grads = [xi.grad] + ([] if hi is None else [hi.grad]) + [p.grad.clone() for p in layer.parameters()]
        return [y.detach(), h.detach()] + grads

    ref = run("sequential")
    for mode in (method, "step"):
        for a, b in zip(ref, run(mode)):
            assert_close(b, a, chain=B * T + D + 3 * H)  # the reductions: over B*T (weights), D and 3H (matmuls)


@pytest.mark.parametrize("rule", list(RULES))
def test_padded_batch_equals_each_sequence_alone(rule):
    """Variable lengths through a mask: outputs past the end are 0, the final state is the last real one."""
    torch.manual_seed(0)
    layer = Residual(rule, 4, "time", input_size=3).double()
    lengths = torch.tensor([5, 2, 7, 1])
    x = torch.randn(4, 7, 3, dtype=torch.float64)
    y, state = layer(x, lengths=lengths)
    for b, n in enumerate(lengths.tolist()):
        y_b, state_b = layer(x[b:b + 1, :n])
        assert_close(y[b:b + 1, :n], y_b, chain=7)
        assert torch.all(y[b, n:] == 0)
        for s, s_b in zip(state if isinstance(state, tuple) else (state,),
                          state_b if isinstance(state_b, tuple) else (state_b,)):
            assert_close(s[b:b + 1], s_b, chain=7)


@pytest.mark.parametrize("rule", sorted(LAYERS))
def test_compiled_pass_with_lengths_and_h0_matches_the_reference(rule):
    torch.manual_seed(3)
    layer = LAYERS[rule](3, 70).double()  # 70 lanes: one full block of 64 and a ragged one
    x = torch.randn(4, 9, 3, dtype=torch.float64)
    h0 = torch.randn(4, 70, dtype=torch.float64)
    lengths = torch.tensor([9, 0, 4, 1])
    w = torch.randn(4, 9, 70, dtype=torch.float64)
    results = {}
    for method in ("sequential", "compiled", "doubling"):
        layer.zero_grad()
        xi, hi = x.clone().requires_grad_(), h0.clone().requires_grad_()
        layer.method = method
        y, h = layer(xi, hi, lengths=lengths)
        ((y * w).sum() + (h * h).sum()).backward()
        results[method] = [y, h, xi.grad, hi.grad] + [p.grad.clone() for p in layer.parameters()]
    assert torch.all(results["compiled"][0][1] == 0) and torch.equal(results["compiled"][1][1], h0[1])
    for method in ("compiled", "doubling"):
        assert_close(results[method], results["sequential"], chain=4 * 9)


def test_minlstm_gradients_stay_finite_where_both_gates_underflow():
    """σ(a_f) / (σ(a_f) + σ(a_i)) with both a far below zero: 0/0 (NaN) if computed as written.

    An attention-minLSTM translation model reached such pre-activations after ~475 updates and
    every step from there had a NaN gradient; reference and kernel now agree there too.
    """
    from rot90.compiled import gated_scan
    from rot90.rules import get_rule

    torch.manual_seed(0)
    px = torch.randn(2, 30, 3 * 16) * 3
    px[..., :32] -= torch.tensor([0.0, 50.0, 100.0]).repeat_interleave(10)[None, :, None]  # a_f, a_i: 0, -50, -100
    h0 = torch.randn(2, 16)
    grads = {}
    for name in ("kernel", "reference"):
        p = px.clone().requires_grad_()
        if name == "kernel":
            y, _ = gated_scan("minlstm", p, h0)
        else:
            f, i, u, _ = get_rule("minlstm").gates(p, None)
            y = scan(f, i * u, h0, dim=1, method="sequential")
        (y * y).sum().backward()
        grads[name] = (y.detach(), p.grad)
    for a, b in zip(grads["kernel"], grads["reference"]):
        assert torch.isfinite(a).all() and torch.isfinite(b).all()
        assert_close(a, b, chain=2 * 30)


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-4), (torch.bfloat16, 2e-2)])
@pytest.mark.parametrize("regime", ["forget", "remember", "mixed"])
def test_scan_is_robust_on_long_sequences(dtype, tol, regime):
    """T = 65,536 with f near 0, near 1 or both, b of both signs: finite, and close to float64."""
    g = torch.Generator().manual_seed(0)
    T = 65_536
    if regime == "forget":
        f = torch.rand(2, T, 8, generator=g) * 1e-3
    elif regime == "remember":
        f = 1 - torch.rand(2, T, 8, generator=g) * 1e-4
    else:
        f = torch.where(torch.rand(2, T, 8, generator=g) < 0.5, 1e-6, 1 - 1e-6)
    b = torch.randn(2, T, 8, generator=g) * 1e-2
    f, b = f.to(dtype), b.to(dtype)
    want = scan(f.double(), b.double(), method="loop")  # the same (rounded) inputs, in float64
    for method in ("auto", "doubling", "chunked"):
        fi, bi = f.clone().requires_grad_(), b.clone().requires_grad_()
        h = scan(fi, bi, method=method)
        h.float().sum().backward()
        assert h.dtype == dtype and torch.isfinite(h).all()
        assert torch.isfinite(fi.grad).all() and torch.isfinite(bi.grad).all()
        # error relative to the scale of the state: the tests report it when it fails
        err = ((h.double() - want).abs().max() / want.abs().max()).item()
        assert err < tol, f"{method} {dtype} {regime}: relative error {err:.2e}"


def test_auto_uses_the_kernel_and_falls_back_with_a_logged_reason(monkeypatch, caplog):
    from rot90 import compiled as kernel
    from rot90.scan import choose

    b = torch.zeros(2, 100, 8)
    assert choose(b) == "compiled"
    torch.manual_seed(0)
    layer, x = MinLSTM(3, 8), torch.randn(2, 100, 3)
    fast = layer(x)[0]
    monkeypatch.setattr(kernel, "_library", lambda: "no C++ compiler (g++/c++) on PATH")
    kernel._warn_once.cache_clear()
    with caplog.at_level("WARNING", logger="rot90"):
        assert choose(b) == "loop" and choose(b[:, :10]) == "doubling"
        assert_close(layer(x)[0], fast, chain=100)
    assert "compiled scan unavailable (no C++ compiler" in caplog.text
    with pytest.raises(ValueError, match="method 'compiled' needs"):
        scan(b, b, method="compiled")


def test_compiled_pass_refuses_what_it_cannot_run(monkeypatch):
    from rot90 import compiled

    monkeypatch.setattr(compiled, "_library", lambda: "no C++ compiler (g++/c++) on PATH")
    with pytest.raises(ValueError, match=r"compiled pass computes minlstm and mingru on the CPU with a C\+\+ compiler"):
        compiled.gated_scan("minlstm", torch.zeros(1, 2, 6), torch.zeros(1, 2))
