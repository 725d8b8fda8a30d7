"""Each rule along each axis against an independent scalar transcription of the table of docs/architecture.md."""

import math

import pytest
import torch

from rot90 import RULES, Residual, Rule, rotate
from rot90.rules import get_rule, squashed
from rot90.testing import assert_close

sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731


def scalar_step(rule, px, py, y, s):
    """One update with H = 1, written from the table: px[j], py[j] are chunk j's pre-activations."""
    a = [p + q for p, q in zip(px, py)]
    if rule == "plain":
        s = math.tanh(a[0])
    elif rule == "resnet":
        s = s + math.tanh(a[0])
    elif rule == "highway":
        t = sig(a[0])
        s = (1 - t) * s + t * math.tanh(a[1])
    elif rule == "lstm":
        i, f, g, o = sig(a[0]), sig(a[1]), math.tanh(a[2]), sig(a[3])
        s = f * s + i * g
        return o * math.tanh(s), s
    elif rule == "gru":
        r, z = sig(a[0]), sig(a[1])
        s = z * s + (1 - z) * math.tanh(px[2] + r * py[2])
    elif rule == "minlstm":
        f, i = sig(px[0]), sig(px[1])
        s = f / (f + i) * s + i / (f + i) * px[2]
    elif rule == "mingru":
        z = sig(px[0])
        s = (1 - z) * s + z * px[1]
    return s, s


W = [0.3, -0.7, 1.1, 0.4]  # chunk j of W (H = 1, I = 1)
U = [0.5, 0.2, -0.6, 0.9]
B_IH = [0.1, -0.2, 0.05, 0.3]
B_HH = [-0.1, 0.15, 0.2, -0.05]


def set_cell(cell, scale=1.0):
    n = cell.rule.chunks
    with torch.no_grad():
        for name, vals in [("weight_ih", W), ("weight_hh", U), ("bias_ih", B_IH), ("bias_hh", B_HH)]:
            p = getattr(cell, name)
            if p is not None:
                p.copy_(torch.tensor([v * scale for v in vals[:n]], dtype=p.dtype).view(p.shape))


@pytest.mark.parametrize("rule", list(RULES))
def test_time_known_values(rule):
    layer = Residual(rule, 1, "time", input_size=1).double()
    set_cell(layer.cells[0])
    xs = [0.5, -1.0, 2.0, 0.25]
    y_out, state = layer(torch.tensor(xs, dtype=torch.float64).view(1, 4, 1))
    n, reads = get_rule(rule).chunks, get_rule(rule).reads_state
    y = s = 0.0
    expected = []
    for x in xs:
        px = [W[j] * x + B_IH[j] for j in range(n)]
        py = [U[j] * y + B_HH[j] for j in range(n)] if reads else [0.0] * n
        y, s = scalar_step(rule, px, py, y, s)
        expected.append(y)
    assert y_out.flatten().tolist() == pytest.approx(expected, abs=1e-12)
    final = state[1] if isinstance(state, tuple) else state
    assert final.item() == pytest.approx(s, abs=1e-12)


@pytest.mark.parametrize("rule", list(RULES))
def test_depth_known_values(rule):
    """Depth: the stream is the input; layer k has its own weights (scaled by 1 + k/2 here)."""
    layers = 3
    stack = Residual(rule, 1, "depth", layers=layers).double()
    for k, cell in enumerate(stack.cells):
        set_cell(cell, 1 + k / 2)
    x0 = 0.8
    y_out, _ = stack(torch.tensor([[x0]], dtype=torch.float64))
    n, reads = get_rule(rule).chunks, get_rule(rule).reads_state
    y = s = x0
    expected = []
    for k in range(layers):
        c = 1 + k / 2
        if reads:  # a state-reading block reads the stream through U only
            px, py = [0.0] * n, [c * (U[j] * y + B_HH[j]) for j in range(n)]
        else:  # a gate-decoupled block reads the stream as its input x
            px, py = [c * (W[j] * y + B_IH[j]) for j in range(n)], [0.0] * n
        y, s = scalar_step(rule, px, py, y, s)
        expected.append(y)
    assert y_out.flatten().tolist() == pytest.approx(expected, abs=1e-12)


def test_literal_values():
    """A few values by hand, with every weight zero."""
    torch.manual_seed(0)
    x = torch.full((1, 4), 0.7)
    for rule, want in [("resnet", 0.7), ("plain", 0.0), ("highway", 0.7)]:
        stack = Residual(rule, 4, "depth", layers=5)
        for p in stack.parameters():
            torch.nn.init.zeros_(p)
        y, _ = stack(x)
        # resnet adds tanh(0) = 0; plain forgets; highway with T = 1/2 mixes 0.7 with tanh(0) = 0
        want_last = want * (0.5**5 if rule == "highway" else 1.0)
        assert y[0, -1].tolist() == pytest.approx([want_last] * 4)
    lstm = Residual("lstm", 2, "time", input_size=3)
    for p in lstm.parameters():
        torch.nn.init.zeros_(p)
    c0 = torch.ones(1, 2)
    _, (h, c) = lstm(torch.randn(1, 3, 3), (torch.zeros(1, 2), c0))
    assert c.flatten().tolist() == pytest.approx([0.125, 0.125])  # f = 1/2 three times, g = tanh(0) = 0
    assert h.flatten().tolist() == pytest.approx([0.5 * math.tanh(0.125)] * 2)


@pytest.mark.parametrize("rule", list(RULES))
@pytest.mark.parametrize("axis", ["time", "depth"])
def test_backward_reaches_every_parameter(rule, axis):
    m = Residual(rule, 6, axis, input_size=4 if axis == "time" else None, layers=3)
    x = torch.randn(2, 5, 4) if axis == "time" else torch.randn(2, 6)
    x.requires_grad_()
    y, _ = m(x)
    y.square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for name, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown rule 'lsmt'"):
        Residual("lsmt", 4)
    with pytest.raises(ValueError, match="unknown axis 'width'"):
        Residual("lstm", 4, axis="width")
    with pytest.raises(ValueError, match=r"expected input \(B, T, input_size\) with last dim 3"):
        Residual("gru", 4, input_size=3)(torch.randn(2, 5, 4))
    with pytest.raises(ValueError, match="state \\(y, s\\)"):
        Residual("lstm", 4, input_size=3)(torch.randn(2, 5, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="layers must be >= 1"):
        Residual("resnet", 4, axis="depth", layers=0)


def _minlstm_with_output_gate(px, py):
    """A test-only gate-decoupled rule whose output is gated (xLSTM-like): y = o * tanh(s), o from x."""
    f, i, u, o = px.chunk(4, -1)
    d = torch.nn.functional.logsigmoid(f) - torch.nn.functional.logsigmoid(i)
    return torch.sigmoid(d), torch.sigmoid(-d), u, torch.sigmoid(o)


GATED_OUT = Rule("minlstm-out", 4, False, _minlstm_with_output_gate, squashed)


@pytest.mark.parametrize("method", ["parallel", "loop", "doubling", "chunked"])  # parallel: rules + rot90::scan
@pytest.mark.parametrize("with_lengths", [False, True])
def test_a_rule_with_an_output_gate_is_right_on_every_path(method, with_lengths):
    """out(s, o) is applied on the scan paths too, and the state is the rule's (y, s): equal to the loop."""
    torch.manual_seed(0)
    layer = Residual(GATED_OUT, 6, "time", input_size=3).double()
    x = torch.randn(4, 9, 3, dtype=torch.float64)
    state = (torch.randn(4, 6, dtype=torch.float64), torch.randn(4, 6, dtype=torch.float64))
    lengths = torch.tensor([9, 0, 4, 1]) if with_lengths else None
    results = []
    for m in ("sequential", method):
        layer.method = m
        layer.zero_grad()
        xi = x.clone().requires_grad_()
        y, (y_n, s_n) = layer(xi, state, lengths=lengths)
        (y.sin().sum() + y_n.square().sum() + s_n.sum()).backward()
        results.append([y, y_n, s_n, xi.grad] + [p.grad.clone() for p in layer.parameters()])
    assert not torch.equal(results[0][0], results[0][2][:, None].expand_as(results[0][0]))  # y is not the stream
    assert_close(results[1], results[0], chain=4 * 9)


def test_the_compiled_pass_refuses_a_rule_it_does_not_compute():
    layer = Residual(GATED_OUT, 6, "time", input_size=3, method="compiled")
    with pytest.raises(ValueError, match="compiled pass computes minlstm and mingru"):
        layer(torch.randn(2, 5, 3))


@pytest.mark.parametrize("rule", [*RULES.values(), GATED_OUT])
def test_every_rule_rotates_and_runs_every_path(rule):
    """What the table's tests assume of a rule, for every entry of RULES (a new one is picked up as it is)."""
    torch.manual_seed(0)
    layer = Residual(rule, 5, "time", input_size=3).double()
    x = torch.randn(2, 7, 3, dtype=torch.float64)
    want = layer(x)
    got = rotate(layer, steps=7)(x)
    flat = lambda out: [out[0], *(out[1] if isinstance(out[1], tuple) else (out[1],))]  # noqa: E731
    assert_close(flat(got), flat(want), chain=7)
    layer.method = "sequential"
    assert_close(flat(layer(x)), flat(want), chain=7)


@pytest.mark.parametrize("lengths", [None, [9, 2, 5, 1], [7, 2, 7, 1]])  # (ties, and all shorter than T)
@pytest.mark.parametrize("rule", ["plain", "lstm", "gru"])
def test_torchs_fused_kernel_equals_the_integrator(rule, lengths):
    """Where torch's RNN kernel computes a rule's function, "parallel" runs on it; the integrator is the reference:
    outputs, final states and every gradient, with initial states and variable lengths (a zero length falls back).
    Lengths run the kernel once per stretch of time with the same sequences running (_by_length)."""
    from unittest import mock

    torch.manual_seed(0)
    layer = Residual(rule, 6, "time", input_size=3).double()
    x = torch.randn(4, 9, 3, dtype=torch.float64)
    h = torch.randn(4, 6, dtype=torch.float64)
    state = (h, torch.randn(4, 6, dtype=torch.float64)) if rule == "lstm" else h
    lengths = None if lengths is None else torch.tensor(lengths)
    results = []
    for method in ("sequential", "parallel"):
        layer.method = method
        layer.zero_grad()
        xi = x.clone().requires_grad_()
        si = tuple(t.clone().requires_grad_() for t in state) if rule == "lstm" else state.clone().requires_grad_()
        y, last = layer(xi, si, lengths=lengths)
        last = list(last) if isinstance(last, tuple) else [last]
        (y.sin().sum() + sum(t.square().sum() for t in last)).backward()
        s_grads = [t.grad for t in (si if rule == "lstm" else (si,))]  # into the initial state, too
        results.append([y, *last, xi.grad, *s_grads] + [p.grad.clone() for p in layer.parameters()])
    assert_close(results[1], results[0], chain=9 + 4 * 9)
    kernel = {"plain": "rnn_tanh", "lstm": "lstm", "gru": "gru"}[rule]
    with mock.patch.object(torch._VF, kernel, side_effect=AssertionError("fused kernel called")):
        with pytest.raises(AssertionError, match="fused kernel called"):
            layer(x, state, lengths=lengths)  # "parallel" is torch's kernel
        layer(x, state, lengths=torch.tensor([9, 0, 5, 1]))  # an empty sequence: the integrator
        layer.method = "sequential"
        layer(x, state, lengths=lengths)  # the reference never calls it


@pytest.mark.parametrize("axis", ["depth", "time"])
def test_a_resnet_that_writes_less_keeps_the_identity_carry(axis):
    """resnet@C (model.write): f = 1 as the resnet rule's, every write C * u, on either axis; a config asks for it
    through model.write and nothing else takes it."""
    from rot90.config import ConfigError, load
    from rot90.models.build import depth_model

    torch.manual_seed(0)
    H, C = 5, 0.02
    full = Residual("resnet", H, axis, input_size=H, layers=3)
    less = Residual(f"resnet@{C}", H, axis, input_size=H, layers=3)
    less.load_state_dict(full.state_dict())
    x = torch.randn(2, 3, H, dtype=torch.float64)
    full.double(), less.double()
    with torch.no_grad():
        s0 = torch.randn(2, H, dtype=torch.float64)
        state = s0 if axis == "depth" else None  # along time the state starts at zero
        first_full, first_less = (m(x, state)[0][:, 0] for m in (full, less))  # the stream after one write
    start = s0 if axis == "depth" else torch.zeros_like(s0)
    assert_close(first_less - start, C * (first_full - start), chain=8)  # (a difference of two streams)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        get_rule("resnet@1.5")
    m = load(None, ["data.task=digits", "model.axis=depth", "model.layers=2", "model.rule=resnet",
                    "model.write=0.1"]).model
    assert depth_model(m, inputs=4, out=3).stack.rule.name == "resnet@0.1"
    with pytest.raises(ConfigError, match="write scale"):
        load(None, ["data.task=digits", "model.axis=depth", "model.layers=2", "model.rule=highway",
                    "model.write=0.1"])


@pytest.mark.parametrize("with_lengths", [False, True])
def test_an_lstm_whose_gates_read_only_the_input(with_lengths):
    """model.gates = input: i, f, o from W x alone, the candidate from W x + U y (U has H rows, not 4H), against a
    loop written from the equations, on outputs, final states and gradients; sequential and parallel paths agree."""
    from rot90.config import ConfigError, load
    from rot90.models.build import seq2seq_model

    torch.manual_seed(0)
    B, T, D, H = 3, 6, 4, 5
    layer = Residual("lstm-input-gates", H, "time", input_size=D).double()
    cell = layer.cells[0]
    assert cell.weight_hh.shape == (H, H) and cell.weight_ih.shape == (4 * H, D)
    x = torch.randn(B, T, D, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([6, 3, 1]) if with_lengths else None

    def reference():
        h, c = x.new_zeros(B, H), x.new_zeros(B, H)
        ys = []
        for t in range(T):
            i, f, g, o = (x[:, t] @ cell.weight_ih.T + cell.bias_ih).chunk(4, -1)
            g = g + h @ cell.weight_hh.T + cell.bias_hh  # only the candidate reads the state
            c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h_new = torch.sigmoid(o) * torch.tanh(c_new)
            inside = (torch.ones(B, 1, dtype=torch.bool) if lengths is None else (t < lengths)[:, None])
            h, c = torch.where(inside, h_new, h), torch.where(inside, c_new, c)
            ys.append(h_new * inside)
        return torch.stack(ys, 1), (h, c)

    want_y, (want_h, want_c) = reference()
    want = torch.autograd.grad(want_y.sum() + want_c.sum(), [x, *cell.parameters()])
    for method in ("parallel", "sequential"):
        layer.method = method
        y, (h, c) = layer(x, lengths=lengths)
        assert_close(y, want_y, chain=T), assert_close(h, want_h, chain=T), assert_close(c, want_c, chain=T)
        for got, ref in zip(torch.autograd.grad(y.sum() + c.sum(), [x, *cell.parameters()]), want):
            assert_close(got, ref, chain=2 * T)
    with pytest.raises(ValueError, match="gates read only the input"):
        Residual("lstm-input-gates", H, "depth", layers=2)  # a depth block with no input has nothing to gate on
    model = seq2seq_model(load(None, ["data.task=numbers", "model.gates=input", "model.hidden=8"]).model, 20, 10)
    assert {m.rule.name for m in model.modules() if isinstance(m, Residual)} == {"lstm-input-gates"}
    for bad, message in ((["model.rule=minlstm"], "read only the input already"),
                         (["data.task=copy", "model.carry=0.9"], "initial carry"),
                         (["data.task=digits", "model.axis=depth", "model.layers=2"], "model.inject")):
        with pytest.raises(ConfigError, match=message):
            load(None, ["data.task=numbers", "model.gates=input", *bad])
