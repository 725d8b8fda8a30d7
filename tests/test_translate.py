"""A tiny translation model trained here on numbers in words; translate and eval on it."""

import io
import subprocess
import sys

import pytest

from rot90.cli import main
from rot90.config import load
from rot90.run import train
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
    import json

    last = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()][-1]
    bleu = last["dev_bleu"]
    assert bleu > 30, bleu  # an untrained or broken model scores near 0


def test_the_python_api(run):
    """rot90.Translator.load(path).translate(...): a string for a string, a list for a list, n-best with scores."""
    import rot90

    tr = rot90.Translator.load(run, device="cpu")
    one = tr.translate("forty-two")
    assert isinstance(one, str) and one
    many = tr.translate(["forty-two", "", "seven"], beam=3)
    assert many[0] == tr.translate("forty-two", beam=3) and many[1] == "" and len(many) == 3
    best = tr.translate("forty-two", beam=3, nbest=3)
    assert len(best) == 3 and all(isinstance(t, str) and isinstance(s, float) for t, s in best)
    assert [s for _, s in best] == sorted((s for _, s in best), reverse=True)
    assert best[0][0] == tr.translate("forty-two", beam=3)
    assert isinstance(rot90.Translator.load(run, device="cpu", precision="bf16").translate("forty-two"), str)
    with pytest.raises(ValueError, match="1 <= nbest <= beam"):
        tr.translate("forty-two", beam=2, nbest=3)
    with pytest.raises(ValueError, match="a string or a list of strings"):
        tr.translate([1, 2])
    assert isinstance(tr.translate("forty-two", beam=3, stop="best-ended"), str)
    with pytest.raises(ValueError, match="stop one of k-ended, best-ended; .* stop='soon'"):
        tr.translate("forty-two", stop="soon")


def test_translate_lines_empty_and_over_long(run, capsys, caplog):
    tr = Translator(run)
    out = io.StringIO()
    lines = b"forty-five\n\n" + b"one hundred and one " * 10 + b"\n"
    assert translate_stream(tr, io.BytesIO(lines), "stdin", out=out, beam=3) == 3
    text = out.getvalue().split("\n")
    assert text[1] == "" and text[0] and text[2]  # an empty line gives an empty line
    err = capsys.readouterr().err + caplog.text  # (stderr once the CLI has set up the "rot90" logger; else logging's)
    assert "warning: stdin:3:" in err and "over the 20 the model was trained on: translated in" in err


def test_read_ahead_lines_are_decoded_by_length_and_written_in_input_order(run, monkeypatch):
    tr = Translator(run)
    lines = ["one hundred and one", "five", "", "forty-two thousand and seven", "seven", "twelve", "ninety"]
    batches = []
    decode = tr.translate_ids
    monkeypatch.setattr(tr, "translate_ids", lambda ids, **kw: batches.append(ids) or decode(ids, **kw))
    out = io.StringIO()
    data = "".join(f"{line}\n" for line in lines).encode()
    assert translate_stream(tr, io.BytesIO(data), "f", out=out, batch=2, beam=3) == len(lines)
    assert [len(b) for b in batches] == [2, 2, 2, 1]  # one buffer of 7 lines, shortest first
    assert [len(tr.tokenizer.encode(line)) for line in ("", "five")] == [len(x) for x in batches[0]]
    assert out.getvalue().split("\n")[:-1] == [tr.translate(line, beam=3) for line in lines]
    batches.clear()
    translate_stream(tr, io.BytesIO(data), "f", out=io.StringIO(), batch=2, buffer=3, beam=3)
    assert [len(b) for b in batches] == [2, 1, 2, 1, 1]  # buffers of 3, 3, 1 lines


def test_a_line_three_times_the_training_length_is_translated_whole(run):
    """Its last words are translated: the line is split at sentence ends, each piece translated, joined in order."""
    tr = Translator(run)
    sentences = ["nine thousand nine hundred and ninety-eight, seven thousand seven hundred and seventy-seven.",
                 "eight thousand eight hundred and eighty-eight, six thousand six hundred and sixty-six.",
                 "five thousand five hundred and fifty-five, four thousand four hundred and forty-four.",
                 "three thousand three hundred and thirty-three, two thousand two hundred and twenty-two."]
    line = " ".join(sentences)
    n = [len(tr.tokenizer.encode(s)) for s in sentences]
    assert len(tr.tokenizer.encode(line)) >= 3 * tr.max_len  # three times what the model was trained on
    assert max(n) <= tr.max_len < min(a + b for a, b in zip(n, n[1:]))  # so each sentence is one piece
    alone = [tr.translate_lines([s], beam=3)[0][0][0] for s in sentences]
    whole = tr.translate_lines([line], beam=3, warn=False)[0][0][0]
    assert whole.endswith(alone[-1]) and whole == " ".join(alone)  # nothing of the tail lost


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
    assert main(["eval", "--model", str(run), "--split", "dev", "--beam", "2", "--stop", "best-ended"]) == 0
    assert "beam 2 (best-ended, shortlist)" in capsys.readouterr().out  # training made a shortlist


def test_the_commands_offer_every_stopping_rule():
    from rot90.cli import SHARED
    from rot90.models.search import STOPS

    assert tuple(SHARED["stop"][1]["choices"]) == STOPS


def _export_copy(run, tmp_path):
    import shutil

    shutil.copytree(run / "export", tmp_path / "export")
    return tmp_path / "export"


DAMAGE = {
    "config not JSON": ("config.json", b"{not json", "config.json: not valid JSON"),
    "config not an object": ("config.json", b"[1, 2]", "not a rot90 export"),
    "config without model_args": ("config.json", b'{"model_class": "RecurrentSeq2Seq"}', "not a rot90 export"),
    "unknown model class": ("config.json", None, "unknown model class 'Mamba'"),
    "absurd size": ("config.json", None, "weights do not fit the model config.json describes"),
    "truncated weights": ("model.safetensors", None, "damaged or not a safetensors file"),
    "broken tokenizer": ("sentencepiece.model", b"\x00garbage", "sentencepiece.model: not a SentencePiece model"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_export_is_one_line_and_exit_2(run, tmp_path, damage):
    import json

    export = _export_copy(run, tmp_path)
    name, data, message = DAMAGE[damage]
    path = export / name
    if damage == "unknown model class":
        data = json.dumps({**json.loads(path.read_text()), "model_class": "Mamba"}).encode()
    elif damage == "absurd size":  # 10^6 units: meta-device shapes say no before 10^12 weights are allocated
        info = json.loads(path.read_text())
        data = json.dumps({**info, "model_args": {**info["model_args"], "hidden": 10**6}}).encode()
    elif damage == "truncated weights":
        data = path.read_bytes()[:100]
    path.write_bytes(data)
    before = {p.name: p.read_bytes() for p in export.iterdir()}
    r = subprocess.run([sys.executable, "-m", "rot90", "translate", "--model", str(export)], input=b"ten\n",
                       capture_output=True, timeout=120)
    err = r.stderr.decode().strip().splitlines()
    assert r.returncode == 2 and len(err) == 1 and message in err[0], err
    assert {p.name: p.read_bytes() for p in export.iterdir()} == before


def test_lines_before_a_bad_one_are_translated_and_a_closed_pipe_is_quiet(run):
    r = subprocess.run([sys.executable, "-m", "rot90", "translate", "--model", str(run), "--beam", "1"],
                       input=b"ten\ntwelve\n\xff\n", capture_output=True, timeout=120)
    assert r.returncode == 2 and r.stderr.decode().strip() == "rot90 translate: error: stdin:3: not UTF-8"
    assert len(r.stdout.decode().splitlines()) == 2  # the two good lines were written before the error
    p = subprocess.Popen([sys.executable, "-m", "rot90", "translate", "--model", str(run), "--beam", "1",
                          "--batch", "8"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdin.write(b"seven\n" * 400)
    p.stdin.close()
    assert p.stdout.readline()  # `| head -1`: read one line, then close the pipe
    p.stdout.close()
    assert p.wait(timeout=120) == 0 and p.stderr.read() == b""


def test_select_bleu_exports_the_best_step_and_average_exports_the_mean(tmp_path):
    import json

    import torch

    from rot90 import load

    cfg = load_config_for_selection()
    train(cfg, tmp_path, log=lambda m: None)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    bleu = [(r["step"], r["dev_bleu"]) for r in rows if "dev_bleu" in r]
    assert len(bleu) == 4 and all("dev_chrf" in r for r in rows if "dev_bleu" in r)
    best_step = max(bleu, key=lambda r: r[1])[0]  # the first of equal maxima: improvement is strict
    info = json.loads((tmp_path / "export" / "config.json").read_text())
    assert info["step"] == best_step and info["selected"] == "best dev bleu"
    best = torch.load(tmp_path / "ckpt" / "best.pt", weights_only=True)
    exported, _ = load(tmp_path)
    assert all(torch.equal(v, best["model"][k]) for k, v in exported.state_dict().items())

    assert main(["average", str(tmp_path), "--last", "2"]) == 0
    avg_info = json.loads((tmp_path / "export-avg2" / "config.json").read_text())
    assert avg_info["averaged"] == [80, 60]
    states = [torch.load(tmp_path / "ckpt" / f"step-{s:07d}.pt", weights_only=True)["model"] for s in (60, 80)]
    averaged, _ = load(tmp_path / "export-avg2")
    for k, v in averaged.state_dict().items():
        torch.testing.assert_close(v, (states[0][k].double() + states[1][k].double()).div(2).to(v.dtype))
    assert Translator(tmp_path / "export-avg2").translate_ids([[5, 6, 7]], beam=2)[0][0][0] is not None
    assert main(["average", str(tmp_path), "--last", "9"]) == 2  # more than the kept checkpoints: one line


def load_config_for_selection():
    return load(None, ["data.task=numbers", "data.vocab_size=200", "data.batch_tokens=512", "data.max_len=20",
                       "model.hidden=32", "model.attention=dot", "optim.lr=3e-3", "train.steps=80",
                       "train.eval_every=20", "train.eval_batches=2", "train.checkpoint_every=20", "train.keep=3",
                       "train.select=bleu"])


def test_plain_parallel_files_without_dev_train_export_translate_and_eval(tmp_path, capsys):
    import json

    from rot90.data.synthetic import number_splits

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    splits = number_splits("fr", low=0, high=999, dev=20, test=30, seed=0)
    for split in ("train", "test"):  # no dev split: the layout of many corpora
        (corpus / f"{split}.en").write_text("".join(a + "\n" for a, _ in splits[split]))
        (corpus / f"{split}.fr").write_text("".join(b + "\n" for _, b in splits[split]))
    sets = ["data.task=translate", f"data.path={corpus}", "data.src_lang=en", "data.lang=fr", "data.vocab_size=120",
            "data.batch_tokens=512", "data.max_len=20", "model.hidden=32", "train.steps=20", "train.eval_every=10",
            "train.checkpoint_every=10"]
    assert main(["train", "--out", str(tmp_path / "run"), *[a for s in sets for a in ("--set", s)]]) == 0
    err = capsys.readouterr().err
    assert f"warning: {corpus} has no dev split: no dev metrics" in err
    assert "no dev split" in err and "translations use alpha=0.6" in err
    info = json.loads((tmp_path / "run" / "export" / "config.json").read_text())
    assert info["step"] == 20 and info["selected"] == "last step (no dev evaluation)"
    assert Translator(tmp_path / "run").translate_ids([[5, 6]], beam=2)[0][0][0] is not None
    assert main(["eval", "--model", str(tmp_path / "run"), "--split", "test", "--beam", "1"]) == 0
    assert "test: 30 sentences" in capsys.readouterr().out

    # explicit files instead of a folder: a prefix read as PREFIX.en + PREFIX.fr, as fairseq's --trainpref
    files = [s for s in sets if not s.startswith("data.path=")] + [f"data.train_file={corpus / 'train'}",
                                                                   f"data.test_file={corpus / 'test'}"]
    assert main(["train", "--out", str(tmp_path / "files"), *[a for s in files for a in ("--set", s)],
                 "--set", "train.steps=2"]) == 0
    assert main(["eval", "--model", str(tmp_path / "files"), "--split", "test", "--beam", "1"]) == 0
    assert "test: 30 sentences" in capsys.readouterr().out
    nope = [*files, f"data.dev_file={corpus / 'nope'}"]
    assert main(["train", "--out", str(tmp_path / "nope"), *[a for s in nope for a in ("--set", s)]]) == 2
    assert "data.dev_file" in capsys.readouterr().err and not (tmp_path / "nope").exists()

    # an existing SentencePiece model instead of training one: the run uses it as it is
    model = tmp_path / "run" / "export" / "sentencepiece.model"
    sets2 = [*sets, f"data.tokenizer={model}", "train.steps=2"]
    assert main(["train", "--out", str(tmp_path / "run2"), *[a for s in sets2 for a in ("--set", s)]]) == 0
    assert (tmp_path / "run2" / "export" / "sentencepiece.model").read_bytes() == model.read_bytes()
    (tmp_path / "bad.model").write_bytes(b"not a model")
    bad = [*sets, f"data.tokenizer={tmp_path / 'bad.model'}"]
    assert main(["train", "--out", str(tmp_path / "run3"), *[a for s in bad for a in ("--set", s)]]) == 2
    assert "bad.model': not a SentencePiece model" in capsys.readouterr().err
    assert not (tmp_path / "run3").exists()


def test_the_length_penalty_is_chosen_on_dev_and_used_unless_told(run, capsys):
    """The export records the alpha with the best dev BLEU of the grid (rot90.translate.choose_alpha); translate
    and eval use it when given no alpha."""
    import json

    from rot90.translate import ALPHAS, split_pairs

    d = json.loads((run / "export" / "config.json").read_text())["decoding"]
    assert d["dev_sentences"] == 200 and list(d["grid"]) == [f"{a:g}" for a in ALPHAS]
    assert d["alpha"] in ALPHAS and d["grid"][f"{d['alpha']:g}"]["bleu"] == max(r["bleu"] for r in d["grid"].values())
    tr = Translator(run, "cpu")
    assert tr.alpha == d["alpha"]
    sources = [s for s, _ in split_pairs(tr, "dev")[:16]]
    assert tr.translate(sources, beam=3) == tr.translate(sources, beam=3, alpha=d["alpha"])
    assert main(["eval", "--model", str(run), "--split", "dev", "--limit", "4"]) == 0
    assert f"alpha {d['alpha']:g}," in capsys.readouterr().out


def test_eval_writes_its_hypotheses_and_the_length_ratio(run, tmp_path, capsys):
    out, nbest = tmp_path / "hyps.txt", tmp_path / "nbest.txt"
    assert main(["eval", "--model", str(run), "--split", "dev", "--limit", "12", "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "hypothesis/reference length" in printed
    lines = out.read_text().split("\n")
    assert len(lines) == 13 and lines[-1] == "" and all(lines[:12])  # one per sentence, in the split's order
    assert main(["eval", "--model", str(run), "--split", "dev", "--limit", "12", "--beam", "3", "--nbest", "2",
                 "--output", str(nbest)]) == 0
    blocks = nbest.read_text().split("\n\n")
    assert len([b for b in blocks if b.strip()]) == 12
    assert all(len(b.strip().split("\n")) == 2 and "\t" in b for b in blocks if b.strip())


def test_a_person_typing_gets_each_line_as_it_is_typed(run):
    """On a terminal, the first line's translation appears before the second line is typed."""
    import os
    import pty
    import select

    main_fd, tty = pty.openpty()
    p = subprocess.Popen([sys.executable, "-m", "rot90", "translate", "--model", str(run), "--device", "cpu"],
                         stdin=tty, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    os.close(tty)
    try:
        os.write(main_fd, b"forty-two\n")
        ready, _, _ = select.select([p.stdout], [], [], 120)
        assert ready, "no translation of the first line while the second is not typed yet"
        first = p.stdout.readline().decode().strip()
        assert first
        os.write(main_fd, b"seven\n\x04")  # the second line, then end of input (Ctrl-D)
        assert p.wait(timeout=120) == 0
        assert p.stdout.read().decode().strip()
    finally:
        p.kill()
        os.close(main_fd)


def test_a_shortlist_is_made_used_when_asked_and_covering_everything_changes_nothing(run, tmp_path, capsys):
    import shutil

    folder = shutil.copytree(run, tmp_path / "run", ignore=shutil.ignore_patterns("ckpt"))
    lines = ["forty-two", "one hundred and one", "seven thousand"]
    assert (folder / "export" / "shortlist.safetensors").exists()  # training made one
    plain = Translator(folder).translate(lines, beam=3, shortlist=False)
    assert main(["shortlist", str(folder), "--best", "1000", "--frequent", "1000"]) == 0  # every token
    assert "from 9,600 training pairs" in capsys.readouterr().out
    tr = Translator(folder)
    assert tr.shortlist is not None and tr.translate(lines, beam=3, shortlist=True) == plain
    assert main(["shortlist", str(folder), "--best", "2", "--frequent", "5"]) == 0
    tr = Translator(folder)
    table, frequent = tr.shortlist
    assert table.shape == (200, 2) and len(frequent) == 5
    assert all(isinstance(t, str) for t in tr.translate(lines, beam=3, shortlist=True))
    assert main(["eval", "--model", str(folder), "--split", "dev", "--beam", "2", "--limit", "20",
                 "--shortlist"]) == 0
    assert "beam 2 (k-ended, shortlist)" in capsys.readouterr().out
    (folder / "export" / "shortlist.safetensors").write_bytes(b"not safetensors")
    assert main(["translate", "--model", str(folder), "--shortlist", "--input", str(folder / "config.json")]) == 2
    assert "shortlist.safetensors: not a rot90 shortlist" in capsys.readouterr().err
