"""Nothing lost, nothing silently wrong (issue 35): rot90 deletes only what it wrote, checks everything before it
touches a folder, reads a line as a line, refuses what was damaged on disk, and refuses numbers that make no sense."""

import os
import shutil
import stat

import pytest
import torch

import rot90
from rot90.cli import main
from rot90.data.io import DataError, read_pairs
from rot90.train import checkpoint as ckpt

TINY = ["data.length=6", "data.k=3", "data.batch_size=8", "data.epoch_batches=7", "model.hidden=16",
        "train.eval_every=0", "train.checkpoint_every=2", "train.steps=4"]


def sets(*items):
    return [a for s in items for a in ("--set", s)]


def files(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    assert main(["train", "--out", str(run), *sets(*TINY)]) == 0
    return run


def test_train_into_a_folder_of_the_users_touches_nothing(tmp_path, capsys, monkeypatch):
    """`rot90 train --out .` in a folder with dotfiles and other files: refused, every file as it was."""
    (tmp_path / ".pre-commit-config.yaml").write_text("repos: []\n")
    (tmp_path / ".env.local").write_text("K=1\n")
    (tmp_path / "notes.txt").write_text("mine\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    before = files(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--out", ".", *sets(*TINY)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a rot90 run folder" in err[0], err
    assert files(tmp_path) == before


@pytest.mark.parametrize("late", [
    "model.rule=LSTM",  # unknown rule (checked when the model was built)
    "train.seed=4611686018427387904",  # 2**62: a seed the derived streams overflow
    "model.layers=200000",
    "model.hidden=100000",  # about 150 GiB of weights
    "data.batch_size=1000000000",
    "data.epoch_batches=10000000000",
    "data.image_size=100000",
])
def test_force_with_a_value_checked_late_keeps_the_finished_run(finished, tmp_path, capsys, late):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    before = files(run)
    assert main(["train", "--out", str(run), *sets(*TINY, late), "--force"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    assert files(run) == before


def test_force_moves_the_earlier_run_aside(finished, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    before = files(run)
    assert main(["train", "--out", str(run), *sets(*TINY, "model.hidden=8"), "--force"]) == 0
    aside = [p for p in run.iterdir() if p.name.startswith("previous-")]
    assert len(aside) == 1
    for name in ("config.json", "metrics.jsonl", "ckpt/step-0000004.pt", "export/model.safetensors"):
        assert (aside[0] / name).read_bytes() == before[type(aside[0])(name)], name


def test_a_damaged_config_names_its_file_and_force_still_works(finished, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    (run / "config.json").write_bytes(b'{"config": {"da')  # torn
    assert main(["train", "--out", str(run), *sets(*TINY)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{run / 'config.json'}: damaged" in err[0], err
    assert main(["train", "--out", str(run), *sets(*TINY), "--force"]) == 0


def test_a_flipped_bit_in_a_checkpoint_is_never_trained_on(finished, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    newest = run / "ckpt" / "step-0000004.pt"
    state = torch.load(newest, weights_only=True)
    weight = next(iter(state["model"].values()))
    data = bytearray(newest.read_bytes())
    at = data.find(weight.numpy().tobytes()[:16])  # inside the tensor's stored bytes
    assert at > 0
    data[at + 3] ^= 0x10
    newest.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged"):
        ckpt.read(newest)
    assert main(["train", "--out", str(run), *sets(*TINY, "train.steps=6")]) == 0
    assert "resuming from step 2" in capsys.readouterr().err  # the older checkpoint, not the damaged one


def test_a_damaged_cached_kernel_is_built_again_not_loaded(tmp_path):
    """truncate, empty, or one bit flipped: each time a fresh process computes, and says why it rebuilt."""
    import subprocess
    import sys

    env = {**os.environ, "ROT90_CACHE": str(tmp_path)}
    code = ("import torch, rot90; from rot90 import compiled; "
            "y = rot90.MinLSTM(4, 8)(torch.randn(2, 5, 4))[0]; assert compiled.available(); print(y.shape)")
    run = lambda: subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,  # noqa: E731
                                 timeout=300)
    assert run().returncode == 0
    (lib,) = tmp_path.glob("scan-*.so")
    for damage in (lambda b: b[:1000], lambda b: b"", lambda b: b[:4000] + bytes([b[4000] ^ 1]) + b[4001:]):
        lib.write_bytes(damage(lib.read_bytes()))
        r = run()
        assert r.returncode == 0 and "torch.Size([2, 5, 8])" in r.stdout, r.stderr
        assert "does not match its digest" in r.stderr


def test_files_are_written_with_the_umask(finished, tmp_path):
    old = os.umask(0o022)
    try:
        assert main(["train", "--out", str(tmp_path / "run"), *sets(*TINY)]) == 0
    finally:
        os.umask(old)
    for name in ("config.json", "export/model.safetensors", "export/config.json", "ckpt/step-0000004.pt"):
        assert stat.S_IMODE((tmp_path / "run" / name).stat().st_mode) == 0o644, name


def test_lines_are_lines(tmp_path):
    """U+2028, U+2029, NEL, \\v, \\f and \\x1c-\\x1e inside a sentence do not end it; a BOM is not text; a row with two
    tabs is refused with its line number."""
    odd = "\u2028\u2029\u0085\x0b\x0c\x1c\x1d\x1e"
    (tmp_path / "a.en").write_text("\ufeffone" + odd + "two\r\nthree\n", encoding="utf-8")
    (tmp_path / "a.fr").write_text("un\ndeux\n", encoding="utf-8")
    pairs, _ = read_pairs(tmp_path / "a.en", tmp_path / "a.fr")
    assert pairs == [("one" + odd + "two", "un"), ("three", "deux")]
    (tmp_path / "t.tsv").write_text("a\tb\nc\td\te\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"t.tsv:2: expected source<TAB>target, found 2 tabs"):
        read_pairs(tmp_path / "t.tsv")


def test_no_training_pair_within_max_len_is_one_line_not_a_hang(tmp_path, capsys):
    argv = ["train", "--out", str(tmp_path / "r"), *sets("data.task=numbers", "data.numbers_high=999", "data.max_len=1",
                                                        "data.vocab_size=60", "model.hidden=8", "train.steps=2")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no train pair has both sides within data.max_len=1" in err[-1], err


NUMBERS = [
    (["translate", "--model", "{run}", "--max-ratio", "inf"], "--max-ratio must be finite and > 0, got inf"),
    (["translate", "--model", "{run}", "--max-ratio", "-1"], "--max-ratio must be finite and > 0"),
    (["translate", "--model", "{run}", "--alpha", "nan"], "--alpha must be finite and >= 0, got nan"),
    (["translate", "--model", "{run}", "--nbest", "0"], "--nbest must be >= 1, got 0"),
    (["translate", "--model", "{run}", "--nbest", "9"], "--nbest 9: at most --beam (5)"),
    (["translate", "--model", "{run}", "--batch", "0"], "--batch must be >= 1, got 0"),
    (["translate", "--model", "{run}", "--batch", "-1"], "--batch must be >= 1, got -1"),
    (["translate", "--model", "{run}", "--device", "nonsense"], "--device='nonsense': choose auto, cpu, cuda"),
    (["translate", "--model", "{run}", "--device", "meta"], "--device='meta': choose auto, cpu, cuda"),
    (["eval", "--model", "{run}", "--limit", "-1"], "--limit must be >= 0, got -1"),
    (["translate", "--model", "{run}", "--precision", "fp16"], "--precision=fp16 needs a CUDA device"),
    (["bench", "--warmup", "-1"], "--warmup must be >= 0, got -1"),
    (["bench", "--budget", "nan"], "--budget must be finite and > 0, got nan"),
    (["bench", "--device", "meta"], "--device='meta': choose auto, cpu, cuda"),
    (["train", "--out", "{tmp}/x", "--set", "train.steps=3\ntrain.seed=1"], "one assignment per --set"),
]


@pytest.mark.parametrize("argv,message", NUMBERS, ids=[" ".join(a[:1] + a[3:4]) for a, _ in NUMBERS])
def test_every_cli_number_is_checked(finished, tmp_path, capsys, argv, message):
    assert main([a.format(tmp=tmp_path, run=finished) for a in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "Traceback" not in err[0], err
    assert not (tmp_path / "x").exists()


def test_keys_that_cannot_take_effect_are_refused(tmp_path, capsys):
    for extra, message in [("train.patience=2", "train.patience=2 has no effect without evaluations"),
                           ("train.average_last=3", "train.average_last=3: a run of train.steps=4 writes 2")]:
        assert main(["train", "--out", str(tmp_path / "x"), *sets(*TINY, "train.keep=3", extra)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
        assert not (tmp_path / "x").exists()


def test_an_export_with_a_flipped_bit_is_refused(finished, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    weights = run / "export" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged"):
        rot90.load(run)


def _interruptible():
    """In the child: Ctrl-C as a terminal gives it, even when this run inherited it ignored (a job started in the
    background by a non-interactive shell has SIGINT ignored, and Python then installs no handler)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_with_workers_stops_the_run_every_time_and_it_resumes(tmp_path):
    """SIGINT at 10 moments of a run with data.workers=2 (some during the forks of an epoch's workers): it stops
    within seconds each time and resumes; after a kill -9 the next run is accepted at once."""
    import random
    import signal
    import subprocess
    import sys
    import time

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    argv = [sys.executable, "-m", "rot90", "train", "--out", str(tmp_path / "run"),
            *sets("data.length=6", "data.k=3", "data.batch_size=8", "data.epoch_batches=3", "model.hidden=8",
                  "data.workers=2", "train.eval_every=0", "train.checkpoint_every=5", "train.steps=100000")]
    rng = random.Random(0)
    for _ in range(10):
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                             preexec_fn=_interruptible)
        time.sleep(rng.uniform(1.0, 4.0))
        p.send_signal(signal.SIGINT)
        try:
            code = p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            raise AssertionError("Ctrl-C did not stop the run within 15 s") from None
        assert code in (130, 0, 2, -signal.SIGINT), p.stderr.read().decode()[-500:]  # (-2: before Python's handler)
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                             preexec_fn=_interruptible)
    time.sleep(4.0)
    p.kill()  # kill -9: the workers it forked may outlive it for a moment
    p.wait()
    again = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                             preexec_fn=_interruptible)
    time.sleep(4.0)
    assert again.poll() is None, again.stderr.read().decode()[-500:]  # accepted: training, not refused
    again.send_signal(signal.SIGINT)
    assert again.wait(timeout=15) == 130
    assert ckpt.load_newest(tmp_path / "run" / "ckpt") is not None  # and resumable from its checkpoints


def test_ctrl_c_stops_at_the_end_of_the_step_with_a_checkpoint_and_resumes_exactly(tmp_path, monkeypatch, request):
    """Ctrl-C during step 7 (checkpoints every 5): the run stops after step 7 with a checkpoint of step 7, and the
    resumed run's losses are those of a run never stopped."""
    import json
    import signal

    from rot90.train.trainer import Trainer

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as a terminal gives it (_interruptible)
    request.addfinalizer(lambda: signal.signal(signal.SIGINT, previous))

    items = [*TINY[:-2], "train.checkpoint_every=5", "train.steps=10", "train.log_every=1"]
    assert main(["train", "--out", str(tmp_path / "straight"), *sets(*items)]) == 0
    step = Trainer.step

    def interrupted(self, *args):
        if args[-1] == 7:
            os.kill(os.getpid(), signal.SIGINT)  # the handler runs inside this step; the step still completes
        return step(self, *args)

    monkeypatch.setattr(Trainer, "step", interrupted)
    assert main(["train", "--out", str(tmp_path / "stopped"), *sets(*items)]) == 130
    assert [p.name for p in ckpt.checkpoints(tmp_path / "stopped" / "ckpt")][0] == "step-0000007.pt"
    monkeypatch.setattr(Trainer, "step", step)
    assert main(["train", "--out", str(tmp_path / "stopped"), *sets(*items)]) == 0

    def losses(run):
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        return [(r["step"], r["loss"]) for r in rows if "loss" in r]
    assert losses(tmp_path / "stopped") == losses(tmp_path / "straight")


NUMBERS_TASK = ["data.task=numbers", "data.numbers_high=999", "model.hidden=8", "train.steps=2", "train.eval_every=0"]
REFUSED = [  # what used to fail with a traceback, or after the run folder was made
    ([*TINY, "optim.schedule=range", "optim.lr=0"], "optim.lr must be the larger"),  # ZeroDivisionError
    ([*NUMBERS_TASK, "data.vocab_size=4"], "SentencePiece cannot train a vocabulary of data.vocab_size=4"),
    ([*NUMBERS_TASK, "data.batch_tokens=2"], "data.batch_tokens=2: smaller than the longest training pair"),
    ([*NUMBERS_TASK, "model.input_feeding=true"], "input_feeding needs attention"),
    ([*NUMBERS_TASK, "model.tie_embeddings=true", "model.embed=4"], "tie_embeddings needs embed == hidden"),
    ([*NUMBERS_TASK, "model.arch=transformer", "model.heads=3"], "does not split into 3 heads"),
    ([*TINY, "data.symbols=1000000000"], "GiB of weights"),
    ([*TINY, "data.length=1000000000"], "the activations of"),
    ([*TINY, "train.eval_every=0", "train.patience=3"], "train.patience=3 has no effect without evaluations"),
]


@pytest.mark.parametrize("items,message", REFUSED, ids=[m[:40] for _, m in REFUSED])
def test_refused_before_the_folder_is_touched(tmp_path, capsys, items, message):
    assert main(["train", "--out", str(tmp_path / "x"), *sets(*items)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "Traceback" not in err[0], err
    assert not (tmp_path / "x").exists()


def test_a_config_whose_section_is_not_a_table(tmp_path, capsys):
    (tmp_path / "s.toml").write_text("model = 3\n")
    assert main(["train", str(tmp_path / "s.toml"), "--out", str(tmp_path / "x"), "--set", "model.hidden=8"]) == 2
    assert "[model] in" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_data_must_be_regular_files(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    os.mkfifo(data / "train.txt")
    assert main(["train", "--out", str(tmp_path / "x"), *sets("data.task=lm", f"data.path={data}")]) == 2
    assert "train.txt: not a regular file" in capsys.readouterr().err


def test_more_rows_of_the_probe(finished, tmp_path, capsys):
    """The rest of the 313-case probe's findings, each one line and exit 2 (or a run that goes on), nothing
    touched that should not be."""
    import json

    def refused(argv, message):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0] and "Traceback" not in err[0], (argv, err)

    # a residual connection from beyond the stack would connect nothing
    refused(["train", "--out", str(tmp_path / "x"), *sets(*NUMBERS_TASK, "model.layers=2", "model.residual=true",
                                                          "model.residual_from=2")],
            "model.residual_from=2: the stack has layers 0 .. 1")
    # more bidirectional layers than the encoder has, or without model.bidirectional
    refused(["train", "--out", str(tmp_path / "x"), *sets(*NUMBERS_TASK, "model.layers=2", "model.bidirectional=true",
                                                          "model.bidirectional_layers=3")],
            "model.bidirectional_layers=3: the encoder has model.layers=2")
    refused(["train", "--out", str(tmp_path / "x"), *sets(*NUMBERS_TASK, "model.layers=2",
                                                          "model.bidirectional_layers=2")],
            "model.bidirectional_layers=2 has no effect here")
    # a config that is a FIFO or /dev/zero is refused, not read for ever
    os.mkfifo(tmp_path / "fifo.toml")
    refused(["train", str(tmp_path / "fifo.toml"), "--out", str(tmp_path / "x")], "not a config file")
    refused(["train", "/dev/zero", "--out", str(tmp_path / "x")], "not a config file")
    assert not (tmp_path / "x").exists()
    # config.json of the wrong JSON shape names its file
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    (run / "config.json").write_text("[]")
    refused(["train", "--out", str(run), *sets(*TINY)], f"{run / 'config.json'}: damaged")
    # a checkpoint that is valid torch but not rot90's is not trained on; the run stops and says so
    shutil.rmtree(run)
    shutil.copytree(finished, run)
    for p in (run / "ckpt").glob("step-*.pt"):
        torch.save({"step": 4, "weights": torch.zeros(3)}, p)
    assert main(["train", "--out", str(run), *sets(*TINY, "train.steps=6")]) == 2
    err = capsys.readouterr().err.strip().splitlines()  # a warning naming each, then the one error
    assert all("not a rot90 training checkpoint" in e for e in err[:-1]) and len(err) == 3, err
    assert "none loads; --force starts the run over" in err[-1] and "Traceback" not in "".join(err)
    # a torn UTF-8 tail in metrics.jsonl is dropped like a torn line, and the run resumes
    shutil.rmtree(run)
    shutil.copytree(finished, run)
    with open(run / "metrics.jsonl", "ab") as f:
        f.write('{"step": 5, "loss": "é'.encode()[:-1])
    assert main(["train", "--out", str(run), *sets(*TINY, "train.steps=6")]) == 0
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [1, 2, 3, 4, 5, 6]


def test_an_export_without_its_vocabulary_hash_names_its_file(tmp_path):
    import json

    from rot90.translate import Translator

    run = tmp_path / "run"
    sets_ = [*NUMBERS_TASK, "data.vocab_size=60"]
    assert main(["train", "--out", str(run), *sets(*sets_)]) == 0
    info = json.loads((run / "export" / "config.json").read_text())
    del info["vocab_hash"]
    (run / "export" / "config.json").write_text(json.dumps(info))
    with pytest.raises(DataError, match=r"export/config.json: not a rot90 translation export \(no 'vocab_hash'\)"):
        Translator(run)


def test_translate_reads_lines_with_a_bound(finished, tmp_path, capsys):
    """--input /dev/zero: refused at the first line over 1 MiB, not read into memory without end."""
    assert main(["translate", "--model", str(finished), "--input", "/dev/zero"]) == 2
    # (the copy model is refused as not a translation model before reading; the bound itself:)
    import io

    from rot90.translate import MAX_LINE, read_utf8_lines

    with pytest.raises(DataError, match="a line of more than 1 MiB"):
        list(read_utf8_lines(io.BytesIO(b"x" * (MAX_LINE + 5)), "zeros"))
