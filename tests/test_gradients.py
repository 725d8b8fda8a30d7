"""Gradients along the stream: the written-out probe loop agrees with the fast path, and the claim of
the demo's section 2 holds as an assertion."""

import math

import pytest
import torch
from torch.nn import functional as F

from rot90.init import chrono_init
from rot90.lab.gradients import classifier_gradients, stream_log_gradients
from rot90.models import DepthModel, SequenceModel
from rot90.residual import Residual
from rot90.testing import assert_close


def stream_gradients(module, x, loss_fn) -> list[float]:
    """|d loss / d s_k| / B by distance, as values (0.0 only below 1e-308)."""
    return [10.0 ** v for v in stream_log_gradients(module, x, loss_fn)]


def test_resnet_keeps_the_gradient_a_plain_net_loses():
    torch.manual_seed(0)
    x, readout = torch.randn(8, 16), torch.randn(16)
    plain = stream_gradients(Residual("plain", 16, "depth", layers=30), x, lambda y: (y * readout).sum())
    resnet = stream_gradients(Residual("resnet", 16, "depth", layers=30), x, lambda y: (y * readout).sum())
    assert len(plain) == len(resnet) == 30
    assert resnet[29] > 100 * plain[29]


def _probe_reference(module, x, readout):
    """The plain way, in float64: a zero e_k added to the stream after each update, one autograd call."""
    module, x, readout = module.double(), x.double(), readout.double()
    rule, K = module.rule, (x.shape[1] if module.axis == "time" else module.layers)
    cells = list(module.cells) * K if module.axis == "time" else list(module.cells)
    s = x.new_zeros(x.shape[0], module.hidden_size) if module.axis == "time" else x
    y, probes = s, []
    for k, cell in enumerate(cells):
        w = cell.weights
        inp = x[:, k] if module.axis == "time" else (None if rule.reads_state else y)
        px = None if inp is None or w.weight_ih is None else F.linear(inp, w.weight_ih, w.bias_ih)
        py = None if w.weight_hh is None else F.linear(y, w.weight_hh, w.bias_hh)
        f, i, u, o = rule.gates(px, py)
        probes.append(torch.zeros_like(s, requires_grad=True))
        s = f * s + i * u + probes[-1]
        y = rule.out(s, o)
    return [math.log10(g.norm().item() / x.shape[0]) for g in torch.autograd.grad((y * readout).sum(), probes)][::-1]


@pytest.mark.parametrize("axis", ["time", "depth"])
@pytest.mark.parametrize("rule", ["plain", "resnet", "highway", "lstm", "gru", "minlstm", "mingru"])
def test_log_gradients_equal_the_float64_probe(rule, axis):
    """The rescaled step-by-step backward gives the probe's gradient norms (float32 against float64)."""
    torch.manual_seed(2)
    layer = Residual(rule, 8, axis, input_size=3 if axis == "time" else None, layers=25)
    x, readout = (torch.randn(4, 25, 3) if axis == "time" else torch.randn(4, 8)), torch.randn(8)
    got = stream_log_gradients(layer, x, lambda y: (y * readout).sum())
    want = _probe_reference(layer, x, readout)
    assert len(got) == len(want) == 25
    # log10 of a norm carried through 25 float32 Jacobians: relative error ~25 * 8 eps, i.e. 1e-5 in log10
    assert max(abs(a - b) for a, b in zip(got, want)) < 1e-4


def test_log_gradients_do_not_underflow_where_float32_does():
    torch.manual_seed(0)
    plain = Residual("plain", 16, "depth", layers=400)
    x, readout = torch.randn(8, 16), torch.randn(16)
    logs = stream_log_gradients(plain, x, lambda y: (y * readout).sum())
    assert all(math.isfinite(v) for v in logs)
    assert logs[399] < -45  # below float32's smallest subnormal (1.4e-45): the probe in float32 reads 0 here
    assert logs[399] < logs[200] < logs[1]


def _last_output_gradient(model, x, labels):
    """d loss / d y_K through the model's own (fast) forward: the probe at distance 0 must equal it."""
    if isinstance(model, DepthModel):
        y, _ = model.stack(model.inp(x))
    else:
        y, _ = model.layers[0](model.embed(x))
    last = y[:, -1]
    (g,) = torch.autograd.grad(F.cross_entropy(model.head(last), labels, reduction="sum"), last)
    return g.norm().item() / len(labels)


@pytest.mark.parametrize("model", [DepthModel("resnet", 16, 12, out=10, inputs=5),
                                   DepthModel("highway", 16, 12, out=10, inputs=5),
                                   SequenceModel("minlstm", 16, 1, out=10, input_dim=5),
                                   SequenceModel("lstm", 16, 1, out=10, input_dim=5)], ids=lambda m: m.args["rule"])
def test_classifier_probe_agrees_with_the_fast_path(model):
    torch.manual_seed(1)
    x = torch.randn(6, 5) if isinstance(model, DepthModel) else torch.randn(6, 20, 5)
    labels = torch.randint(0, 10, (6,))
    g = classifier_gradients(model, x, labels)
    assert len(g) == (12 if isinstance(model, DepthModel) else 20)
    if model.args["rule"] in ("resnet", "highway", "minlstm"):  # y = s: the probe at distance 0 is d loss / d y_K
        assert 10 ** g[0] == pytest.approx(_last_output_gradient(model, x, labels), rel=1e-5)
    assert all(math.isfinite(v) for v in g)
    stack, start = (model.stack, model.inp(x)) if isinstance(model, DepthModel) else (model.layers[0], model.embed(x))
    seen = []
    stream_gradients(stack, start, lambda y: seen.append(y) or y.sum())
    assert_close(seen[0], stack(start)[0][:, -1], chain=20)  # the loop = the fast path


def test_classifier_probe_needs_one_layer():
    with pytest.raises(ValueError, match="one-layer"):
        classifier_gradients(SequenceModel("lstm", 8, 2, out=10, input_dim=1), torch.randn(2, 3, 1),
                             torch.tensor([0, 1]))


def test_chrono_init_keeps_the_gradient_an_lstm_loses_over_time():
    torch.manual_seed(0)
    x, readout = torch.randn(8, 100, 2), torch.randn(16)
    default = Residual("lstm", 16, "time", input_size=2)
    chrono = chrono_init(Residual("lstm", 16, "time", input_size=2), 100)
    far = [stream_gradients(m, x, lambda y: (y * readout).sum())[99] for m in (default, chrono)]
    assert far[1] > 1e3 * far[0]
    with pytest.raises(ValueError, match="no carry gate"):
        chrono_init(Residual("resnet", 16, "time", input_size=2), 100)


def test_model_chrono_from_the_config():
    from rot90.config import ConfigError, load
    from rot90.tasks import make_task

    cfg = load(None, ["data.task=copy", "model.rule=lstm", "model.layers=2", "model.chrono=50"])
    model = make_task(cfg).build_model()
    for layer in model.layers:
        f = layer.cells[0].bias_ih.chunk(4)[1]
        assert 0 <= f.min() and f.max() <= torch.log(torch.tensor(49.0)) + 1e-6
    with pytest.raises(ConfigError, match="model.chrono"):
        make_task(load(None, ["data.task=copy", "model.rule=plain", "model.chrono=50"])).build_model()


@pytest.mark.parametrize("axis", ["time", "depth"])
@pytest.mark.parametrize("rule", ["highway", "lstm", "gru", "minlstm", "mingru"])
def test_carry_init_starts_every_gated_rule_at_f0(rule, axis):
    """At zero input (and zero stream) the rule's own gates give f = f0 and i = 1 - f0, per unit."""
    from rot90.init import carry_init
    from rot90.residual import project

    torch.manual_seed(0)
    H = 6
    layer = Residual(rule, H, axis, input_size=3 if axis == "time" else None, layers=2)
    f0 = torch.linspace(0.3, 0.97, H)
    carry_init(layer, f0)
    for cell in layer.cells:
        w = cell.weights
        zero = torch.zeros(1, H)
        px = project(w, torch.zeros(1, w.weight_ih.shape[1])) if w.weight_ih is not None else None
        py = None if w.weight_hh is None else torch.nn.functional.linear(zero, w.weight_hh, w.bias_hh)
        f, i, _, _ = cell.rule.gates(px, py)
        torch.testing.assert_close(torch.as_tensor(f).expand(1, H)[0], f0, rtol=1e-5, atol=0)
        torch.testing.assert_close(torch.as_tensor(i).expand(1, H)[0], 1 - f0, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="strictly between"):
        carry_init(layer, 1.0)


@pytest.mark.parametrize("kind", ["orthogonal", "identity"])
def test_stream_init_keeps_the_norm_of_every_gate_block(kind):
    from rot90.init import stream_init

    layer = stream_init(Residual("lstm", 8, "time", input_size=2), kind)
    for block in layer.cells[0].weight_hh.view(4, 8, 8):
        torch.testing.assert_close(block @ block.T, torch.eye(8), rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="no stream matrix"):
        stream_init(Residual("minlstm", 8, "time", input_size=2), kind)


def test_depth_model_of_no_blocks_is_linear_and_carry_reaches_depth_stacks():
    from rot90.config import ConfigError, load
    from rot90.tasks import make_task

    base = ["data.task=digits", "model.axis=depth", "model.hidden=16"]
    linear = make_task(load(None, [*base, "model.layers=0"])).build_model()
    x = torch.randn(4, 64)
    torch.testing.assert_close(linear(2 * x) - linear(x), linear(x) - linear(0 * x), rtol=1e-4, atol=1e-5)
    stack = make_task(load(None, [*base, "model.layers=3", "model.rule=highway", "model.carry=0.98"])).build_model()
    t = stack.stack.cells[0].bias_hh.chunk(2)[0]  # the transform gate's bias: f = 1 - σ(t) = 0.98
    torch.testing.assert_close(1 - torch.sigmoid(t), torch.full_like(t, 0.98))
    for bad, key in ((["model.layers=0", "model.axis=time"], "model.layers=0"),
                     (["model.layers=2", "model.rule=plain", "model.carry=0.5"], "model.carry"),
                     (["model.layers=2", "model.rule=minlstm", "model.init=orthogonal"], "model.init"),
                     (["model.layers=2", "model.rule=lstm", "model.carry=0.5", "model.chrono=9"], "choose one")):
        with pytest.raises(ConfigError, match=key):
            load(None, [*base, *bad])


def test_decay_is_the_slope_of_the_log_norms():
    from rot90.lab.gradients import decay

    logs = [-0.5 + math.log10(0.8) * k for k in range(50)]  # a gradient that keeps 0.8 of itself per step
    assert 10 ** decay(logs) == pytest.approx(0.8, rel=1e-9)
    logs[0] = 5.0  # the output end is left out of the fit (k = 0 is the loss's own gradient)
    logs[30] = -math.inf  # an exact zero has no log: left out
    assert 10 ** decay(logs) == pytest.approx(0.8, rel=1e-9)
    assert math.isnan(decay([1.0, 2.0]))  # one point past the output: no slope


def test_sci_writes_log_norms_that_no_float_can_hold():
    from rot90.report import sci

    assert sci(-700.3) == "5.0e-701" and sci(0.0) == "1.0e+00" and sci(-math.inf) == "0"
