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
