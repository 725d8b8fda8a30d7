"""The interface every task implements for the trainer, and what the tasks share."""

from __future__ import annotations

import logging
from pathlib import Path

from torch import Tensor, nn

from ..config import Config
from ..models.build import sequence_model


def warn(message: str):
    logging.getLogger("rot90").warning(message)


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


def on_model(model: nn.Module, batch: dict[str, Tensor]) -> dict[str, Tensor]:
    """The batch on the model's device: every evaluation moves its data, as the trainer moves training batches (a
    batch left on the CPU stops a GPU run at its first dev evaluation; tests/test_device_discipline.py)."""
    device = next(model.parameters()).device
    return {k: v.to(device) for k, v in batch.items()}


def _share(x: Tensor, rank: int, world: int) -> Tensor:
    """Rows rank, rank + world, ...: this rank's part of a global batch."""
    return x[rank::world]
