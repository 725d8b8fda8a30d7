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

from ..config import Config, validate
from .base import Task
from .images import ImageTask
from .lm import CharLMTask
from .memory import MemoryTask
from .translation import TranslationTask

BY_NAME = {"copy": MemoryTask, "adding": MemoryTask, "selective_copy": MemoryTask, "lm": CharLMTask,
           "digits": ImageTask, "fashion": ImageTask, "translate": TranslationTask, "numbers": TranslationTask}


def make_task(cfg: Config) -> Task:
    """The task of a config, checked first (a Config built in code has not been through load)."""
    return BY_NAME[validate(cfg).data.task](cfg)


__all__ = ["Task", "BY_NAME", "make_task", "MemoryTask", "CharLMTask", "ImageTask", "TranslationTask"]
