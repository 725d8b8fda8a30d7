"""Composing a run: a config's task handed to the trainer. The one place where the two meet.

    train(cfg, out)        what `rot90 train CONFIG --out DIR` does
    lr_find(cfg, out)      what `rot90 lr-find CONFIG --out DIR` does

The trainer (rot90.train) knows the Task interface and never imports a task; the tasks
(rot90.tasks) know the config and the models and never import the trainer. A translation run ends
with its length penalty chosen on the dev split (rot90.translate.choose_alpha) and its lexical shortlist
(rot90.translate.make_shortlist), which its export keeps.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch.distributed as dist

from .config import TRANSLATION_TASKS, Config
from .data.io import DataError
from .tasks import make_task
from .train import lrfind
from .train.trainer import Trainer
from .translate import choose_alpha, make_shortlist

INFO = logging.getLogger("rot90").info  # where progress goes unless a caller says otherwise


def train(cfg: Config, out: Path, force: bool = False, log=INFO, task=None) -> dict:
    """Train cfg's task into the run folder out (resuming it when it holds a checkpoint); the final TrainState.
    task: make_task(cfg), when the caller has made it already (reading a corpus twice costs seconds)."""
    task = make_task(cfg) if task is None else task  # bad data fails here, before the run folder records anything
    trainer = Trainer(cfg, out, force, log)
    try:
        state = trainer.run(task)
        if trainer.rank == 0 and cfg.data.task in TRANSLATION_TASKS:
            _after_training(trainer.folder.export, cfg, log)
        return state
    finally:
        if trainer.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _after_training(export: Path, cfg: Config, log):
    """What a translation export learns once trained: its length penalty on the dev split, its shortlist."""
    if cfg.train.choose_alpha:
        try:
            c = choose_alpha(export, cfg.train.choose_alpha, device=cfg.train.device,
                             precision=cfg.train.precision)  # decoded as the run trained
        except DataError as e:
            log(f"length penalty: {e}; translations use alpha=0.6")
        else:
            log(f"length penalty alpha={c['alpha']:g}, chosen on {c['dev_sentences']} dev sentences: dev BLEU "
                + ", ".join(f"{r['bleu']:.2f} (length {r['length_ratio']:.2f}) at {a}" for a, r in
                            c["grid"].items()))
    try:
        s = make_shortlist(export)
    except DataError as e:
        log(f"shortlist: {e}; translations score every target token")
    else:
        log(f"shortlist: {s['best']} partners per source token and {s['frequent']} frequent target tokens, from "
            f"{s['pairs']:,} training pairs")


def lr_find(cfg: Config, out: Path, log=INFO, force: bool = False) -> dict:
    """The learning-rate range test of cfg (rot90.train.lrfind.range_config) on its task, into out."""
    return lrfind.lr_find(make_task(cfg), cfg, out, log=log, force=force)
