"""The demo in quick mode: every section produces its numbers and its figure."""

import json

import pytest

from rot90.demo import DemoConfig, run_demo, stream_gradients
from rot90.residual import Residual


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return out, run_demo(DemoConfig(out=out, quick=True), progress=lambda m: None)


def test_every_section_reports(demo):
    out, results = demo
    assert set(results) == {"same function", "same gradients", "same memory", "bottleneck", "translation"}
    report = (out / "report.md").read_text()
    for heading in ("## 1. Same function", "## 2. Same gradients", "## 3. Same memory", "## 4. The bottleneck",
                    "## 5. Translation"):
        assert heading in report
    for figure in ("gradients.png", "memory.png", "bottleneck.png"):
        assert (out / "figures" / figure).read_bytes()[:4] == b"\x89PNG"
        assert f"figures/{figure}" in report
    assert json.loads((out / "results.json").read_text())["translation"]
    assert all(d < 1e-5 for d in results["same function"].values())


def test_resnet_keeps_the_gradient_a_plain_net_loses():
    """The claim of section 2 as an assertion: 30 layers back, plain vanishes, ResNet does not."""
    import torch

    torch.manual_seed(0)
    x, readout = torch.randn(8, 16), torch.randn(16)
    plain = stream_gradients(Residual("plain", 16, "depth", layers=30), x, readout)
    resnet = stream_gradients(Residual("resnet", 16, "depth", layers=30), x, readout)
    assert resnet[29] > 100 * plain[29]
    lstm_time = stream_gradients(Residual("minlstm", 16, "time", input_size=2), torch.randn(8, 30, 2), readout)
    assert len(lstm_time) == 30 and lstm_time[0] > 0
