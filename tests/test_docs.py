"""No code block can rot: every ```sh and ```python block of README.md, the tutorial and the how-to pages runs, in
order, in one fresh folder per page (python blocks each in a fresh interpreter), with the rot90 of this checkout on
PATH and runs shrunk by ROT90_SET. A block after `<!-- test: skip (why) -->` is not run (it needs the network, a
second machine or hours; the install block runs in scripts/wheel-smoke). Every relative link resolves."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["README.md", "docs/tutorial.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs/howto").glob("*.md"))]
TINY = ("model.hidden=8 train.steps=4 train.eval_every=2 train.eval_batches=1 train.checkpoint_every=2 "
        "train.time_budget=0")
FENCE = "`" * 3


def blocks(page: str) -> list[tuple[str, str, bool]]:
    """(language, code, skipped) of every fenced block of a page, in order."""
    found, lines, i = [], (ROOT / page).read_text().split("\n"), 0
    while i < len(lines):
        if lines[i].startswith(FENCE) and lines[i][3:].strip():
            lang, start = lines[i][3:].strip(), i + 1
            end = next(k for k in range(start, len(lines)) if lines[k].startswith(FENCE))
            marker = lines[i - 1] if i else ""
            found.append((lang, "\n".join(lines[start:end]), "test: skip" in marker or "<!-- install" in marker))
            i = end
        i += 1
    return found


def corpus(folder: Path):
    """A tiny parallel corpus in my-corpus/, as the README's and the tutorial's readers have one."""
    words = ["open", "save", "close", "the", "file", "window", "now", "a", "new"]
    fr = {"open": "ouvrir", "save": "enregistrer", "close": "fermer", "the": "le", "file": "fichier",
          "window": "fenêtre", "now": "maintenant", "a": "un", "new": "nouveau"}
    pairs = [(" ".join(words[(i + k) % 9] for k in range(3)), " ".join(fr[words[(i + k) % 9]] for k in range(3)))
             for i in range(90)]
    (folder / "my-corpus").mkdir()
    for split, part in (("train", pairs[:60]), ("dev", pairs[60:75]), ("test", pairs[75:])):
        (folder / "my-corpus" / f"{split}.en").write_text("".join(a.capitalize() + "\n" for a, _ in part))
        (folder / "my-corpus" / f"{split}.fr").write_text("".join(b.capitalize() + "\n" for _, b in part))


@pytest.mark.parametrize("page", PAGES)
def test_every_block_runs(page, tmp_path):
    corpus(tmp_path)
    env = {**os.environ, "ROT90_SET": TINY, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "OMP_NUM_THREADS": "1"}
    ran = 0
    for lang, code, skipped in blocks(page):
        if skipped or lang not in ("sh", "python"):
            continue
        cmd = ["bash", "-euo", "pipefail", "-c", code] if lang == "sh" else [sys.executable, "-c", code]
        r = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, f"{page}: this {lang} block failed:\n{code}\n--- stderr:\n{r.stderr[-3000:]}"
        ran += 1
    assert ran or page.startswith("docs/howto/"), f"{page}: no block ran"


def slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_relative_link_resolves():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    broken = []
    for page in pages:
        text = page.read_text()
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
            elif anchor and dest.suffix == ".md":
                anchors = {slug(h) for h in re.findall(r"^#+ (.+)$", dest.read_text(), re.M)}
                if anchor not in anchors:
                    broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert broken == []


def test_the_readme_is_a_front_door():
    lines = (ROOT / "README.md").read_text().split("\n")
    assert len(lines) <= 150
    text = "\n".join(lines[:90])  # the first two screens: install, the drop-in, your own data, Python translation
    for needle in ("## Install", "rot90.LSTM(", "data.path=my-corpus", "rot90.Translator.load"):
        assert needle in text, needle
