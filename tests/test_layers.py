"""The layers of docs/architecture.md hold, as checked by import-linter's contracts in pyproject.toml: the real
package keeps them, and a copy with one import that runs upward (or one cycle) breaks them."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

grimp = pytest.importorskip("grimp")
ROOT = Path(__file__).resolve().parents[1]


def lint(package_parent: Path) -> subprocess.CompletedProcess:
    """lint-imports with the project's contracts, on the rot90 found first under package_parent."""
    exe = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(exe), str(ROOT / "pyproject.toml"), "--no-cache"], cwd=package_parent,
                          env={"PYTHONPATH": str(package_parent), "PATH": "/usr/bin:/bin"}, capture_output=True,
                          text=True, timeout=300)


def test_the_package_keeps_its_layers():
    r = lint(ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 kept, 0 broken" in r.stdout


@pytest.mark.parametrize("module,line,broken", [
    ("rules.py", "from .cli import main", "library below, lab above"),  # the bottom importing the top
    ("train/trainer.py", "from ..tasks import make_task", "library below, lab above"),  # the engine composing
    ("translate.py", "from . import generate", "library below, lab above"),  # independent siblings
    ("data/io.py", "from . import images", "no import cycle"),  # io <- images <- ... <- io
])
def test_a_wrong_import_breaks_them(tmp_path, module, line, broken):
    shutil.copytree(ROOT / "rot90", tmp_path / "rot90", ignore=shutil.ignore_patterns("__pycache__", "configs"))
    path = tmp_path / "rot90" / module
    path.write_text(path.read_text() + f"\n{line}  # noqa\n")
    r = lint(tmp_path)
    assert r.returncode != 0 and f"{broken}" in r.stdout and "BROKEN" in r.stdout, r.stdout + r.stderr


def test_nothing_imports_the_package_root_and_the_engine_no_task():
    graph = grimp.build_graph("rot90")
    assert graph.find_modules_that_directly_import("rot90") == set()  # (rot90/__init__ imports everything)
    train = {m for m in graph.modules if m == "rot90.train" or m.startswith("rot90.train.")}
    for m in train:
        assert not {i for i in graph.find_modules_directly_imported_by(m) if i.startswith(("rot90.tasks", "rot90.lab",
                                                                                            "rot90.cli"))}, m


def test_no_import_cycle_anywhere():
    """Not between siblings (the contract) and not between a package and its own modules either."""
    graph = grimp.build_graph("rot90")
    cycles = [(a, b) for a in sorted(graph.modules) for b in graph.find_modules_directly_imported_by(a)
              if graph.chain_exists(importer=b, imported=a)]
    assert cycles == []
