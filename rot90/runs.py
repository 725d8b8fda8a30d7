"""The run folder that `rot90 train --out DIR` writes, spelled out once, and the seed of each random stream.

    DIR/config.json      the resolved config, rot90's and torch's versions (compared on resume)
    DIR/metrics.jsonl    one JSON row per update and per dev evaluation (metrics.jsonl.gz when archived)
    DIR/ckpt/            step-NNNNNNN.pt, best.pt, latest: the training state, for resume
    DIR/export/          model.safetensors + config.json (+ tokenizer): what rot90.load reads
    DIR/result.json      an experiment's summary of the run (rot90 experiment)
    DIR/.lock            held while a run trains there
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunFolder:
    root: Path

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    config = property(lambda self: self.root / "config.json")
    metrics = property(lambda self: self.root / "metrics.jsonl")
    ckpt = property(lambda self: self.root / "ckpt")
    export = property(lambda self: self.root / "export")
    result = property(lambda self: self.root / "result.json")
    lock = property(lambda self: self.root / ".lock")

    def has_metrics(self) -> bool:
        return self.metrics.exists() or self.metrics.with_suffix(".jsonl.gz").exists()

    def read_metrics(self) -> list[dict]:
        """The rows of metrics.jsonl (training steps and dev evaluations), or of its archive metrics.jsonl.gz (run
        files kept as evidence in docs/); [] when there is neither."""
        if self.metrics.exists():
            text = self.metrics.read_text()
        elif (archive := self.metrics.with_suffix(".jsonl.gz")).exists():
            text = gzip.decompress(archive.read_bytes()).decode("utf-8")
        else:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    @staticmethod
    def exported(path: str | Path) -> Path:
        """The export folder of a run folder, or the path itself when it is one (rot90.load takes either)."""
        path = Path(path)
        return path / "export" if (path / "export").is_dir() else path


def derive_seed(seed: int, stream: int) -> int:
    """The seed of random stream `stream` (an epoch, a batch) of a run seeded `seed`: distinct for distinct
    (seed, stream) pairs while stream < 1,000,003, and the same on every machine and after every resume."""
    return seed * 1_000_003 + stream
