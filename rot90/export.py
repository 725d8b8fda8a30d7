"""The export format, and rot90.load: what a trained model is once training is over.

    RUN/export/model.safetensors   the selected weights (tied ones stored once)
    RUN/export/config.json         {"config": the run's config, "model_class", "model_args",
                                    "task", "vocab_hash", "rot90", "step", "selected", ...}
    RUN/export/*.model             the tokenizer, where the task has one

`load_export(folder)` takes the run folder or its export/ and returns (model in eval mode, info);
it builds the model on the meta device first, so a damaged or foreign export is one error
naming the file before a byte is allocated. Nothing here imports the trainer.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .extras import need
from .files import atomic_write, digest
from .runs import RunFolder


def export(model: torch.nn.Module, config: dict, folder: Path, tokenizer_file: Path | None = None,
           extra: dict | None = None):
    """model.safetensors + config.json (+ tokenizer) in folder, each written atomically."""
    save_model = need("safetensors.torch", "train").save_model

    # save_model stores tied weights once (one tensor for the shared pair); it writes by name
    fingerprint = {"rot90_digest": digest(model.state_dict())}  # checked by load_export: a flipped bit is refused
    atomic_write(folder / "model.safetensors", lambda f: save_model(model, f.name, metadata=fingerprint))
    if tokenizer_file is not None:
        atomic_write(folder / tokenizer_file.name, tokenizer_file.read_bytes())
    atomic_write(folder / "config.json", json.dumps({"config": config, **(extra or {})}, indent=1))


def record(folder: str | Path, **fields):
    """fields added to an export's config.json, atomically: what was learned about the model after training
    (the length penalty chosen on the dev split, rot90.translate.choose_alpha)."""
    config = RunFolder.exported(folder) / "config.json"
    info = json.loads(config.read_text(encoding="utf-8"))
    atomic_write(config, json.dumps({**info, **fields}, indent=1))


def load_export(folder: str | Path):
    """A model exported by `rot90 train` (folder: the run or its export/), in eval mode, and its info."""
    load_model = need("safetensors.torch", "train").load_model

    from . import models

    safe_open = need("safetensors", "train").safe_open

    folder = RunFolder.exported(folder)
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
            recorded = (f.metadata() or {}).get("rot90_digest")  # (exports of earlier versions have none)
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
    if recorded is not None and recorded != digest(model.state_dict()):
        raise ValueError(f"{weights}: damaged: the weights do not match the digest written with them")
    return model.eval(), info
