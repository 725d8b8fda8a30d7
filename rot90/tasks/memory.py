"""The memory tasks: copy, adding and selective copy (rot90.data.synthetic), with delay data.length."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..data.synthetic import adding_task, copy_task, selective_copy
from ..train.config import Config
from . import Task, _share


class MemoryTask(Task):
    """copy, adding or selective_copy with delay data.length (rot90.data.tasks)."""

    def __init__(self, cfg: Config):
        super().__init__(cfg)
        self.kind = cfg.data.task

    def _generate(self, seed: int, batch: int):
        d = self.cfg.data
        if self.kind == "adding":
            return adding_task(batch, d.length, seed=seed)
        gen = copy_task if self.kind == "copy" else selective_copy
        return gen(batch, d.length, k=d.k, vocab=d.symbols, seed=seed)

    def build_model(self) -> nn.Module:
        if self.kind == "adding":
            return self._model(out=1, input_dim=2)
        return self._model(out=self.cfg.data.symbols + 2, vocab=self.cfg.data.symbols + 2)

    def plan(self, epoch: int) -> list[int]:
        n = self.cfg.data.epoch_batches
        return [self.cfg.train.seed * 1_000_003 + epoch * n + i for i in range(n)]

    def make_batch(self, spec: int, rank: int = 0, world: int = 1) -> dict[str, Tensor]:
        b = self._generate(spec, self.cfg.data.batch_size)
        return {"x": _share(b.x, rank, world), "y": _share(b.y, rank, world),
                "answer_from": torch.tensor(b.answer_from)}

    def _outputs(self, model, batch):
        out = model(batch["x"])  # (B, L, out)
        start = int(batch["answer_from"])
        if self.kind == "adding":
            return out[:, -1, 0], batch["y"]
        k = batch["y"].shape[1]
        return out[:, start:start + k], batch["y"]

    def loss(self, model, batch):
        pred, y = self._outputs(model, batch)
        if self.kind == "adding":
            return F.mse_loss(pred, y, reduction="sum"), torch.tensor(y.numel())
        return F.cross_entropy(pred.flatten(0, 1), y.flatten(), reduction="sum"), torch.tensor(y.numel())

    @torch.no_grad()
    def evaluate(self, model, batches: int) -> dict[str, float]:
        total, right, loss = 0, 0.0, 0.0
        for i in range(batches):  # a held-out stream: seeds no training batch uses
            b = self._generate(10**12 + self.cfg.train.seed * 1_000_003 + i, self.cfg.data.batch_size)
            batch = {"x": b.x, "y": b.y, "answer_from": torch.tensor(b.answer_from)}
            pred, y = self._outputs(model, batch)
            if self.kind == "adding":
                loss += F.mse_loss(pred, y, reduction="sum").item()
            else:
                right += (pred.argmax(-1) == y).sum().item()
                loss += F.cross_entropy(pred.flatten(0, 1), y.flatten(), reduction="sum").item()
            total += y.numel()
        out = {"loss": loss / total}
        if self.kind != "adding":
            out["accuracy"] = right / total
        return out
