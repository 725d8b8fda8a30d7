"""Gradients along the stream: the written-out probe loop agrees with the fast path, and the claim of
the demo's section 2 holds as an assertion."""

import pytest
import torch
from torch.nn import functional as F

from rot90.check import assert_close
from rot90.gradients import classifier_gradients, stream_gradients
from rot90.models import DepthModel, SequenceModel
from rot90.residual import Residual, chrono_init


def test_resnet_keeps_the_gradient_a_plain_net_loses():
    torch.manual_seed(0)
    x, readout = torch.randn(8, 16), torch.randn(16)
    plain = stream_gradients(Residual("plain", 16, "depth", layers=30), x, lambda y: (y * readout).sum())
    resnet = stream_gradients(Residual("resnet", 16, "depth", layers=30), x, lambda y: (y * readout).sum())
    assert len(plain) == len(resnet) == 30
    assert resnet[29] > 100 * plain[29]


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
        assert g[0] == pytest.approx(_last_output_gradient(model, x, labels), rel=1e-5)
    assert all(v > 0 for v in g)
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
    with pytest.raises(ValueError, match="LSTM initialisation"):
        chrono_init(Residual("minlstm", 16, "time", input_size=2), 100)


def test_model_chrono_from_the_config():
    from rot90.tasks import make_task
    from rot90.train.config import ConfigError, load

    cfg = load(None, ["data.task=copy", "model.rule=lstm", "model.layers=2", "model.chrono=50"])
    model = make_task(cfg).build_model()
    for layer in model.layers:
        f = layer.cells[0].bias_ih.chunk(4)[1]
        assert 0 <= f.min() and f.max() <= torch.log(torch.tensor(49.0)) + 1e-6
    with pytest.raises(ConfigError, match="model.chrono"):
        make_task(load(None, ["data.task=copy", "model.rule=gru", "model.chrono=50"])).build_model()
