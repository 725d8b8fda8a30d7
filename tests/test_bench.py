"""rot90 bench in miniature: every contender runs, skips are explained, outputs are written."""

import json

import pytest

from rot90.cli import main
from rot90.lab.bench import BenchConfig, contenders, plot, run, table, write_json


@pytest.fixture(scope="module")
def small():
    return run(BenchConfig(batch=2, width=16, lengths=[16, 32, 64], repeats=1, warmup=0, reuse_memory=False))


def test_every_contender_at_every_length(small):
    names = set(contenders(16))
    assert {(r["name"], r["T"]) for r in small["layers"]} == {(n, T) for n in names for T in (16, 32, 64)}
    assert all(r["median_s"] > 0 and r["bytes"] > 0 and r["gflops"] > 0 for r in small["layers"])
    assert [s["T"] for s in small["scan"]] == [16, 32, 64]
    assert small["matmul_gflops"] > 0


def test_minlstm_activation_memory_is_linear_in_T(small):
    """a + b T: each doubling of T adds twice what the previous one did (weights are the constant a)."""
    mem = {r["T"]: r["bytes"] for r in small["layers"] if r["name"] == "rot90.MinLSTM parallel"}
    assert mem[64] - mem[32] == pytest.approx(2 * (mem[32] - mem[16]), rel=0.05)


def test_table_json_and_plot(small, tmp_path):
    text = table(small)
    assert "torch.nn.LSTM" in text and "(x" in text and "scan / (f*b)" in text
    write_json(small, tmp_path / "b.json")
    assert json.loads((tmp_path / "b.json").read_text())["config"]["width"] == 16
    plot(small, tmp_path / "b.png")
    assert (tmp_path / "b.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cells_over_budget_are_skipped_with_a_reason():
    r = run(BenchConfig(batch=1, width=8, lengths=[8, 4096], repeats=1, warmup=0, budget_s=1e-9,
                        contenders=["torch.nn.LSTM", "transformer (sdpa)"], reuse_memory=False))
    assert [row["T"] for row in r["layers"]] == [8, 8]
    assert {s["name"] for s in r["skipped"]} == {"torch.nn.LSTM", "transformer (sdpa)"}
    assert all("budget" in s["why"] for s in r["skipped"])
    assert "skipped" in table(r)


@pytest.mark.parametrize("args,message", [(["--batch", "0"], "--batch must be >= 1"),
                                          (["--only", "cudnn"], "unknown contender 'cudnn'")])
def test_bad_arguments(capsys, args, message):
    assert main(["bench", "--lengths", "8", "--repeats", "1", *args]) == 2
    assert message in capsys.readouterr().err
