"""The translation corpus builder: cleaning rules, the split, bad input, and a small real build."""

import json
import shutil
import subprocess

import pytest

from rot90.cli import main
from rot90.data.io import DataError, read_pairs
from rot90.data.translation import BuildConfig, Package, assemble, clean_pair, read_help, strip_accelerator


@pytest.mark.parametrize("raw,want", [("_File", "File"), ("&Open file", "Open file"), ("~Save As", "Save As"),
                                      ("Save _As", "Save As"), ("Fi&le", "File"), ("snake_case", "snake_case"),
                                      ("Fish && Chips", "Fish & Chips")])
def test_accelerators_are_stripped(raw, want):
    assert strip_accelerator(raw) == want


@pytest.mark.parametrize("en", ["Could not open %s for reading", "Copy %1 files now", "Delete %1$s from the list",
                                "Remove {name} from the list", "Open the {0} file now", "Set $HOME for the user",
                                "Value is %(count)d items", "Click <b>here</b> to continue", "Fish &amp; chips today"])
def test_placeholders_and_markup_are_dropped(en):
    assert clean_pair(en, "une traduction quelconque ici") is None


def test_length_untranslated_and_whitespace():
    assert clean_pair("Open", "Ouvrir") is None  # fewer than 3 words
    assert clean_pair(" ".join(["word"] * 51), "mot") is None
    assert clean_pair("Open the file", "Open the file") is None  # untranslated
    assert clean_pair("Open the file", "") is None
    assert clean_pair("Open  the\n_file", "Ouvrir  le\tfichier") == ("Open the file", "Ouvrir le fichier")


def test_help_paragraphs_by_id():
    html = (b'<html><body><h1 id="hd_id1">Print <span>Preview</span></h1>'
            b'<p id="par_id2" class="paragraph">Use the <a href="x">icons</a> to zoom.</p><p>no id</p></body></html>')
    assert read_help(html) == {"hd_id1": "Print Preview", "par_id2": "Use the icons to zoom."}


def test_split_is_by_package_and_english_lives_in_one_split():
    def pkg(name, pairs):
        return Package(name, version="1", pairs=pairs)

    shared = ("Open the selected file", "Ouvrir le fichier choisi")
    packages = [
        pkg("a", [shared, ("Close all open windows", "Fermer toutes les fenêtres")]),
        pkg("b", [shared, ("Quit the program now", "Quitter le programme")]),
        pkg("c", [shared, ("Print the whole document", "Imprimer tout le document"),
                  ("Print the whole document", "Imprimer le document entier"),
                  ("Print the whole document", "Imprimer tout le document")]),
    ]
    splits, manifest = assemble(packages, BuildConfig(test=("a",), dev=("b",)))
    english = {s: {en for en, _ in rows} for s, rows in splits.items()}
    assert shared[0] in english["test"] and shared[0] not in english["dev"] | english["train"]
    assert english["dev"] == {"Quit the program now"}
    assert dict(splits["train"]) == {"Print the whole document": "Imprimer tout le document"}  # most common
    assert {n: p["split"] for n, p in manifest["packages"].items()} == {"a": "test", "b": "dev", "c": "train"}
    assert not (english["test"] & english["dev"]) and not (english["dev"] & english["train"])


def test_an_empty_corpus_is_refused():
    with pytest.raises(DataError, match="corpus would be empty"):
        assemble([Package("a", pairs=[("%s", "%s")])], BuildConfig())


def test_parallel_text_bad_input(tmp_path):
    (tmp_path / "empty.tsv").write_text("")
    with pytest.raises(DataError, match="empty.tsv: file is empty"):
        read_pairs(tmp_path / "empty.tsv")
    (tmp_path / "latin1.tsv").write_bytes("one\tun\ncafé\tcafé\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1.tsv:2: not UTF-8"):
        read_pairs(tmp_path / "latin1.tsv")
    (tmp_path / "a.txt").write_text("one\ntwo\nthree\n")
    (tmp_path / "b.txt").write_text("un\ndeux\n")
    with pytest.raises(DataError, match="a.txt has 3 lines, .*b.txt has 2"):
        read_pairs(tmp_path / "a.txt", tmp_path / "b.txt")
    (tmp_path / "ok.tsv").write_text("one two\tun deux\n\t\nthree\t\n" + "w " * 60 + "\tx\nfour\tquatre\n")
    pairs, stats = read_pairs(tmp_path / "ok.tsv", max_words=50)
    assert pairs == [("one two", "un deux"), ("four", "quatre")]
    assert (stats.blank, stats.too_long, stats.pairs) == (2, 1, 2)
    (tmp_path / "notab.tsv").write_text("one\n")
    with pytest.raises(DataError, match="notab.tsv:1: expected source<TAB>target"):
        read_pairs(tmp_path / "notab.tsv")


def _apt_ready() -> bool:
    if not (shutil.which("apt-get") and shutil.which("dpkg-deb")):
        return False
    return subprocess.run(["apt-cache", "show", "util-linux-locales"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _apt_ready(), reason="needs Debian's apt with package lists (apt-get update)")
def test_small_real_build(tmp_path, capsys):
    """Two small real packages from Debian, one held out as test; a third name that does not exist."""
    out = tmp_path / "corpus"
    code = main(["data", "build", "translation", "--lang", "fr", "--out", str(out), "--cache", str(tmp_path / "debs"),
                 "--packages", "util-linux-locales", "gcc-*-locales", "no-such-package-rot90",
                 "--test", "util-linux-locales", "--dev", "none"])
    assert code == 0
    printed = capsys.readouterr()
    assert "no-such-package-rot90" in printed.err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["packages"]["util-linux-locales"]["split"] == "test"
    assert any(n.startswith("gcc-") for n in manifest["packages"])
    assert all(p["licence"] and p["version"] for p in manifest["packages"].values())
    test = (out / "test.tsv").read_text().splitlines()
    train = (out / "train.tsv").read_text().splitlines()
    assert len(test) > 100 and len(train) > 100
    assert not {line.split("\t")[0] for line in test} & {line.split("\t")[0] for line in train}
    assert f"  test  {len(test):>7} pairs  from " in printed.out  # the line the CLI prints for the split


@pytest.mark.parametrize("en", ['"$(ARG1)" cannot be passed on to it', 'Shows "%r" and "%a" here now',
                                "Type \\n for a new line"])
def test_more_non_prose_is_dropped(en):
    assert clean_pair(en, "une traduction quelconque ici") is None


def test_percent_in_prose_is_kept():
    assert clean_pair("Zoom to 50 % now", "Zoom à 50 % maintenant") is not None


@pytest.mark.parametrize("args,message", [
    (["data", "build", "translation", "--lang", "es"], "--lang es: choose fr or de"),
    (["data", "build", "poems"], "unknown corpus kind 'poems'"),
    (["data", "build", "text", "--corpus", "wiki"], "unknown text corpus 'wiki'"),
])
def test_data_command_bad_input_exits_2(capsys, args, message):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
