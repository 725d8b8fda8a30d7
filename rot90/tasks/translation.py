"""Translation: a corpus folder or numbers in words, SentencePiece, token batches, BLEU and chrF."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..config import Config
from ..data.io import DataError
from ..extras import need
from ..losses import smoothed_cross_entropy
from ..models.build import seq2seq_model
from ..tokens import PAD
from .base import Task, on_model, warn


class TranslationTask(Task):
    """Sentence pairs from a corpus folder (train/dev/test.tsv) or generated numbers in words.

    One SentencePiece vocabulary for both sides, trained on the train split only; batches by
    token count with length bucketing (rot90.data.tokenize.TokenBatches).
    """

    tokenizer_file = "sentencepiece.model"

    def __init__(self, cfg: Config):
        super().__init__(cfg)
        from ..data.synthetic import number_splits
        from ..data.tokenize import SentencePiece, TokenBatches

        d = cfg.data
        if d.task == "numbers":
            splits = number_splits(d.lang, low=0, high=d.numbers_high, dev=200, test=200, seed=cfg.train.seed)
        else:
            found = self._read_splits(d)
            splits = {s: pairs for s, (pairs, _) in ((s, f) for s, f in found.items() if f)}
            if "dev" not in splits:
                where = d.train_file or d.path
                warn(f"warning: {where} has no dev split: no dev metrics, and the export holds the last step")
        self.splits = splits
        if d.tokenizer:
            self.tokenizer = SentencePiece.load_checked(Path(d.tokenizer))
        else:
            self.tokenizer = SentencePiece.cached(splits["train"], vocab_size=d.vocab_size)
        self.vocab_hash = self.tokenizer.hash
        self.data = {s: self._encode(pairs) for s, pairs in splits.items()}
        for split in ("train", "dev"):  # an empty split would train forever on empty epochs, or score nothing
            if split in self.data and not self.data[split]:
                raise DataError(f"{d.train_file or d.path or 'numbers'}: no {split} pair has both sides within "
                                f"data.max_len={d.max_len} tokens (of {len(splits[split]):,}): raise data.max_len")
        lengths = [max(len(a), len(b)) + 1 for a, b in self.data["train"]]
        if max(lengths) > d.batch_tokens:  # said now, not at the first epoch, after the run folder was made
            raise DataError(f"data.batch_tokens={d.batch_tokens}: smaller than the longest training pair "
                            f"({max(lengths)} tokens with EOS): raise it, or lower data.max_len")
        self.batches = TokenBatches(lengths, d.batch_tokens, seed=cfg.train.seed)

    def _encode(self, pairs):
        keep = []
        for src, tgt in pairs:
            a, b = self.tokenizer.encode(src), self.tokenizer.encode(tgt)
            if 0 < len(a) <= self.cfg.data.max_len and 0 < len(b) <= self.cfg.data.max_len:
                keep.append((a, b))
        return keep

    @staticmethod
    def _read_splits(d) -> dict:
        """split -> (pairs, where) or None, from data.train_file/dev_file/test_file, else the folder data.path."""
        from ..data.io import corpus_files, corpus_split

        if d.train_file:
            found = {}
            for split in ("train", "dev", "test"):
                path = getattr(d, f"{split}_file")
                found[split] = corpus_files(Path(path), d.src_lang, d.lang) if path else None
                if path and found[split] is None:
                    raise DataError(f"data.{split}_file {path!r}: no {path}, {path}.tsv, or {path}.{d.src_lang} + "
                                    f"{path}.{d.lang}")
            return found
        if d.dev_file or d.test_file:
            raise DataError("data.dev_file / data.test_file need data.train_file (or a folder in data.path)")
        found = {s: corpus_split(Path(d.path), s, d.src_lang, d.lang) for s in ("train", "dev", "test")} \
            if d.path and Path(d.path).is_dir() else {}
        if not found.get("train"):
            raise DataError(f"data.path {d.path!r}: expected a folder with train.tsv (rot90 data build "
                            f"translation) or train.{d.src_lang} + train.{d.lang} (data.src_lang, data.lang), "
                            "or data.train_file")
        return found

    def build_model(self):
        return seq2seq_model(self.cfg.model, len(self.tokenizer), self.cfg.data.max_len)

    def plan(self, epoch: int) -> list[list[int]]:
        return self.batches.batches(epoch)

    def collate(self, pairs) -> dict[str, Tensor]:
        from ..data.tokenize import collate_pairs

        return collate_pairs(pairs)

    def make_batch(self, spec, rank=0, world=1):
        return self.collate([self.data["train"][i] for i in spec[rank::world]])

    def loss(self, model, batch):
        logits = model(batch["src"], batch["src_len"], batch["tgt_in"])
        total = smoothed_cross_entropy(logits.flatten(0, 1), batch["tgt_out"].flatten(),
                                       self.cfg.optim.label_smoothing, ignore_index=PAD)  # F.cross_entropy's, faster
        return total, (batch["tgt_out"] != PAD).sum()

    @torch.no_grad()
    def evaluate(self, model, batches: int):
        sacrebleu = need("sacrebleu", "nmt")

        from ..models.search import greedy

        if not self.data.get("dev"):
            return {}  # no dev split: nothing to measure (said once, when the data was read)
        dev = self.data["dev"][: batches * 32]
        nll, n = teacher_forced_nll(model, dev)
        hyps = []
        for i in range(0, len(dev), 32):
            b = on_model(model, self.collate(dev[i:i + 32]))
            hyps += [self.tokenizer.decode(h) for h in greedy(model, b["src"], b["src_len"])]
        refs = [self.tokenizer.decode(b) for _, b in dev]
        return {"loss": nll / n, "perplexity": math.exp(nll / n),
                "bleu": sacrebleu.corpus_bleu(hyps, [refs]).score, "chrf": sacrebleu.corpus_chrf(hyps, [refs]).score}

    def save_assets(self, folder: Path):
        self.tokenizer.save(folder / self.tokenizer_file)


@torch.no_grad()
def teacher_forced_nll(model: nn.Module, pairs: list[tuple[list[int], list[int]]], batch: int = 32
                       ) -> tuple[float, int]:
    """(summed negative log-likelihood, target tokens) of token-id pairs under teacher forcing: the one evaluation
    of a translation model's likelihood, for training's dev metrics and for rot90 eval."""
    from ..data.tokenize import collate_pairs

    nll, n = 0.0, 0
    for i in range(0, len(pairs), batch):
        chunk = [(s, t) for s, t in pairs[i:i + batch] if s and t]
        if not chunk:
            continue
        b = on_model(model, collate_pairs(chunk))
        logits = model(b["src"], b["src_len"], b["tgt_in"])
        nll += F.cross_entropy(logits.flatten(0, 1).float(), b["tgt_out"].flatten(), ignore_index=PAD,
                               reduction="sum").item()
        n += int((b["tgt_out"] != PAD).sum())
    return nll, n
