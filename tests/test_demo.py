"""The demo: its conclusions, not its digits, hold on seeds other than the README's; every section reports."""

import json

import pytest

from rot90.lab.demo import SECTIONS, DemoConfig, run_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo at full size on seeds 7-8 (the README's sample is seeds 0-2): about 100 s on 2 cores."""
    out = tmp_path_factory.mktemp("demo")
    return out, run_demo(DemoConfig(out=out, seed=7, seeds=2), progress=lambda m: None)


def test_every_conclusion_holds_on_other_seeds(demo):
    out, results = demo
    conclusions = results["conclusions"]
    assert len(conclusions) == 10
    assert {c: v for c, v in conclusions.items() if v != "held"} == {}
    report = (out / "report.md").read_text()
    assert report.count("| held (") == 10 and "## Conclusions" in report


def test_every_section_reports(demo):
    out, results = demo
    assert set(results) == {*SECTIONS, "conclusions"}
    report = (out / "report.md").read_text()
    for heading in ("## 1. Same function", "## 2. Same gradients", "## 3. Same memory", "## 4. The bottleneck",
                    "## 5. Translation"):
        assert heading in report
    for figure in ("gradients.png", "memory.png", "bottleneck.png"):
        assert (out / "figures" / figure).read_bytes()[:4] == b"\x89PNG"
        assert f"figures/{figure}" in report
    saved = json.loads((out / "results.json").read_text())
    assert len(saved["translation"]["2014 LSTM, source reversed"]) == 2  # a test BLEU per seed
    assert (out / "runs" / "ResNet" / "seed-8" / "export").is_dir()  # every seed is a trainer run
    rows = results["same function"]
    assert rows and all(d <= 1e-4 for d in rows.values()), rows  # the bounds of rot90 check are all below 1e-4


def test_quick_mode_runs_in_seconds(tmp_path):
    results = run_demo(DemoConfig(out=tmp_path, quick=True, seeds=1, sections=SECTIONS[:3]), progress=lambda m: None)
    assert set(results) == {*SECTIONS[:3], "conclusions"}
    assert set(results["conclusions"].values()) <= {"held", "not held", "mixed"}
