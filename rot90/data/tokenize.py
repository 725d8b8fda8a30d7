"""Tokenisers and batching: SentencePiece for translation, characters for language models.

A tokenizer has a `hash` (sha256 of what defines its ids): a model records the hash it was trained
with and refuses a tokenizer whose hash differs, so ids never silently change meaning.

Batches are made by token count with length bucketing, as Sutskever et al. (2014) did for a
2x speed-up: sequences of similar length share a batch, so little of it is padding.
"""

from __future__ import annotations

import hashlib
import random
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock  # (a dependency of torch's)

from ..extras import need
from ..files import atomic_write, cache_dir
from ..runs import derive_seed
from ..tokens import BOS, EOS, PAD, UNK
from .io import DataError


class CharTokenizer:
    """Characters of the training text, plus pad/bos/eos/unk at ids 0..3."""

    def __init__(self, chars: str):
        self.chars = "".join(sorted(set(chars)))
        self.index = {c: i + 4 for i, c in enumerate(self.chars)}
        self.hash = hashlib.sha256(("char:" + self.chars).encode()).hexdigest()

    @classmethod
    def train(cls, text: str) -> CharTokenizer:
        if not text:
            raise DataError("cannot build a character vocabulary from empty text")
        return cls(text)

    def __len__(self):
        return len(self.chars) + 4

    def encode(self, text: str) -> list[int]:
        return [self.index.get(c, UNK) for c in text]

    def decode(self, ids: list[int]) -> str:
        return "".join(self.chars[i - 4] for i in ids if i >= 4)

    def save(self, path: Path):
        Path(path).write_text(self.chars, encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> CharTokenizer:
        return cls(Path(path).read_text(encoding="utf-8"))


class SentencePiece:
    """A SentencePiece model (BPE or unigram), seen through rot90's ids: pad=0, bos=1, eos=2, unk=3.

    rot90 trains its models with that layout. A model of any other layout (spm_train's defaults: unk=0, bos=1,
    eos=2, no pad; OPUS-MT/Marian's) is mapped, not refused: its own special ids go to rot90's, its other
    pieces to 4, 5, ... in its order.
    """

    def __init__(self, model: bytes):
        spm = need("sentencepiece", "nmt")

        self.model = model
        self.sp = spm.SentencePieceProcessor(model_proto=model)
        # The pieces and their scores define the ids; the proto's trainer spec (paths) does not.
        n = self.sp.get_piece_size()
        pieces = "\n".join(f"{self.sp.id_to_piece(i)}\t{self.sp.get_score(i)}" for i in range(n))
        self.hash = hashlib.sha256(("sentencepiece:" + pieces).encode()).hexdigest()
        special = {self.sp.pad_id(): PAD, self.sp.bos_id(): BOS, self.sp.eos_id(): EOS, self.sp.unk_id(): UNK}
        special.pop(-1, None)  # a special piece the model does not have (spm_train's default: no pad)
        if special == {PAD: PAD, BOS: BOS, EOS: EOS, UNK: UNK}:
            self.ours = self.theirs = None  # rot90's own layout: ids as they are
        else:
            others = [i for i in range(n) if i not in special]
            self.ours = [special.get(i, 0) for i in range(n)]  # their id -> ours
            for k, i in enumerate(others):
                self.ours[i] = 4 + k
            self.theirs = [self.sp.pad_id(), self.sp.bos_id(), self.sp.eos_id(), self.sp.unk_id()] + others

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 8000, model_type: str = "bpe") -> SentencePiece:
        """Train on `texts` (the train split only), deterministically; the texts are streamed to a file."""
        spm = need("sentencepiece", "nmt")

        if model_type not in ("bpe", "unigram"):
            raise DataError(f"unknown SentencePiece model type {model_type!r}: choose bpe or unigram")
        with tempfile.TemporaryDirectory() as tmp:
            corpus, lines = Path(tmp) / "corpus.txt", 0
            with open(corpus, "w", encoding="utf-8") as f:
                for t in texts:
                    if t.strip():
                        f.write(t.replace("\n", " ") + "\n")
                        lines += 1
            if not lines:
                raise DataError("cannot train SentencePiece on empty text")
            try:
                spm.SentencePieceTrainer.train(
                    input=str(corpus), model_prefix=str(Path(tmp) / "sp"), vocab_size=vocab_size,
                    model_type=model_type, character_coverage=1.0, pad_id=PAD, bos_id=BOS, eos_id=EOS, unk_id=UNK,
                    hard_vocab_limit=False, num_threads=1, minloglevel=2,  # one thread: deterministic
                    input_sentence_size=0, shuffle_input_sentence=False)
            except RuntimeError as e:  # SentencePiece's own words, without its source location
                why = str(e).splitlines()[0].split("] ")[-1]
                raise DataError(f"SentencePiece cannot train a vocabulary of data.vocab_size={vocab_size} on this "
                                f"text: {why}") from None
            return cls((Path(tmp) / "sp.model").read_bytes())

    @classmethod
    def cached(cls, pairs: list[tuple[str, str]], vocab_size: int = 8000, model_type: str = "bpe",
               cache: Path | None = None) -> SentencePiece:
        """The model trained on these pairs with these settings, trained once and kept.

        Keyed by the sha256 of the pairs and the settings, in rot90's cache (files.cache_dir): every
        rank of a run, every resume and every run on the same data reads the same file. One process
        trains while the others wait on a lock, then read its result.
        """
        spm = need("sentencepiece", "nmt")
        h = hashlib.sha256(f"{vocab_size}:{model_type}:{spm.__version__}\n".encode())
        for a, b in pairs:
            h.update(f"{a}\t{b}\n".encode())
        cache = Path(cache) if cache else cache_dir("sentencepiece")
        path = cache / f"{h.hexdigest()[:32]}.model"
        cache.mkdir(parents=True, exist_ok=True)
        with FileLock(cache / f"{path.stem}.lock"):  # two runs training the same vocabulary: one trains, one reads
            if path.exists():
                try:
                    return cls(path.read_bytes())
                except (RuntimeError, OSError):
                    path.unlink(missing_ok=True)  # a damaged cache entry: train again
            sp = cls.train((t for pair in pairs for t in pair), vocab_size=vocab_size, model_type=model_type)
            atomic_write(path, sp.model)
            return sp

    @classmethod
    def load_checked(cls, path: Path) -> SentencePiece:
        """An existing SentencePiece model (data.tokenizer), or DataError naming the file."""
        path = Path(path)
        if not path.is_file():
            raise DataError(f"data.tokenizer {str(path)!r}: no such file")
        try:
            sp = cls(path.read_bytes())
        except (RuntimeError, OSError) as e:
            raise DataError(f"data.tokenizer {str(path)!r}: not a SentencePiece model ({e})") from None
        if sp.sp.unk_id() < 0:
            raise DataError(f"data.tokenizer {str(path)!r}: the model has no unknown piece (unk_id); rot90 needs one")
        return sp

    def __len__(self):
        return self.sp.get_piece_size() if self.theirs is None else len(self.theirs)

    def encode(self, text: str) -> list[int]:
        ids = self.sp.encode(text)
        return ids if self.ours is None else [self.ours[i] for i in ids]

    def decode(self, ids: list[int]) -> str:
        ids = [i for i in ids if i > UNK or i == UNK]  # pad, bos and eos are not text
        return self.sp.decode(ids if self.theirs is None else [self.theirs[i] for i in ids])

    def save(self, path: Path):
        Path(path).write_bytes(self.model)

    @classmethod
    def load(cls, path: Path) -> SentencePiece:
        return cls(Path(path).read_bytes())


def collate_pairs(pairs: list[tuple[list[int], list[int]]]) -> dict:
    """Token-id pairs -> padded src (B, S), src_len (B,), tgt_in = BOS y (B, T), tgt_out = y EOS (B, T)."""
    import torch

    B, S, T = len(pairs), max(len(a) for a, _ in pairs), max(len(b) for _, b in pairs) + 1
    src, tgt_in, tgt_out = (torch.zeros(B, n, dtype=torch.long) for n in (S, T, T))
    for i, (a, b) in enumerate(pairs):
        src[i, :len(a)] = torch.tensor(a)
        tgt_in[i, :len(b) + 1] = torch.tensor([BOS] + b)
        tgt_out[i, :len(b) + 1] = torch.tensor(b + [EOS])
    return {"src": src, "src_len": torch.tensor([len(a) for a, _ in pairs]), "tgt_in": tgt_in, "tgt_out": tgt_out}


def check_hash(expected: str, tokenizer) -> None:
    """Refuse a tokenizer other than the one a model was trained with."""
    if tokenizer.hash != expected:
        raise DataError(f"tokenizer mismatch: the model was trained with vocabulary {expected[:12]}, "
                        f"this tokenizer is {tokenizer.hash[:12]}")


@dataclass
class TokenBatches:
    """Index batches of at most max_tokens tokens (padded size), similar lengths together."""

    lengths: list[int]
    max_tokens: int
    shuffle: bool = True
    seed: int = 0

    def batches(self, epoch: int = 0) -> list[list[int]]:
        if any(n > self.max_tokens for n in self.lengths):
            raise DataError(f"a sequence of {max(self.lengths)} tokens exceeds max_tokens={self.max_tokens}")
        rng = random.Random(derive_seed(self.seed, epoch))
        # Sort by length, ties broken at random, so buckets differ between epochs.
        order = sorted(range(len(self.lengths)), key=lambda i: (self.lengths[i], rng.random() if self.shuffle else i))
        batches, current, longest = [], [], 0
        for i in order:
            n = self.lengths[i]
            if current and max(longest, n) * (len(current) + 1) > self.max_tokens:
                batches.append(current)
                current, longest = [], 0
            current.append(i)
            longest = max(longest, n)
        if current:
            batches.append(current)
        if self.shuffle:
            rng.shuffle(batches)
        return batches
