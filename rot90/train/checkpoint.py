"""Checkpoints that survive a kill: atomic writes, a `latest` pointer, and loads that skip torn files.

Training state (ckpt/step-NNNNNNN.pt): model, optimiser, scheduler, every RNG, data position,
counters, config, vocabulary hash, library version. Each is written to a temporary name,
flushed and fsynced, then renamed into place and read back; the `latest` pointer is updated
the same way, last. On resume the newest checkpoint that loads is used; a torn or corrupt one
is skipped with a warning naming it, and set aside as *.broken once a newer one is written.
Rotation counts only checkpoints that were read back or loaded, keeps the newest `keep` of
them (at least one) and never the one the run resumed from: a loadable checkpoint is never
deleted in favour of a broken one. Loads use torch.load(weights_only=True): plain tensors and
containers, no pickled code. Temporary files of writes that a kill interrupted are removed
when the next run claims the folder. `average` writes the mean weights of the last N as an
export (rot90.export).
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import torch

from ..export import export, load_export
from ..files import atomic_write, digest, partial_writes
from ..runs import RunFolder

STEP = re.compile(r"step-(\d+)\.pt$")


def rng_state() -> dict:
    """Every RNG as tensors and plain values, so that weights_only=True can load it back."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {"python": list(random.getstate()[1]), "python_version": random.getstate()[0],
             "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": pos, "has_gauss": has_gauss,
                       "gauss": gauss},
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict):
    random.setstate((state["python_version"], tuple(state["python"]), None))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoints(folder: Path) -> list[Path]:
    """Step checkpoints, newest first."""
    found = [(int(m.group(1)), p) for p in folder.glob("step-*.pt") if (m := STEP.search(p.name))]
    return [p for _, p in sorted(found, reverse=True)]


def read(path: Path) -> dict:
    """A training checkpoint, or an exception saying why it is not one (torn, foreign, or its bytes changed)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or not {"step", "model", "optimizer", "scheduler", "rng", "config"} <= state.keys():
        raise ValueError("not a rot90 training checkpoint")
    stored = state.pop("digest", None)  # (checkpoints of earlier versions have none)
    if stored is not None and stored != digest(state):
        raise ValueError("damaged: its contents do not match the digest written with them")
    return state


def is_loadable(path: Path) -> bool:
    try:
        read(path)
        return True
    except Exception:  # noqa: BLE001 - any failure to read means: not a checkpoint to count on
        return False


def save(state: dict, folder: Path, step: int, keep: int, best: bool = False, good: set | None = None,
         protect: Path | None = None) -> Path:
    """Write step-NNNNNNN.pt (and best.pt), read it back, then rotate.

    good: paths known to load (this run's writes and the one it resumed from), updated here;
    protect: a checkpoint never deleted (the one the run resumed from).
    """
    if keep < 1:
        raise ValueError(f"train.keep={keep}: keep at least one checkpoint")
    good = set() if good is None else good
    path = folder / f"step-{step:07d}.pt"
    state = {**state, "digest": digest(state)}
    atomic_write(path, lambda f: torch.save(state, f))
    if not is_loadable(path):  # a write that does not read back is not a checkpoint: keep the older ones
        raise OSError(f"{path}: the checkpoint just written does not load back")
    good.add(path)
    atomic_write(folder / "latest", path.name + "\n")
    if best:
        atomic_write(folder / "best.pt", lambda f: torch.save(state, f))
    kept = 0
    for old in checkpoints(folder):
        if old not in good and not is_loadable(old):  # torn: out of the way, not deleted, never counted
            old.replace(old.with_name(old.name + ".broken"))
            continue
        good.add(old)
        kept += 1
        if kept > keep and old != protect:
            old.unlink(missing_ok=True)
            good.discard(old)
    return path


def load_newest(folder: Path, warn=print) -> tuple[dict, Path] | None:
    """(state, path) of the newest checkpoint that loads; a torn one is skipped with a warning naming it.

    None when there are none; NoCheckpoint when there are some and none loads.
    """
    found = checkpoints(folder)
    for path in found:
        try:
            return read(path), path
        except Exception as e:  # noqa: BLE001 - any failure to read means: torn, try the previous one
            warn(f"warning: skipping checkpoint {path}: {type(e).__name__}: {str(e).splitlines()[0][:120]}")
    if found:
        raise NoCheckpoint(f"{folder}: {len(found)} checkpoint(s), none loads; --force starts the run over")
    return None


class NoCheckpoint(ValueError):
    """Checkpoints exist and none of them loads: the run stops instead of starting over silently."""


def remove_partial_writes(run: RunFolder) -> list[Path]:
    """Temporary files that an interrupted atomic write of rot90's left in a run folder, its ckpt/ and export/:
    only those whose names carry rot90's mark (rot90.files), never a file of the user's."""
    gone = [tmp for sub in (run.root, run.ckpt, run.export) for tmp in partial_writes(sub)]
    for tmp in gone:
        tmp.unlink(missing_ok=True)
    return gone


def average(run: Path, last: int, out: Path | None = None) -> tuple[Path, list[int]]:
    """Average the weights of the newest `last` loadable step checkpoints of run into an export (fairseq's and
    OpenNMT's checkpoint averaging). Returns the export folder (default RUN/export-avgN) and the steps averaged."""
    if last < 1:
        raise ValueError(f"--last {last}: average at least one checkpoint")
    run = RunFolder(run)
    model, info = load_export(run.root)  # the run's own export says what model the checkpoints hold
    states, steps = [], []
    for path in checkpoints(run.ckpt):
        try:
            state = read(path)
        except Exception:  # noqa: BLE001 - torn: not one of the checkpoints to average
            continue
        states.append(state["model"])
        steps.append(state["step"])
        if len(states) == last:
            break
    if len(states) < last:
        raise ValueError(f"{run.ckpt}: {len(states)} loadable checkpoint(s), --last {last} asks for more "
                         "(train.keep sets how many are kept)")
    mean = {k: sum(s[k].double() for s in states).div(len(states)).to(states[0][k].dtype)
            if states[0][k].is_floating_point() else states[0][k] for k in states[0]}
    model.load_state_dict(mean)
    out = Path(out) if out else run.root / f"export-avg{last}"
    tokenizer = next(iter(sorted(RunFolder.exported(run.root).glob("*.model"))), None)
    extra = {k: v for k, v in info.items() if k != "config"}
    export(model, info["config"], out, tokenizer, {**extra, "step": max(steps), "selected": f"average of steps "
                                                   f"{', '.join(map(str, sorted(steps)))}", "averaged": steps})
    return out, steps
