"""The trainer: exact resume after SIGKILL, torn checkpoints, DDP on 2 CPU ranks, guard rails, bad input."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

import rot90
from rot90.cli import main
from rot90.config import ConfigError, load
from rot90.run import train
from rot90.train import checkpoint as ckpt

# A tiny copy task; 7 batches an epoch, so checkpoints land mid-epoch; dropout, so the RNG matters.
TINY = ["data.length=6", "data.k=3", "data.batch_size=8", "data.epoch_batches=7", "model.hidden=16",
        "model.dropout=0.1", "train.eval_every=0", "train.checkpoint_every=4", "train.keep=2", "train.log_every=1000"]


def args(out, steps, *extra):
    return ["train", "--out", str(out), *[x for s in TINY + [f"train.steps={steps}", *extra] for x in ("--set", s)]]


def rows(run, key="loss"):
    found = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r[key]) for r in found if key in r]


def losses(run):
    return dict(rows(run))


def cli(*argv, env=None, **kw):
    return subprocess.Popen([sys.executable, "-m", "rot90", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}, **kw)


def run_straight(out, *extra):
    p = cli(*args(out, 30, *extra))
    assert p.wait(timeout=300) == 0, p.stderr.read()
    return out


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    return losses(run_straight(tmp_path_factory.mktemp("straight")))


# Runs the CLI and SIGKILLs itself once step 18 is logged: past a checkpoint, mid-epoch, at a fixed point however
# fast the machine is (polling the metrics file from outside raced a fast CI runner to the end of the run).
KILLED_AT_18 = """
import os, signal, sys
from rot90.cli import main
from rot90.train.trainer import Trainer
log = Trainer._metrics
def metrics(self, row, bar):
    log(self, row, bar)
    if row.get("step") == 18 and "loss" in row:
        os.kill(os.getpid(), signal.SIGKILL)
Trainer._metrics = metrics
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("workers", [0, 2])
def test_sigkill_and_resume_give_the_same_losses(tmp_path, straight, workers):
    p = subprocess.run([sys.executable, "-c", KILLED_AT_18, *args(tmp_path, 30, f"data.workers={workers}")],
                       capture_output=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert p.returncode == -signal.SIGKILL, p.stderr[-2000:]
    assert len(losses(tmp_path)) < 30
    q = cli(*args(tmp_path, 30, f"data.workers={workers}"))
    assert q.wait(timeout=300) == 0, q.stderr.read()
    assert losses(tmp_path) == straight  # bit for bit
    assert [step for step, _ in rows(tmp_path)] == list(range(1, 31))  # redone steps are not logged twice


def test_torn_newest_checkpoint_is_skipped(tmp_path, straight):
    assert cli(*args(tmp_path, 20)).wait(timeout=300) == 0  # one thread, as `straight`: same arithmetic
    newest = ckpt.checkpoints(tmp_path / "ckpt")[0]
    newest.write_bytes(newest.read_bytes()[:1000])  # torn by a crash mid-write
    p = cli(*args(tmp_path, 30))
    assert p.wait(timeout=300) == 0
    assert f"skipping checkpoint {newest}" in p.stderr.read()
    assert losses(tmp_path) == straight


def test_two_gloo_ranks_equal_one_process(tmp_path):
    one = run_straight(tmp_path / "one", "model.dropout=0.0")  # dropout differs by rank, by design
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "rot90",
           *args(tmp_path / "two", 30, "model.dropout=0.0", "train.eval_every=10", "train.patience=100")]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-2000:]
    for key in ("loss", "grad_norm"):  # the gradient itself, not only a scale-free optimiser's path
        a, b = dict(rows(one, key)), dict(rows(tmp_path / "two", key))
        assert a.keys() == b.keys()
        for step in a:
            assert b[step] == pytest.approx(a[step], rel=1e-5, abs=1e-6), (key, step)


def test_two_ranks_share_one_clock_for_the_budget_and_the_schedule(tmp_path):
    # Each rank's own clock would stop one rank a step before the other, which then waits forever in its
    # all-reduce; rank 0's clock, broadcast, stops both at the same step with the same learning rate.
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "rot90",
           *args(tmp_path, 1000000, "train.time_budget=1.0", "optim.schedule=cosine", "train.log_every=1",
                 "train.checkpoint_every=100000")]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-2000:]
    rates = [lr for _, lr in rows(tmp_path, "lr")]
    assert len(rates) > 5 and rates[-1] < 0.05 * max(rates)


def test_nonfinite_steps_are_skipped_counted_and_abort(tmp_path, capsys):
    cfg = load(None, TINY + ["train.steps=10", "train.nonfinite_at=[3]"])
    s = train(cfg, tmp_path / "a", log=print)
    assert s["skipped"] == 1 and s["step"] == 10
    assert "step 3: non-finite loss or gradient, step skipped" in capsys.readouterr().out
    state = ckpt.load_newest(tmp_path / "a" / "ckpt")[0]
    assert state["skipped"] == 1 and all(torch.isfinite(v).all() for v in state["model"].values())
    code = main(args(tmp_path / "b", 10, "train.nonfinite_at=[5, 6, 7]", "train.max_nonfinite=3"))
    assert code == 1  # a diverged run failed; its input was fine (2 is for bad input)
    assert "aborting at step 7: 3 steps in a row with a non-finite loss" in capsys.readouterr().err


def test_full_disk_keeps_the_previous_checkpoint(tmp_path, monkeypatch, capsys):
    calls = {"n": 0}
    real = torch.save

    def flaky(obj, f, *a, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            f.write(b"partial")
            raise OSError(28, "No space left on device")
        return real(obj, f, *a, **kw)

    monkeypatch.setattr(torch, "save", flaky)
    assert main(args(tmp_path, 12)) == 2
    err = capsys.readouterr().err
    assert "could not write the checkpoint of step 8" in err and "No space left on device" in err
    assert (tmp_path / "ckpt" / "latest").read_text().strip() == "step-0000004.pt"
    assert ckpt.load_newest(tmp_path / "ckpt")[0]["step"] == 4
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["latest", "step-0000004.pt"]  # nothing torn


def test_export_loads_and_plot(tmp_path):
    assert main(args(tmp_path, 8)) == 0
    model, info = rot90.load(tmp_path)
    assert info["task"] == "copy" and info["model_args"]["hidden"] == 16
    x = torch.randint(0, 10, (2, 15))
    state = ckpt.load_newest(tmp_path / "ckpt")[0]
    twin = rot90.models.SequenceModel(**info["model_args"])
    twin.load_state_dict(state["model"])
    assert torch.equal(model(x), twin.eval()(x))
    assert main(["plot", str(tmp_path)]) == 0
    assert (tmp_path / "loss.png").read_bytes()[:4] == b"\x89PNG"


def test_bad_input_gets_one_line_and_exit_2(tmp_path, capsys):
    cases = [
        (["train", "--out", str(tmp_path / "x"), "--set", "model.hiden=3"],
         "unknown key 'model.hiden' (did you mean 'model.hidden'?)"),
        (["train", "--out", str(tmp_path / "x"), "--set", "model.hidden=big"], "model.hidden: expected int, got str"),
        (["train", "--out", str(tmp_path / "x"), "--set", "data.task=lm", "--set", "data.path=/nope"],
         "data.path '/nope': expected a folder with train.txt"),
        (["train", str(tmp_path / "missing.toml"), "--out", str(tmp_path / "x")], "missing.toml: no such config file"),
        (["train", "--out", str(tmp_path / "x"), "--set", "data.task=dance"], "data.task: unknown task 'dance'"),
        (["train", "--out", str(tmp_path / "x"), "--set", "train.precision=fp8"],
         "train.precision='fp8': must be fp32, bf16, fp16 or auto"),
        (["train", "--out", str(tmp_path / "x"), "--set", "train.steps=-5"], "train.steps=-5: must be >= 1"),
        (["train", "--out", str(tmp_path / "x"), "--set", "train.keep=0"], "train.keep=0: must be >= 1"),
        (["train", "--out", str(tmp_path / "x"), "--set", "data.epoch_batches=0"],
         "data.epoch_batches=0: must be in [1, 10^7]"),
        (["train", "--out", str(tmp_path / "x"), "--set", "model.hidden=-4"], "model.hidden=-4: must be >= 1"),
        (["train", "--out", str(tmp_path / "x"), "--set", "optim.lr=inf"], "optim.lr=inf: must be finite and >= 0"),
        (["train", "--out", str(tmp_path / "x"), "--set", "optim.lr=nan"], "optim.lr=nan: must be finite and >= 0"),
        (["train", "--out", str(tmp_path / "x"), "--set", "train.log_every=0"], "train.log_every=0: must be >= 1"),
        (["train", "--out", str(tmp_path / "x"), "--set", "data.batch_size=0"], "data.batch_size=0: must be >= 1"),
        (["train", "--out", str(tmp_path / "x"), "--set", "model.dropout=1.5"], "model.dropout=1.5: must be in [0, 1)"),
        (["train", "--out", str(tmp_path / "x"), "--set", "train.device=tpu"],
         "train.device='tpu': choose auto, cpu, cuda or cuda:N"),
    ]
    if not torch.cuda.is_available():
        cases += [(["train", "--out", str(tmp_path / "x"), "--set", "train.precision=fp16"],
                   "train.precision=fp16 needs a CUDA device (this run is on cpu)"),
                  (["train", "--out", str(tmp_path / "x"), "--set", "train.device=cuda"],
                   "train.device='cuda:0': no such CUDA device")]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "x").exists(), argv  # refused before the run folder was made


def test_bf16_on_the_cpu_trains_under_autocast(tmp_path, monkeypatch):
    seen = []
    real = torch.autocast

    def spy(device_type, dtype=None, enabled=True, **kw):
        seen.append((device_type, dtype, enabled))
        return real(device_type, dtype=dtype, enabled=enabled, **kw)

    monkeypatch.setattr(torch, "autocast", spy)
    assert main(args(tmp_path, 3, "train.precision=bf16")) == 0
    assert ("cpu", torch.bfloat16, True) in seen  # bf16 is what it says: not fp32 without a word
    assert all(v == v for v in losses(tmp_path).values())


def test_a_folder_of_another_config_is_refused_unless_forced(tmp_path, capsys):
    assert main(args(tmp_path, 4)) == 0
    assert main(args(tmp_path, 4, "model.hidden=24")) == 2
    assert "holds a run of another config (model.hidden: 16 -> 24)" in capsys.readouterr().err
    assert main(args(tmp_path, 4, "model.hidden=24") + ["--force"]) == 0
    (tmp_path / "config.json").unlink()  # a checkpoint without its folder's record: still checked
    assert main(args(tmp_path, 8)) == 2
    assert "checkpoint at step 4 is of another config: model.hidden: 24 -> 16" in capsys.readouterr().err


def test_vocabulary_mismatch_is_refused(tmp_path, capsys):
    data = tmp_path / "text"
    data.mkdir()
    (data / "train.txt").write_text("to be or not to be, that is the question\n" * 20)
    (data / "dev.txt").write_text("to be or not to be\n" * 5)
    lm = ["data.task=lm", f"data.path={data}", "data.length=12", "data.k=8"]  # k: back to its default (lm has none)
    assert main(args(tmp_path / "run", 4, *lm)) == 0
    (data / "train.txt").write_text("whether tis nobler in the mind to suffer\n" * 20)
    assert main(args(tmp_path / "run", 8, *lm)) == 2
    assert "was trained with vocabulary" in capsys.readouterr().err


def test_config_file_and_overrides(tmp_path):
    (tmp_path / "c.toml").write_text("[model]\nrule = 'minlstm'\nhidden = 32\n[optim]\nlr = 3e-3\n")
    cfg = load(tmp_path / "c.toml", ["model.layers=2", "optim.lr=1"])
    assert (cfg.model.rule, cfg.model.hidden, cfg.model.layers, cfg.optim.lr) == ("minlstm", 32, 2, 1.0)
    with pytest.raises(ConfigError, match="unknown key 'trian'"):
        load(None, ["trian.steps=3"])


def test_nonfinite_weights_are_never_checkpointed(tmp_path, monkeypatch, capsys):
    real = torch.optim.AdamW.step

    def poisoned(self, *a, **kw):  # an update that leaves a weight NaN although its gradient was finite
        out = real(self, *a, **kw)
        with torch.no_grad():
            self.param_groups[0]["params"][0].fill_(float("nan"))
        return out

    monkeypatch.setattr(torch.optim.AdamW, "step", poisoned)
    assert main(args(tmp_path, 8, "train.max_nonfinite=100")) == 1  # a diverged run: failed, not bad input
    assert "non-finite weights; not writing a checkpoint" in capsys.readouterr().err
    assert not list((tmp_path / "ckpt").glob("step-*.pt"))


@pytest.mark.parametrize("name", sorted(p.stem for p in (__import__("pathlib").Path(__file__).parent.parent
                                                          / "configs").glob("*.toml")))
def test_shipped_configs_load(name):
    from pathlib import Path

    cfg = load(Path(__file__).parent.parent / "configs" / f"{name}.toml")
    assert cfg.train.steps > 0 and cfg.model.rule in rot90.RULES


def test_best_checkpoint_and_early_stopping(tmp_path, capsys):
    # a learning rate of 0 never improves the dev loss after the first evaluation
    code = main(args(tmp_path, 40, "train.eval_every=2", "train.eval_batches=1", "train.patience=3", "optim.lr=0"))
    assert code == 0
    assert "stopping early at step 8: no better dev loss in 3 evaluations" in capsys.readouterr().err
    best = torch.load(tmp_path / "ckpt" / "best.pt", weights_only=True)
    assert best["step"] == 2 and ckpt.load_newest(tmp_path / "ckpt")[0]["step"] == 8


def test_a_torn_metrics_line_is_dropped_on_resume(tmp_path, straight):
    assert cli(*args(tmp_path, 20)).wait(timeout=300) == 0
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"step": 21, "lo')  # a kill in the middle of a write
    assert cli(*args(tmp_path, 30)).wait(timeout=300) == 0
    assert losses(tmp_path) == straight


def test_learning_rate_schedules():
    from rot90.train.trainer import _lr_lambda

    def factors(**optim):
        cfg = load(None, [f"optim.{k}={v}" for k, v in optim.items()] + ["train.steps=100"])
        f = _lr_lambda(cfg)
        return [f(step) for step in range(100)]

    warm = factors(warmup=10, schedule="constant")
    assert warm[0] == pytest.approx(0.1) and warm[9] == 1.0 and warm[99] == 1.0
    rsqrt = factors(warmup=16, schedule="rsqrt")
    assert rsqrt[15] == 1.0 and rsqrt[63] == pytest.approx(0.5)  # 1/sqrt(step), 1 where warm-up ends
    # Sutskever et al.: full rate for 5 epochs, then halved every half epoch (here 20 and 5 steps).
    halving = factors(schedule="halving", halve_after=20, halve_every=5)
    assert halving[19] == 1.0 and halving[20] == 0.5 and halving[24] == 0.5 and halving[25] == 0.25
    cosine = factors(schedule="cosine")
    assert cosine[0] == 1.0 and cosine[50] == pytest.approx(0.5) and cosine[99] < 0.01
    # warm-up, stable, decay: full rate until the last 20 % (or 50 %) of the steps after warm-up, then linear to 0
    wsd = factors(warmup=10, schedule="wsd")
    assert wsd[9] == 1.0 and wsd[81] == 1.0 and wsd[83] < 1.0 and wsd[91] == pytest.approx(0.5) and wsd[99] < 0.06
    half = factors(schedule="wsd", decay=0.5)
    assert half[50] == 1.0 and half[75] == pytest.approx(0.5) and all(a >= b for a, b in zip(half, half[1:]))


def test_a_cosine_schedule_anneals_within_a_time_budget():
    from rot90.train.trainer import _lr_lambda
    cfg = load(None, ["optim.schedule=cosine", "optim.warmup=10", "train.steps=1000000", "train.time_budget=60"])
    clock = {"s": 0.0}
    f = _lr_lambda(cfg, lambda: clock["s"])
    assert f(5) == pytest.approx(0.6)  # warm-up is counted in steps
    for seconds, expected in ((0.0, 1.0), (30.0, 0.5), (60.0, 0.0), (90.0, 0.0)):
        clock["s"] = seconds
        assert f(20) == pytest.approx(expected, abs=1e-6)  # 10 of 1e6 steps: nearly no progress
    clock["s"] = 0.0  # the step budget still ends it where it comes first
    assert f(1000000 - 1) < 1e-9
    wsd = _lr_lambda(load(None, ["optim.schedule=wsd", "optim.decay=0.5", "train.steps=1000000",
                                 "train.time_budget=60"]), lambda: clock["s"])
    for seconds, expected in ((0.0, 1.0), (30.0, 1.0), (45.0, 0.5), (60.0, 0.0), (90.0, 0.0)):
        clock["s"] = seconds
        assert wsd(20) == pytest.approx(expected, abs=1e-4)


def test_evaluation_does_not_count_against_the_time_budget(tmp_path, monkeypatch):
    import types

    from rot90.tasks import MemoryTask
    from rot90.train import trainer

    # Each evaluation takes a million seconds on the trainer's clock (a model that decodes slowly): counted, the
    # budget (a day: far beyond what the real steps take, even on a loaded machine) would end the run at its first
    # evaluation; not counted, it trains all 20 steps.
    offset = [0.0]
    monkeypatch.setattr(trainer, "time", types.SimpleNamespace(perf_counter=lambda: time.perf_counter() + offset[0]))
    slow = MemoryTask.evaluate

    def evaluate(self, model, batches):
        offset[0] += 1e6
        return slow(self, model, batches)

    monkeypatch.setattr(MemoryTask, "evaluate", evaluate)
    cfg = load(None, TINY + ["train.steps=20", "train.time_budget=86400", "train.eval_every=2"])
    s = train(cfg, tmp_path, log=lambda m: None)
    assert s["step"] == 20 and s["seconds"] < 86400 and not s["stopped_early"]


def test_a_budgeted_run_ends_at_a_small_learning_rate(tmp_path):
    p = cli(*args(tmp_path, 100000, "optim.schedule=cosine", "train.time_budget=0.5", "train.log_every=1",
                  "train.checkpoint_every=1000"))
    assert p.wait(timeout=300) == 0, p.stderr.read()
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    rates = [r["lr"] for r in rows if "lr" in r]
    assert len(rates) > 5 and rates[-1] < 0.05 * max(rates)  # constant before: steps=1e5 was never reached


def test_a_time_budget_counts_every_session_of_a_run(tmp_path):
    budget = ["train.time_budget=0.3", "train.checkpoint_every=1000"]
    p = cli(*args(tmp_path, 100000, *budget))
    assert p.wait(timeout=300) == 0, p.stderr.read()
    first = losses(tmp_path)
    p = cli(*args(tmp_path, 100000, *budget))  # resumed: the budget is spent, nothing more is trained
    assert p.wait(timeout=300) == 0 and "already spent" in p.stderr.read() + p.stdout.read()
    assert losses(tmp_path) == first
    p = cli(*args(tmp_path, 100000, "train.time_budget=0.6", "train.checkpoint_every=1000"))  # a larger budget
    assert p.wait(timeout=300) == 0, p.stderr.read()
    assert max(losses(tmp_path)) > max(first)


def test_a_key_added_since_a_run_was_saved_counts_as_its_default():
    from rot90.config import differences

    now = load(None).to_dict()
    then = {section: dict(values) for section, values in now.items()}
    del then["model"]["axis"]  # a run saved before model.axis existed
    assert differences(then, now) == []
    then["model"]["hidden"] = 7
    assert differences(then, now) == ["model.hidden: 7 -> 64"]


@pytest.mark.parametrize("name", ["DepthModel", "CausalTransformer"])
def test_every_model_class_exports_and_loads(name, tmp_path):
    from rot90.export import export
    from rot90.models import CausalTransformer, DepthModel

    torch.manual_seed(0)
    model = (DepthModel("resnet", 8, 3, out=10, inputs=64) if name == "DepthModel"
             else CausalTransformer(8, 2, 1, out=5, vocab=5, max_len=32))
    export(model, {}, tmp_path, None, {"model_args": model.args, "model_class": name})
    loaded, _ = rot90.load(tmp_path)
    x = torch.rand(2, 64) if name == "DepthModel" else torch.randint(0, 5, (2, 7))
    assert torch.equal(loaded(x), model.eval()(x))


# Pauses the CLI's run after logging step 5 until the file argv[1] exists: a live run, held at a fixed point.
PAUSED_AT_5 = """
import pathlib, sys, time
from rot90.cli import main
from rot90.train.trainer import Trainer
log, go = Trainer._metrics, pathlib.Path(sys.argv[1])
def metrics(self, row, bar):
    log(self, row, bar)
    if row.get("step") == 5 and "loss" in row:
        (go.parent / "paused").touch()
        while not go.exists():
            time.sleep(0.05)
Trainer._metrics = metrics
sys.exit(main(sys.argv[2:]))
"""


def snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_second_run_on_a_live_folder_is_refused(tmp_path, straight):
    out, go = tmp_path / "run", tmp_path / "go"
    first = subprocess.Popen([sys.executable, "-c", PAUSED_AT_5, str(go), *args(out, 30)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        for _ in range(2400):
            if (tmp_path / "paused").exists() or first.poll() is not None:
                break
            time.sleep(0.05)
        assert (tmp_path / "paused").exists(), first.stderr.read() if first.poll() is not None else "no pause"
        before = snapshot(out)
        for extra in ([], ["--force", "--set", "optim.lr=0.01"]):  # --force on a live run deleted it before
            second = cli(*args(out, 30), *extra)
            assert second.wait(timeout=300) == 2
            err = second.stderr.read().strip().splitlines()
            assert len(err) == 1 and f"in use by another rot90 train (pid {first.pid})" in err[0], err
        assert snapshot(out) == before  # not a byte of the live run touched
    finally:
        go.touch()
    assert first.wait(timeout=300) == 0, first.stderr.read()
    assert losses(out) == straight
    assert [step for step, _ in rows(out)] == list(range(1, 31))


def test_rotation_never_deletes_a_loadable_checkpoint(tmp_path, capsys):
    assert main(args(tmp_path, 8)) == 0  # checkpoints at steps 4 and 8 (keep 2)
    folder = tmp_path / "ckpt"
    newest = folder / "step-0000008.pt"
    newest.write_bytes(newest.read_bytes()[:1000])  # torn
    (folder / "step-0000100.pt").write_bytes(b"left by another run")  # broken, and numbered as the newest
    (folder / ".step-0000004.pt.rot90-tmp-x1y2z3").write_bytes(b"0" * 1000)  # a write a kill interrupted
    (folder / ".notes.txt").write_text("mine")  # a file of the user's, not rot90's: never removed
    assert main(args(tmp_path, 16)) == 0  # resumes from step 4: the newest that loads
    names = sorted(p.name for p in folder.glob("step-*.pt"))
    assert names == ["step-0000004.pt", "step-0000012.pt", "step-0000016.pt"]  # resumed-from kept, 2 newest kept
    assert all(ckpt.is_loadable(folder / n) for n in names)
    assert (folder / "step-0000100.pt.broken").exists()  # set aside, not counted, not deleted
    assert not list(folder.glob(".step-*"))  # the interrupted write's leftover is gone
    assert (folder / ".notes.txt").read_text() == "mine"


def test_checkpoints_that_all_fail_to_load_stop_the_run(tmp_path, capsys):
    assert main(args(tmp_path, 8)) == 0
    for p in (tmp_path / "ckpt").glob("step-*.pt"):
        p.write_bytes(b"torn")
    before = snapshot(tmp_path)
    assert main(args(tmp_path, 16)) == 2  # not a silent restart at step 0 over the metrics and the export
    err = capsys.readouterr().err.strip().splitlines()
    assert "2 checkpoint(s), none loads; --force starts the run over" in err[-1]
    assert {k: v for k, v in snapshot(tmp_path).items() if k.name != ".lock"} == \
        {k: v for k, v in before.items() if k.name != ".lock"}
    assert main([*args(tmp_path, 8), "--force"]) == 0
    assert [step for step, _ in rows(tmp_path)] == list(range(1, 9))


def test_the_config_knows_every_task_the_trainer_has():
    from rot90 import config, tasks

    assert set(config.TASKS) == set(tasks.BY_NAME)


def test_average_last_exports_the_mean_of_the_last_checkpoints(tmp_path):
    assert main(args(tmp_path, 8, "train.checkpoint_every=2", "train.keep=3", "train.average_last=3")) == 0
    info = json.loads((tmp_path / "export" / "config.json").read_text())
    assert info["averaged"] == [8, 6, 4]
    states = [ckpt.read(tmp_path / "ckpt" / f"step-{s:07d}.pt")["model"] for s in (4, 6, 8)]
    model, _ = rot90.load(tmp_path)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, sum(s[k].double() for s in states).div(3).to(v.dtype))


def test_adamw_takes_the_second_moment_decay_asked_for(tmp_path):
    cfg = load(None, TINY + ["train.steps=4", "optim.beta2=0.98"])
    train(cfg, tmp_path, log=lambda m: None)
    state = torch.load(sorted((tmp_path / "ckpt").glob("step-*.pt"))[-1], weights_only=False)
    assert all(tuple(g["betas"]) == (0.9, 0.98) for g in state["optimizer"]["param_groups"])
    with pytest.raises(ConfigError, match="optim.beta2=0.98 has no effect here"):
        load(None, ["optim.name=sgd", "optim.beta2=0.98"])


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_is_bf16_only_where_the_cpu_has_it(tmp_path, monkeypatch, native):
    from rot90 import devices
    from rot90.train.trainer import Trainer

    monkeypatch.setattr(devices, "fast_bf16", lambda device: native)
    lines = []
    trainer = Trainer(load(None, TINY + ["train.steps=2", "train.precision=auto"]), tmp_path, log=lines.append)
    assert trainer.amp_dtype == (torch.bfloat16 if native else None)
    assert f"train.precision=auto: {'bf16' if native else 'fp32'} on this cpu" in lines
