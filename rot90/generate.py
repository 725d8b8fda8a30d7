"""`rot90 sample`: text from a trained character language model (data.task = lm).

    rot90 sample --model RUN --prompt "ROMEO:" --tokens 300 --temperature 0.8 --top-k 20

and from Python, as translation is:

    s = rot90.Sampler.load("runs/shakespeare")
    print(s.sample("ROMEO:", tokens=300, temperature=0.8, top_k=20, seed=0))
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from .data.io import DataError
from .data.tokenize import CharTokenizer, check_hash
from .devices import resolve_device
from .errors import ArgumentError
from .export import load_export
from .models.search import sample
from .runs import RunFolder


class Sampler:
    @classmethod
    def load(cls, path: str | Path, device: str | torch.device | None = None) -> Sampler:
        """The language model exported in path, on device (None: a GPU when there is one, else the CPU)."""
        return cls(path, "auto" if device is None else device)

    def __init__(self, folder: str | Path, device: str | torch.device = "auto"):
        self.device = resolve_device(device, "--device")
        self.model, self.info = load_export(folder)
        if self.info.get("task") != "lm":
            raise DataError(f"{folder}: not a language model (a {self.info.get('task')} model; rot90 sample reads "
                            "models trained with data.task = lm)")
        self.model.to(self.device)
        chars = RunFolder.exported(folder) / "chars.txt"
        try:
            self.tokenizer = CharTokenizer.load(chars)
        except OSError as e:
            raise DataError(f"{chars}: the model's characters are missing ({e.strerror or e})") from None
        check_hash(self.info["vocab_hash"], self.tokenizer)
        self.context = self.info["config"]["data"]["length"]

    def sample(self, prompt: str, tokens: int = 200, temperature: float = 1.0, top_k: int = 0,
               seed: int | None = None) -> str:
        """`tokens` characters continuing `prompt` (returned without it); seed: the same text every time."""
        if not (tokens >= 0 and math.isfinite(temperature) and temperature > 0 and top_k >= 0):
            raise ArgumentError(f"sample: need tokens >= 0, finite temperature > 0 and top_k >= 0; got "
                                f"tokens={tokens}, "
                                f"temperature={temperature}, top_k={top_k}")
        ids = self.tokenizer.encode(prompt)
        if not ids:
            raise ArgumentError("sample: an empty prompt; give at least one character")
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        return self.tokenizer.decode(sample(self.model.eval(), ids, tokens, temperature, top_k, self.context, g))


__all__ = ["Sampler"]
