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
