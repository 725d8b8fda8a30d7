"""The command line: tables for humans, one-line errors and exit code 2 for bad input."""

import subprocess
import sys

from rot90.cli import main


def rot90(*args):
    return subprocess.run([sys.executable, "-m", "rot90", *args], capture_output=True, text=True, timeout=300)


def test_check_prints_the_table_and_passes(capsys):
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "rot90.LSTM(residual) vs torch.nn.LSTM" in out
    assert "rot90.LSTM(residual, proj_size=3) vs torch.nn.LSTM" in out
    assert "rotate(rotate(mingru layer)) vs layer" in out
    assert "rot90.RNN(torch) vs torch.nn.RNN" in out
    assert "22/22 within their bounds" in out


def test_check_fails_when_a_difference_is_above_its_bound(capsys, monkeypatch):
    import rot90.lab.check

    monkeypatch.setattr(rot90.lab.check, "bound", lambda dtype, chain: 0.0)  # fp32 rounding differs from torch's order
    assert main(["check"]) == 1
    assert "above its bound" in capsys.readouterr().out


def test_bad_arguments_exit_2_without_traceback():
    for args in (["nonsense"], ["check", "--full", "abc"], ["bench", "--batch", "x"], []):
        r = rot90(*args)
        assert r.returncode == 2, args
        assert "Traceback" not in r.stderr
        assert r.stderr.strip().splitlines()[-1].startswith("rot90")
