"""Figures from runs: loss curves from metrics.jsonl."""

from __future__ import annotations

import json
from pathlib import Path

from .data.io import DataError


def plot_run(run: Path, out: Path | None = None) -> Path:
    """Training loss per step (and dev loss where evaluated) of a run folder, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = run / "metrics.jsonl"
    if not path.exists():
        raise DataError(f"{run}: no metrics.jsonl (is it a rot90 train run folder?)")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    train = [(r["step"], r["loss"]) for r in rows if "loss" in r]
    dev = [(r["step"], r["dev_loss"]) for r in rows if "dev_loss" in r]
    if not train:
        raise DataError(f"{path}: no training steps recorded yet")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(*zip(*train), lw=0.8, alpha=0.7, label="train loss")
    if dev:
        ax.plot(*zip(*dev), "o-", label="dev loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (per item, nats)")
    ax.set_yscale("log")
    ax.set_title(run.name)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    out = out or run / "loss.png"
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
