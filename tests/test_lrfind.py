"""rot90 lr-find: the range test's schedule, its reading of the curve, and the command."""

import json
import math

import pytest

from rot90.cli import main
from rot90.config import ConfigError, load
from rot90.train.lrfind import suggest
from rot90.train.trainer import _lr_lambda


def test_the_range_schedule_rises_geometrically_from_range_from_to_lr():
    cfg = load(None, ["optim.schedule=range", "optim.range_from=1e-5", "optim.lr=0.1", "train.steps=101"])
    f = _lr_lambda(cfg)
    assert f(0) == pytest.approx(1e-4) and f(50) == pytest.approx(1e-2) and f(100) == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="optim.range_from"):
        load(None, ["optim.range_from=1e-5"])  # meaningless without the range schedule


def test_suggest_finds_the_steepest_descent_the_minimum_and_the_divergence():
    rates = [1e-6 * 10 ** (7 * k / 399) for k in range(400)]  # 1e-6 .. 10
    # Falls fastest at 1e-3, bottoms out, and blows up past 1 (with noise a smoother must see through).
    losses = [3 - math.tanh(2 * (math.log10(r) + 3)) + (r if r > 0.1 else 0) ** 2 * 50 + 0.02 * math.sin(37 * k)
              for k, r in enumerate(rates)]
    found = suggest(rates, losses)
    assert 10 ** -3.2 < found["steepest"] < 10 ** -2.8
    assert 1e-2 < found["minimum"] < 0.2 and found["diverged_at"] is not None and 0.2 < found["diverged_at"] < 2
    with pytest.raises(ValueError, match="at least 10"):
        suggest(rates[:5], losses[:5])
    with pytest.raises(ValueError, match="start lower"):
        suggest(rates, [1.0] * 3 + [float("nan")] * 397)


def test_the_command_writes_the_curve_and_its_reading(tmp_path, capsys):
    tiny = ["data.task=copy", "data.length=8", "data.k=3", "model.hidden=16", "data.batch_size=16"]
    argv = ["lr-find", "--out", str(tmp_path), "--steps", "60", "--from", "1e-4", "--to", "3"]
    assert main([*argv, *[x for s in tiny for x in ("--set", s)]]) == 0
    assert "steepest descent at lr" in capsys.readouterr().out
    got = json.loads((tmp_path / "lr_find.json").read_text())
    assert 1e-4 <= got["steepest"] <= 3 and len(got["curve"]["lr"]) == 60 == len(got["curve"]["loss"])
    assert got["curve"]["lr"][0] == pytest.approx(1e-4) and got["curve"]["lr"][-1] == pytest.approx(3, rel=1e-6)
    assert (tmp_path / "lr_find.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("argv,message", [
    (["--from", "0"], "need 0 < from < to"),
    (["--from", "1", "--to", "0.1"], "need 0 < from < to"),
    (["--steps", "3"], "at least 10 updates"),
])
def test_bad_ranges_are_one_line_and_exit_2(argv, message, tmp_path, capsys):
    assert main(["lr-find", "--out", str(tmp_path / "run"), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "run").exists()
