"""scripts/peer-opennmt's first step without the peer: --prepare-only writes the data and the SentencePiece model a
search's trials share, and installs nothing (the peer's environment is 5.5 GB from the package index)."""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "peer-opennmt"


def test_prepare_only_writes_the_shared_tokenizer_and_installs_nothing(tmp_path):
    venv, out = tmp_path / "peer-venv", tmp_path / "out"
    done = subprocess.run([sys.executable, str(SCRIPT), "--numbers", "--prepare-only", "--vocab", "300", "--out",
                           str(out), "--peer-venv", str(venv)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert Path(done.stdout.strip()) == out / "sp.model" and (out / "sp.model").stat().st_size > 0
    for split in ("train", "dev", "test"):
        en, fr = ((out / "data" / f"{split}.{lang}").read_text(encoding="utf-8").splitlines() for lang in ("en", "fr"))
        assert len(en) == len(fr) > 0
    assert not venv.exists()
