"""The demo in quick mode: every section produces its numbers and its figure."""

import json

import pytest

from rot90.demo import DemoConfig, run_demo


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
    rows = results["same function"]
    assert rows and all(d <= 1e-4 for d in rows.values()), rows  # the bounds of rot90 check are all below 1e-4
