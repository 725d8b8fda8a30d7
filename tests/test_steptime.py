"""rot90 profile in miniature: the trainer's own step timed, its matmuls counted (the LSTM's too), its time split."""

import json

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from rot90.cli import main
from rot90.config import load
from rot90.lab.steptime import StepConfig, counted_flops, group, run, table
from rot90.tasks import make_task

TINY = ["data.task=numbers", "data.vocab_size=200", "data.batch_tokens=512", "data.max_len=20", "model.hidden=32",
        "model.layers=2", "model.attention=general", "model.bidirectional=true"]


@pytest.fixture(scope="module")
def small():
    return run(load(None, TINY), StepConfig(steps=2, warmup=1, top=5))


def test_the_step_is_timed_counted_and_split(small):
    assert len(small["steps_s"]) == 2 and all(s > 0 for s in small["steps_s"]) and small["tokens_per_s"] > 0
    assert small["achieved_gflops"] == pytest.approx(small["flops_per_step"] * 2 / sum(small["steps_s"]) / 1e9)
    assert small["utilisation"] == pytest.approx(small["achieved_gflops"] / small["matmul_peak_gflops"])
    assert small["flops_per_token"] == pytest.approx(small["flops_per_step"] * 2 / sum(small["tokens"]))
    assert sum(small["groups"].values()) == pytest.approx(small["profiled_s"])
    assert len(small["ops"]) == 5 and small["precision"] == "float32"
    text = table(small)
    assert "utilisation" in text and "where the time goes" in text and "recurrent kernel" in text


def test_the_count_sees_inside_the_fused_lstm():
    """torch's FLOP counter does not see oneDNN's fused LSTM kernel; counted with it off, every product is there:
    at least the recurrent layers' 2 x 3 x (4 d x (in + d)) a token above what the counter sees with it on."""
    cfg = load(None, TINY)
    task = make_task(cfg)
    torch.manual_seed(0)
    model = task.build_model()
    batch = task.make_batch(task.plan(0)[0])
    with FlopCounterMode(display=False) as seen:
        task.loss(model, batch)[0].backward()
    full = counted_flops(model, task, batch)
    d, tokens = 32, int((batch["tgt_out"] != 0).sum())
    assert full - seen.get_total_flops() >= 2 * 3 * tokens * 4 * d * (d + d)  # a decoder layer's, at least
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("op,label", [
    ("aten::mm", "matmul"), ("aten::addmm", "matmul"), ("aten::mkldnn_rnn_layer_backward", "recurrent kernel"),
    ("aten::_log_softmax", "softmax and loss"), ("aten::_fused_adamw_", "optimiser and clipping"),
    ("aten::native_layer_norm", "layer norm"), ("aten::copy_", "other (elementwise, copies)")])
def test_operator_groups(op, label):
    assert group(op) == label


def test_the_command(tmp_path, capsys):
    out = tmp_path / "p.json"
    assert main(["profile", *sum((["--set", s] for s in TINY), []), "--steps", "1", "--warmup", "0",
                 "--json", str(out)]) == 0
    assert "target tokens/s" in capsys.readouterr().out and json.loads(out.read_text())["flops_per_step"] > 0
    assert main(["profile", "--set", "data.task=numbers", "--steps", "0"]) == 2
    assert "need steps >= 1" in capsys.readouterr().err
