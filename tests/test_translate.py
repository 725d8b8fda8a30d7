"""A tiny translation model trained here on numbers in words; translate and eval on it."""

import io
import subprocess
import sys

import pytest

from rot90.cli import main
from rot90.train.config import load
from rot90.train.trainer import train
from rot90.translate import Translator, translate_stream


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("numbers")
    cfg = load(None, ["data.task=numbers", "data.vocab_size=200", "data.batch_tokens=1024", "data.max_len=20",
                      "model.hidden=64", "model.attention=dot", "optim.lr=3e-3", "train.steps=300",
                      "train.eval_every=300", "train.eval_batches=4", "train.checkpoint_every=300"])
    train(cfg, out, log=lambda m: None)
    return out


def test_the_model_learns_numbers(run):
    rows = (run / "metrics.jsonl").read_text().splitlines()
    assert '"dev_bleu"' in rows[-1]
    bleu = float(rows[-1].split('"dev_bleu": ')[1].rstrip("}"))
    assert bleu > 30, bleu  # an untrained or broken model scores near 0


def test_translate_lines_empty_and_over_long(run, capsys):
    tr = Translator(run)
    out = io.StringIO()
    lines = b"forty-five\n\n" + b"one hundred and one " * 10 + b"\n"
    assert translate_stream(tr, io.BytesIO(lines), "stdin", out=out, beam=3) == 3
    text = out.getvalue().split("\n")
    assert text[1] == "" and text[0] and text[2]  # an empty line gives an empty line
    err = capsys.readouterr().err
    assert "warning: stdin:3:" in err and "cut to the 20 the model was trained on" in err


def test_translate_command_non_utf8_and_nbest(run):
    r = subprocess.run([sys.executable, "-m", "rot90", "translate", "--model", str(run)], input=b"ten\n\xff\xfe\n",
                       capture_output=True, timeout=120)
    assert r.returncode == 2 and r.stderr.decode().strip() == "rot90 translate: error: stdin:2: not UTF-8"
    r = subprocess.run([sys.executable, "-m", "rot90", "translate", "--model", str(run), "--nbest", "3"],
                       input=b"twelve\n", capture_output=True, timeout=120)
    hyps = r.stdout.decode().rstrip("\n").split("\n")  # n lines of text<TAB>score, then a blank one
    assert r.returncode == 0 and len(hyps) == 3 and all("\t" in h for h in hyps)


def test_eval_reports_bleu_chrf_with_signatures(run, capsys):
    assert main(["eval", "--model", str(run), "--split", "dev", "--beam", "2"]) == 0
    out = capsys.readouterr().out
    assert "BLEU" in out and "nrefs:1|case:mixed" in out and "chrF" in out and "sentences/s" in out
