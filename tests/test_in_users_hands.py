"""rot90 as its users meet it (issue 30): the version, the shipped recipes by name, every module importable where
fcntl is not (Windows), exit codes that tell a failed run from bad input."""

import subprocess
import sys

from rot90.cli import main
from rot90.config import RECIPES, load, recipes


def test_version(capsys):
    import rot90

    try:
        main(["--version"])
    except SystemExit as e:
        assert e.code == 0
    assert capsys.readouterr().out.strip() == f"rot90 {rot90.__version__}"


def test_the_recipes_ship_and_load_by_name(capsys):
    assert "recurrent-nmt" in recipes() and len(recipes()) >= 10
    assert main(["configs"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in recipes())
    by_name, by_path = load("recurrent-nmt"), load(RECIPES / "recurrent-nmt.toml")
    assert by_name == by_path and by_name.model.attention == "general"


def test_every_module_imports_without_fcntl():
    code = ("import sys; sys.modules['fcntl'] = None\n"
            "import rot90, rot90.cli, rot90.run, rot90.translate, rot90.train.trainer, rot90.data.tokenize\n"
            "import rot90.lab.experiments, rot90.lab.demo\n"
            "print('ok')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_a_diverged_run_exits_1_not_2(tmp_path, capsys):
    sets = ["data.length=6", "data.k=3", "data.batch_size=8", "model.hidden=8", "train.steps=6", "train.eval_every=0",
            "train.nonfinite_at=[1, 2, 3]", "train.max_nonfinite=3"]
    assert main(["train", "--out", str(tmp_path), *[a for s in sets for a in ("--set", s)]]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("rot90 train: failed: aborting at step 3"), err


def test_help_does_not_wait_for_torch():
    """The command parses before it imports torch (about 2 s of the 2.4 s `rot90 --help` took before)."""
    import shutil
    import statistics
    import time

    r = subprocess.run([sys.executable, "-c", "import sys, rot90, rot90.cli; print('torch' in sys.modules)"],
                       capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "False", r.stderr
    exe = shutil.which("rot90") or str(__import__("pathlib").Path(sys.executable).with_name("rot90"))
    times = []
    for _ in range(5):
        start = time.perf_counter()
        assert subprocess.run([exe, "--help"], capture_output=True, timeout=60).returncode == 0
        times.append(time.perf_counter() - start)
    assert statistics.median(times) < 0.5, times


def test_a_run_records_its_environment_and_works_from_any_folder(tmp_path, monkeypatch, capsys):
    """A relative data.path is recorded absolute, so `rot90 eval --model /abs/run` works from elsewhere; env.json
    says what ran where."""
    import json

    data = tmp_path / "work" / "data"
    data.mkdir(parents=True)
    pairs = [(f"open file {i}", f"ouvrir le fichier {i}") for i in range(60)]
    for split, part in (("train", pairs[:40]), ("dev", pairs[40:50]), ("test", pairs[50:])):
        (data / f"{split}.en").write_text("".join(a + "\n" for a, _ in part))
        (data / f"{split}.fr").write_text("".join(b + "\n" for _, b in part))
    monkeypatch.chdir(tmp_path / "work")
    sets = ["data.task=translate", "data.path=data", "data.vocab_size=40", "data.batch_tokens=256", "model.hidden=8",
            "train.steps=2", "train.eval_every=0", "train.checkpoint_every=2"]
    assert main(["train", "--out", "run", *[a for s in sets for a in ("--set", s)]]) == 0
    run = tmp_path / "work" / "run"
    recorded = json.loads((run / "config.json").read_text())["config"]["data"]["path"]
    assert recorded == str(data)
    env = json.loads((run / "env.json").read_text())
    assert env["argv"] and env["python"] and env["cpu"] and env["packages"]["torch"] and "git_commit" in env
    monkeypatch.chdir(tmp_path)
    assert main(["eval", "--model", str(run), "--split", "test", "--beam", "1"]) == 0
    assert "BLEU" in capsys.readouterr().out
    monkeypatch.chdir(tmp_path / "work")  # the same run resumes from where it was started, relative path and all
    assert main(["train", "--out", "run", *[a for s in sets + ["train.steps=4"] for a in ("--set", s)]]) == 0


def test_the_cache_honours_xdg_and_rot90_cache(monkeypatch, tmp_path):
    from rot90.files import cache_dir

    monkeypatch.delenv("ROT90_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir("debs") == tmp_path / "xdg" / "rot90" / "debs"
    monkeypatch.setenv("ROT90_CACHE", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"


def test_a_sentencepiece_model_with_spm_trains_defaults_is_accepted(tmp_path):
    """spm_train's own layout (unk 0, bos 1, eos 2, no pad) is mapped to rot90's ids, not refused; a run trains with
    it and translates back to text."""
    import pytest

    spm = pytest.importorskip("sentencepiece")
    from rot90.data.tokenize import SentencePiece
    from rot90.tokens import BOS, EOS, PAD, UNK

    lines = [f"open file number {i} now" for i in range(200)]
    lines += [f"ouvrir le fichier {i} maintenant" for i in range(200)]
    (tmp_path / "corpus.txt").write_text("\n".join(lines) + "\n")
    spm.SentencePieceTrainer.train(input=str(tmp_path / "corpus.txt"), model_prefix=str(tmp_path / "theirs"),
                                   vocab_size=50, minloglevel=2)  # every special id at spm_train's default
    sp = SentencePiece.load_checked(tmp_path / "theirs.model")
    assert (sp.sp.unk_id(), sp.sp.bos_id(), sp.sp.eos_id(), sp.sp.pad_id()) == (0, 1, 2, -1)
    ids = sp.encode("open file number 7 now")
    assert all(i > UNK for i in ids) and sp.decode(ids + [EOS, PAD, BOS]) == "open file number 7 now"
    assert len(sp) == 51 and UNK in sp.encode("§")  # 50 pieces, less their 3 specials, after our 4
    data = tmp_path / "data"
    data.mkdir()
    for split in ("train", "dev", "test"):
        (data / f"{split}.en").write_text("".join(f"open file number {i} now\n" for i in range(30)))
        (data / f"{split}.fr").write_text("".join(f"ouvrir le fichier {i} maintenant\n" for i in range(30)))
    sets = [f"data.path={data}", "data.task=translate", f"data.tokenizer={tmp_path / 'theirs.model'}",
            "data.batch_tokens=256", "model.hidden=8", "train.steps=2", "train.eval_every=2", "train.eval_batches=1"]
    assert main(["train", "--out", str(tmp_path / "run"), *[a for s in sets for a in ("--set", s)]]) == 0
    import rot90

    assert isinstance(rot90.Translator.load(tmp_path / "run").translate("open file number 3 now"), str)


def test_a_language_model_samples_text(tmp_path, capsys):
    """rot90 sample and rot90.Sampler: text continuing a prompt; the same seed gives the same text; top_k=1 is the
    greedy continuation however hot the temperature; a recurrent model carries its state, the same text as re-reading
    the whole prefix."""
    import rot90

    text = tmp_path / "text"
    text.mkdir()
    for split in ("train", "dev"):
        (text / f"{split}.txt").write_text("to be or not to be, that is the question. " * 40)
    sets = ["data.task=lm", f"data.path={text}", "data.length=16", "data.batch_size=8", "model.hidden=16",
            "optim.lr=1e-2", "train.steps=30", "train.eval_every=0"]
    assert main(["train", "--out", str(tmp_path / "run"), *[a for s in sets for a in ("--set", s)]]) == 0
    s = rot90.Sampler.load(tmp_path / "run", device="cpu")
    a, b = s.sample("to be", tokens=40, seed=3), s.sample("to be", tokens=40, seed=3)
    assert a == b and len(a) == 40
    greedy = s.sample("to be", tokens=20, top_k=1, temperature=5.0, seed=1)
    assert greedy == s.sample("to be", tokens=20, top_k=1, temperature=0.1, seed=2)
    import torch

    from rot90.models.search import sample

    ids = s.tokenizer.encode("to be")
    window = [*ids]
    for _ in range(20):  # the same continuation, re-reading the prefix for every token
        window.append(int(s.model(torch.tensor([window]))[0, -1].argmax()))
    assert s.tokenizer.decode(window[len(ids):]) == greedy
    assert sample(s.model, ids, 5, top_k=1) == window[len(ids):len(ids) + 5]
    capsys.readouterr()
    argv = ["sample", "--model", str(tmp_path / "run"), "--prompt", "to be", "--tokens", "20", "--top-k", "1"]
    assert main(argv) == 0
    assert capsys.readouterr().out.strip() == ("to be" + greedy).strip()
    assert main(["sample", "--model", str(tmp_path / "run"), "--temperature", "0"]) == 2
