"""Tasks: what the trainer trains on, without the trainer knowing which; one file per task.

A task builds its model, plans each epoch as a list of batch specs (a pure function of the
seed and the epoch, so a resumed run sees the same batches), makes one rank's share of a
batch, and scores a model:

    plan(epoch) -> [spec]                     make_batch(spec, rank, world) -> dict of tensors
    loss(model, batch) -> (sum, count)        evaluate(model, batches) -> {metric: value}

The loss comes as a sum and a count so that the trainer can divide by the global count and
the result does not depend on how a batch is split over ranks.
"""

from __future__ import annotations

import sys
from pathlib import Path

from torch import Tensor, nn

from ..config import Config, validate
from ..models.build import sequence_model


def warn(message: str):
    print(message, file=sys.stderr, flush=True)


class Task:
    vocab_hash: str = ""
    tokenizer_file: str | None = None  # saved beside the run and the export when set

    def __init__(self, cfg: Config):
        self.cfg = cfg

    def build_model(self) -> nn.Module:
        raise NotImplementedError

    def plan(self, epoch: int) -> list:
        raise NotImplementedError

    def make_batch(self, spec, rank: int = 0, world: int = 1) -> dict[str, Tensor]:
        raise NotImplementedError

    def loss(self, model: nn.Module, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def evaluate(self, model: nn.Module, batches: int) -> dict[str, float]:
        raise NotImplementedError

    def save_assets(self, folder: Path):
        """Write what the model needs besides its weights (a tokenizer) into folder."""

    def _model(self, out: int, vocab: int = 0, input_dim: int = 1) -> nn.Module:
        return sequence_model(self.cfg.model, out, vocab=vocab, input_dim=input_dim,
                              max_len=max(self.cfg.data.length * 2 + 64, 1024))


def _share(x: Tensor, rank: int, world: int) -> Tensor:
    """Rows rank, rank + world, ...: this rank's part of a global batch."""
    return x[rank::world]


from .images import ImageTask  # noqa: E402  (the task classes build on Task above)
from .lm import CharLMTask  # noqa: E402
from .memory import MemoryTask  # noqa: E402
from .translation import TranslationTask  # noqa: E402

BY_NAME = {"copy": MemoryTask, "adding": MemoryTask, "selective_copy": MemoryTask, "lm": CharLMTask,
         "digits": ImageTask, "fashion": ImageTask, "translate": TranslationTask, "numbers": TranslationTask}


def make_task(cfg: Config) -> Task:
    """The task of a config, checked first (a Config built in code has not been through load)."""
    return BY_NAME[validate(cfg).data.task](cfg)


__all__ = ["Task", "BY_NAME", "make_task", "MemoryTask", "CharLMTask", "ImageTask", "TranslationTask"]
