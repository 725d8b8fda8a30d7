"""Character-level language modelling on a text corpus (rot90 data build text): bits per character."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor
from torch.nn import functional as F

from ..config import Config
from ..data.io import DataError
from ..data.tokenize import CharTokenizer
from ..runs import derive_seed
from .base import Task, _share, on_model


class CharLMTask(Task):
    """Character-level language model on data.path/train.txt, evaluated on dev.txt (bits per char)."""

    tokenizer_file = "chars.txt"

    def __init__(self, cfg: Config):
        super().__init__(cfg)
        folder = Path(cfg.data.path)
        if not cfg.data.path or not (folder / "train.txt").exists():
            raise DataError(f"data.path {cfg.data.path!r}: expected a folder with train.txt and dev.txt "
                            "(rot90 data build text --corpus shakespeare)")
        for name in ("train.txt", "dev.txt"):  # a FIFO or a device would be read without end
            if (folder / name).exists() and not (folder / name).is_file():
                raise DataError(f"{folder / name}: not a regular file")
        train = (folder / "train.txt").read_text(encoding="utf-8")
        dev = (folder / "dev.txt").read_text(encoding="utf-8") if (folder / "dev.txt").exists() else train[-100_000:]
        self.tokenizer = CharTokenizer.train(train)
        self.vocab_hash = self.tokenizer.hash
        self.train_ids = torch.tensor(self.tokenizer.encode(train), dtype=torch.long)
        self.dev_ids = torch.tensor(self.tokenizer.encode(dev), dtype=torch.long)
        if len(self.dev_ids) <= cfg.data.length + 1:
            raise DataError(f"dev text shorter than one window of {cfg.data.length} characters")

    def build_model(self):
        return self._model(out=len(self.tokenizer), vocab=len(self.tokenizer))

    def plan(self, epoch: int) -> list[Tensor]:
        g = torch.Generator().manual_seed(derive_seed(self.cfg.train.seed, epoch))
        d = self.cfg.data
        starts = torch.randint(0, len(self.train_ids) - d.length - 1, (d.epoch_batches, d.batch_size), generator=g)
        return list(starts)

    def _windows(self, ids: Tensor, starts: Tensor) -> dict[str, Tensor]:
        idx = starts[:, None] + torch.arange(self.cfg.data.length + 1)
        w = ids[idx]  # (B, L + 1)
        return {"x": w[:, :-1], "y": w[:, 1:]}

    def make_batch(self, spec: Tensor, rank: int = 0, world: int = 1):
        return self._windows(self.train_ids, _share(spec, rank, world))

    def loss(self, model, batch):
        logits = model(batch["x"])
        return F.cross_entropy(logits.flatten(0, 1), batch["y"].flatten(), reduction="sum"), \
            torch.tensor(batch["y"].numel())

    @torch.no_grad()
    def evaluate(self, model, batches: int):
        d = self.cfg.data
        stride = max((len(self.dev_ids) - d.length - 1) // max(batches * d.batch_size, 1), 1)
        starts = torch.arange(0, len(self.dev_ids) - d.length - 1, stride)[: batches * d.batch_size]
        total, n = 0.0, 0
        for chunk in starts.split(d.batch_size):
            s, c = self.loss(model, on_model(model, self._windows(self.dev_ids, chunk)))
            total, n = total + s.item(), n + int(c)
        return {"loss": total / n, "bits_per_char": total / n / math.log(2)}

    def save_assets(self, folder: Path):
        self.tokenizer.save(folder / self.tokenizer_file)
