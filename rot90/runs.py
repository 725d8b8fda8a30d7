"""The run folder that `rot90 train --out DIR` writes, spelled out once, and the seed of each random stream.

    DIR/config.json      the resolved config, rot90's and torch's versions (compared on resume)
    DIR/env.json         the command, code, machine and packages of the run's latest session (devices.environment)
    DIR/metrics.jsonl    one JSON row per update and per dev evaluation (metrics.jsonl.gz when archived)
    DIR/ckpt/            step-NNNNNNN.pt, best.pt, latest: the training state, for resume
    DIR/export/          model.safetensors + config.json (+ tokenizer): what rot90.load reads
    DIR/result.json      an experiment's summary of the run (rot90 experiment)
    DIR/.lock            held while a run trains there
    DIR/.rot90-run       says the folder is a run's: rot90 writes, cleans up and moves files only in such a folder
    DIR/previous-TIME/   what `--force` moved aside: an earlier run of another config
"""

from __future__ import annotations

import gzip
import json
import time
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
    env = property(lambda self: self.root / "env.json")
    marker = property(lambda self: self.root / ".rot90-run")

    def is_run(self) -> bool:
        """The folder is a rot90 run's (marked; a .lock: a run of an earlier version, which wrote no mark)."""
        return self.marker.exists() or self.lock.exists()

    def set_aside(self) -> Path:
        """Move the run's files (config, metrics, checkpoints, export, TensorBoard logs) into previous-TIME/, for
        `--force`: nothing of an earlier run is deleted. Returns the folder they are in now."""
        aside = self.root / time.strftime("previous-%Y%m%d-%H%M%S")
        n = 1
        while aside.exists():
            aside, n = self.root / f"{time.strftime('previous-%Y%m%d-%H%M%S')}-{n}", n + 1
        aside.mkdir()
        for path in (self.config, self.metrics, self.ckpt, self.export, self.root / "tensorboard"):
            if path.exists():
                path.rename(aside / path.name)
        return aside

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
