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
when the next run claims the folder.

Export (export/): model.safetensors + config.json (+ the tokenizer), for rot90.load().
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from ..data.io import atomic_write, atomic_write_text
from ..extras import need

STEP = re.compile(r"step-(\d+)\.pt$")


def atomic_save(obj, path: Path):
    atomic_write(path, lambda f: torch.save(obj, f))


def atomic_text(text: str, path: Path):
    atomic_write_text(path, text)


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
    """A training checkpoint, or an exception saying why it is not one."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or "step" not in state:
        raise ValueError("not a rot90 training checkpoint")
    return state


def loads(path: Path) -> bool:
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
    atomic_save(state, path)
    if not loads(path):  # a write that does not read back is not a checkpoint: keep the older ones
        raise OSError(f"{path}: the checkpoint just written does not load back")
    good.add(path)
    atomic_text(path.name + "\n", folder / "latest")
    if best:
        atomic_save(state, folder / "best.pt")
    kept = 0
    for old in checkpoints(folder):
        if old not in good and not loads(old):  # torn: out of the way, not deleted, never counted
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


def remove_partial_writes(folder: Path) -> list[Path]:
    """Temporary files (.NAME.XXXX) that an interrupted atomic write left in folder and its ckpt/, export/."""
    gone = []
    for sub in (folder, folder / "ckpt", folder / "export"):
        for tmp in sub.glob(".*.*") if sub.is_dir() else []:
            if tmp.is_file():  # (the run's .lock has no second dot: never matched)
                tmp.unlink(missing_ok=True)
                gone.append(tmp)
    return gone


def export(model: torch.nn.Module, config: dict, folder: Path, tokenizer_file: Path | None = None,
           extra: dict | None = None):
    """model.safetensors + config.json (+ tokenizer) in folder, each written atomically."""
    save_model = need("safetensors.torch", "train").save_model

    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".model.")
    os.close(fd)
    try:
        save_model(model, tmp)  # handles tied weights (one tensor stored for the shared pair)
        os.replace(tmp, folder / "model.safetensors")
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    if tokenizer_file is not None:
        shutil.copyfile(tokenizer_file, folder / tokenizer_file.name)
    atomic_text(json.dumps({"config": config, **(extra or {})}, indent=1), folder / "config.json")


def average(run: Path, last: int, out: Path | None = None) -> tuple[Path, list[int]]:
    """Average the weights of the newest `last` loadable step checkpoints of run into an export (fairseq's and
    OpenNMT's checkpoint averaging). Returns the export folder (default RUN/export-avgN) and the steps averaged."""
    if last < 1:
        raise ValueError(f"--last {last}: average at least one checkpoint")
    run = Path(run)
    model, info = load_export(run)  # the run's own export says what model the checkpoints hold
    states, steps = [], []
    for path in checkpoints(run / "ckpt"):
        try:
            state = read(path)
        except Exception:  # noqa: BLE001 - torn: not one of the checkpoints to average
            continue
        states.append(state["model"])
        steps.append(state["step"])
        if len(states) == last:
            break
    if len(states) < last:
        raise ValueError(f"{run / 'ckpt'}: {len(states)} loadable checkpoint(s), --last {last} asks for more "
                         "(train.keep sets how many are kept)")
    mean = {k: sum(s[k].double() for s in states).div(len(states)).to(states[0][k].dtype)
            if states[0][k].is_floating_point() else states[0][k] for k in states[0]}
    model.load_state_dict(mean)
    out = Path(out) if out else run / f"export-avg{last}"
    export_dir = run / "export" if (run / "export").is_dir() else run
    tokenizer = next(iter(sorted(export_dir.glob("*.model"))), None)
    extra = {k: v for k, v in info.items() if k != "config"}
    export(model, info["config"], out, tokenizer, {**extra, "step": max(steps), "selected": f"average of steps "
                                                   f"{', '.join(map(str, sorted(steps)))}", "averaged": steps})
    return out, steps


def load_export(folder: str | Path):
    """A model exported by `rot90 train` (folder: the run or its export/), in eval mode, and its info."""
    load_model = need("safetensors.torch", "train").load_model

    from .. import models

    safe_open = need("safetensors", "train").safe_open

    folder = Path(folder)
    if (folder / "export").is_dir():
        folder = folder / "export"
    config, weights = folder / "config.json", folder / "model.safetensors"
    if not config.exists() or not weights.exists():
        raise FileNotFoundError(f"{folder}: no exported model (config.json + model.safetensors)")
    try:
        info = json.loads(config.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{config}: not valid JSON ({e})") from None
    if not isinstance(info, dict) or not isinstance(info.get("model_args"), dict):
        raise ValueError(f"{config}: not a rot90 export (a JSON object with model_args, model_class and config)")
    name = info.get("model_class", "SequenceModel")
    if name not in models.__all__:
        raise ValueError(f"{config}: unknown model class {name!r}; this rot90 has {', '.join(models.__all__)}")
    try:  # on the meta device first: arguments checked and shapes known before a byte is allocated
        with torch.device("meta"):
            shapes = {k: tuple(v.shape) for k, v in getattr(models, name)(**info["model_args"]).state_dict().items()}
    except (TypeError, ValueError, RuntimeError) as e:
        raise ValueError(f"{config}: model_args do not build a {name}: {e}") from None
    try:
        with safe_open(str(weights), framework="pt") as f:
            stored = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118 - not a dict
    except Exception as e:  # noqa: BLE001 - safetensors raises its own error type for a damaged file
        raise ValueError(f"{weights}: damaged or not a safetensors file ({str(e).splitlines()[0][:120]})") from None
    # Tied weights are stored once (safetensors' save_model): every stored tensor must fit, none may be extra.
    wrong = [k for k, s in stored.items() if shapes.get(k) != s]
    if wrong or not stored:
        k = wrong[0] if wrong else "(none)"
        raise ValueError(f"{weights}: weights do not fit the model {config.name} describes "
                         f"({k}: stored {stored.get(k)}, expected {shapes.get(k)})")
    model = getattr(models, name)(**info["model_args"])
    missing, unexpected = load_model(model, str(weights), strict=False)
    if missing or unexpected:
        raise ValueError(f"{folder}: weights do not fit the model its config describes "
                         f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    return model.eval(), info
