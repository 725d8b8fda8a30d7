"""Misuse of every command: exit code 2, one line on stderr without a traceback, and a run folder that existed
left byte for byte as it was. Each row is what a user might type; the message is what they should read."""

import shutil

import pytest

from rot90.cli import main

TINY = ["data.length=6", "data.k=3", "data.batch_size=8", "data.epoch_batches=7", "model.hidden=16",
        "train.eval_every=0", "train.checkpoint_every=2", "train.steps=4"]


def sets(*items):
    return [a for s in items for a in ("--set", s)]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    assert main(["train", "--out", str(run), *sets(*TINY)]) == 0
    return run


TRAIN = [(sets(*TINY, s), m) for s, m in [
    ("train.steps=-5", "train.steps=-5: must be >= 1"),
    ("optim.lr=nan", "optim.lr=nan: must be finite and >= 0"),
    ("optim.lr=inf", "optim.lr=inf: must be finite and >= 0"),
    ("train.keep=0", "train.keep=0: must be >= 1"),
    ("train.checkpoint_every=0", "train.checkpoint_every=0: must be >= 1"),
    ("train.log_every=0", "train.log_every=0: must be >= 1"),
    ("model.hiden=3", "unknown key 'model.hiden' (did you mean 'model.hidden'?)"),
    ("model.hidden=big", "model.hidden: expected int, got str"),
    ("model.hidden=-4", "model.hidden=-4: must be >= 1"),
    ("model.dropout=1.5", "model.dropout=1.5: must be in [0, 1)"),
    ("model.attention=bahdanau", "model.attention='bahdanau': must be none, dot or general"),
    ("model.attention=dot", "model.attention='dot' has no effect here: only a recurrent seq2seq model"),
    ("model.heads=8", "model.heads=8 has no effect here: only a Transformer (model.arch=transformer) read it"),
    ("model.axis=depth", "model.axis='depth' has no effect here: only the image tasks"),
    ("data.vocab_size=100", "data.vocab_size=100 has no effect here: only translate and numbers read it"),
    ("optim.momentum=0.9", "optim.momentum=0.9 has no effect here: only optim.name=sgd read it"),
    ("train.average_last=5", "train.average_last=5: more than the train.keep=3 checkpoints that are kept"),
    ("data.task=dance", "data.task: unknown task 'dance'"),
    ("data.batch_size=0", "data.batch_size=0: must be >= 1"),
    ("data.epoch_batches=0", "data.epoch_batches=0: must be in [1, 10^7]"),
    ("data.length=0", "data.length=0: must be >= 1"),
    ("train.precision=fp8", "train.precision='fp8': must be fp32, bf16, fp16 or auto"),
    ("train.device=tpu", "train.device='tpu': choose auto, cpu, cuda or cuda:N"),
    ("optim.schedule=linear", "optim.schedule='linear': must be constant, cosine, rsqrt, halving, range or wsd"),
    ("model.hidden=32", "holds a run of another config"),
    ("trian.steps=3", "unknown key 'trian'"),
    ("train.select=bleu", "train.select=bleu: a translation metric; data.task=copy"),
]] + [
    (["--set", "model.hidden"], "expected section.key=value"),
]


@pytest.mark.parametrize("extra,message", TRAIN, ids=[m[:40] for _, m in TRAIN])
def test_train_misuse_leaves_the_run_as_it_was(finished, tmp_path, capsys, extra, message):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    before = {p.relative_to(run): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}
    assert main(["train", "--out", str(run), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "Traceback" not in err[0], err
    assert {p.relative_to(run): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()} == before


OTHER = [
    (["train", "{tmp}/missing.toml", "--out", "{tmp}/x"], "missing.toml: no such config file"),
    (["train", "{tmp}/bad.toml", "--out", "{tmp}/x"], "bad.toml: not valid TOML"),
    (["translate", "--model", "{tmp}/nope"], "no exported model"),
    (["translate", "--model", "{run}"], "not a translation model"),
    (["translate", "--model", "{run}", "--input", "{tmp}/nope.txt"], "not a translation model"),
    (["eval", "--model", "{run}", "--batch", "0"], "--batch must be >= 1"),
    (["eval", "--model", "{run}", "--beam", "0"], "--beam must be >= 1"),
    (["eval", "--model", "{tmp}/nope"], "no exported model"),
    (["eval", "--model", "{run}"], "not a translation model"),
    (["data", "build", "dance"], "unknown corpus kind 'dance'"),
    (["data", "build", "translation", "--lang", "xx"], "--lang xx: choose fr or de"),
    (["data", "build", "text", "--corpus", "nope", "--out", "{tmp}/t", "--cache", "{tmp}/c"],
     "unknown text corpus 'nope'"),
    (["plot", "{tmp}/nope"], "nope"),
    (["bench", "--batch", "0"], "--batch must be >= 1"),
    (["bench", "--lengths", "0"], "--lengths must be >= 1"),
    (["bench", "--only", "rot90.Mamba"], "unknown contender 'rot90.Mamba'"),
    (["experiment", "nonsense", "--out", "{tmp}/e"], "nonsense"),
    (["experiment", "memory-tasks", "--seeds", "0", "--out", "{tmp}/e"], "--seeds 0: at least one"),
]


@pytest.mark.parametrize("argv,message", OTHER, ids=[" ".join(a[:2]) + ": " + m[:30] for a, m in OTHER])
def test_command_misuse_is_one_line_and_exit_2(finished, tmp_path, capsys, argv, message):
    (tmp_path / "bad.toml").write_text("[model\nhidden = 3\n")
    before = {p.relative_to(finished): p.read_bytes() for p in sorted(finished.rglob("*")) if p.is_file()}
    argv = [a.format(tmp=tmp_path, run=finished) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "Traceback" not in err[0], err
    assert {p.relative_to(finished): p.read_bytes() for p in sorted(finished.rglob("*")) if p.is_file()} == before


def test_the_table_is_as_long_as_promised():
    assert len(TRAIN) + len(OTHER) >= 30
