"""Checkpoints that survive a kill: atomic writes, a `latest` pointer, and loads that skip torn files.

Training state (ckpt/step-NNNNNNN.pt): model, optimiser, scheduler, every RNG, data position,
counters, config, vocabulary hash, library version. Each is written to a temporary name,
flushed and fsynced, then renamed into place; the `latest` pointer is updated the same way,
last. On resume the newest checkpoint that loads is used; a torn or corrupt one is skipped
with a warning naming it. Loads use torch.load(weights_only=True): plain tensors and
containers, no pickled code.

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

from ..extras import need

STEP = re.compile(r"step-(\d+)\.pt$")


def _atomic(path: Path, write, mode: str):
    """write(file) into a temporary file beside path, fsync, rename. On failure the old file stays."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_save(obj, path: Path):
    _atomic(path, lambda f: torch.save(obj, f), "wb")


def atomic_text(text: str, path: Path):
    _atomic(path, lambda f: f.write(text), "w")


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


def save(state: dict, folder: Path, step: int, keep: int, best: bool = False) -> Path:
    path = folder / f"step-{step:07d}.pt"
    atomic_save(state, path)
    atomic_text(path.name + "\n", folder / "latest")
    if best:
        atomic_save(state, folder / "best.pt")
    for old in checkpoints(folder)[keep:]:
        old.unlink(missing_ok=True)
    return path


def load_newest(folder: Path, warn=print) -> dict | None:
    """The newest checkpoint that loads; a torn or corrupt one is skipped with a warning naming it."""
    for path in checkpoints(folder):
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(state, dict) or "step" not in state:
                raise ValueError("not a rot90 training checkpoint")
            return state
        except Exception as e:  # noqa: BLE001 - any failure to read means: torn, try the previous one
            warn(f"warning: skipping checkpoint {path}: {type(e).__name__}: {str(e).splitlines()[0][:120]}")
    return None


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


def load_export(folder: str | Path):
    """A model exported by `rot90 train` (folder: the run or its export/), in eval mode, and its info."""
    load_model = need("safetensors.torch", "train").load_model

    from .. import models

    folder = Path(folder)
    if (folder / "export").is_dir():
        folder = folder / "export"
    if not (folder / "config.json").exists() or not (folder / "model.safetensors").exists():
        raise FileNotFoundError(f"{folder}: no exported model (config.json + model.safetensors)")
    info = json.loads((folder / "config.json").read_text())
    name = info.get("model_class", "SequenceModel")
    if name not in models.__all__:
        raise ValueError(f"{folder}: unknown model class {name!r}; this rot90 has {', '.join(models.__all__)}")
    model = getattr(models, name)(**info["model_args"])
    missing, unexpected = load_model(model, str(folder / "model.safetensors"), strict=False)
    if missing or unexpected:
        raise ValueError(f"{folder}: weights do not fit the model its config describes "
                         f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    return model.eval(), info
