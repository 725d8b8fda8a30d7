"""`rot90 lr-find`: the learning-rate range test (Smith 2017), on the trainer itself.

    rot90 lr-find CONFIG --out DIR [--from 1e-6] [--to 1] [--steps 200] [--set K=V ...]

The config's model, data, optimiser, clipping and precision are trained for --steps updates
while the learning rate rises geometrically from --from to --to (optim.schedule=range), so the
loss curve against the rate is the one a run of that config would see. It is smoothed (a centred
running mean, which does not lag the rate) and cut where it has diverged (4x its minimum); the
report gives the rate where the loss falls fastest and the rate of the minimum. A run trains
well near the steepest rate and below a tenth of the minimum's; neither is a rule, which is why
the curve is drawn (lr_find.png) beside the numbers (lr_find.json).
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

from ..config import Config, ConfigError, load
from ..files import atomic_write

INFO = logging.getLogger("rot90").info  # where progress goes unless a caller says otherwise

DIVERGED = 4.0  # the curve is cut where the smoothed loss exceeds this multiple of its minimum so far


def smooth(losses: list[float], half: int) -> list[float]:
    """Each loss averaged with up to `half` neighbours on each side: centred, so the curve does not lag the
    rate (a trailing average would move every feature towards larger rates)."""
    n = len(losses)
    return [sum(losses[max(0, k - half):k + half + 1]) / (min(n, k + half + 1) - max(0, k - half)) for k in range(n)]


def suggest(rates: list[float], losses: list[float]) -> dict:
    """What the curve says: the steepest descent and the minimum of the smoothed loss, before divergence."""
    if len(rates) != len(losses) or len(rates) < 10:
        raise ValueError(f"a range test needs at least 10 (rate, loss) points, got {min(len(rates), len(losses))}")
    sm = smooth([x if math.isfinite(x) else math.inf for x in losses], max(len(losses) // 40, 2))
    end, best = len(sm), math.inf
    for k, v in enumerate(sm):
        if not math.isfinite(v) or v > DIVERGED * best:
            end = k
            break
        best = min(best, v)
    low = max(len(sm) // 20, 1)  # the first updates: the model's own transient, not the rate's effect
    if end - low < 3:
        raise ValueError(f"the loss diverged within the first {end} of {len(sm)} updates: start lower (--from)")
    logs = [math.log10(r) for r in rates]
    slopes = [(sm[k + 1] - sm[k - 1]) / (logs[k + 1] - logs[k - 1]) for k in range(low, end - 1)]
    steep = low + min(range(len(slopes)), key=slopes.__getitem__)
    lowest = min(range(end), key=sm.__getitem__)
    return {"steepest": rates[steep], "minimum": rates[lowest], "loss_at_minimum": sm[lowest],
            "diverged_at": rates[end] if end < len(sm) else None, "updates": len(sm), "smoothed": sm}


def plot(rates: list[float], losses: list[float], found: dict, path: Path):
    from ..report import pyplot, save

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(rates, losses, color="0.75", lw=0.8, label="loss")
    ax.plot(rates, found["smoothed"], color="C0", label="smoothed (centred)")
    for key, style in (("steepest", "--"), ("minimum", ":")):
        ax.axvline(found[key], color="C3", ls=style, lw=1, label=f"{key}: {found[key]:.2g}")
    ax.set_xscale("log")
    finite = [x for x in losses if math.isfinite(x)]
    ax.set_ylim(min(finite) * 0.95, min(max(finite), found["loss_at_minimum"] * DIVERGED))
    ax.set(xlabel="learning rate", ylabel="training loss", title="learning-rate range test")
    ax.legend(fontsize=8)
    save(fig, path)


def range_config(cfg: Config | Path | str | None, overrides: list[str], start: float, end: float,
                 steps: int) -> Config:
    """The config under test, with the schedule, budget and bookkeeping of a range test."""
    if not 0 < start < end:
        raise ConfigError(f"--from {start:g} --to {end:g}: need 0 < from < to")
    if steps < 10:
        raise ConfigError(f"--steps {steps}: a range test needs at least 10 updates")
    return load(cfg, [*overrides, "optim.schedule=range", f"optim.range_from={start}", f"optim.lr={end}",
                      "optim.warmup=0", f"train.steps={steps}", "train.eval_every=0", "train.time_budget=0",
                      "train.patience=0", f"train.checkpoint_every={steps}", "train.log_every=10"])


def lr_find(task, cfg: Config, out: Path, log=INFO, force: bool = False) -> dict:
    """Train the range test of cfg's task into out (a run folder: resumable like any run) and read its curve."""
    from ..report import read_metrics
    from .trainer import Diverged, Trainer

    try:
        Trainer(cfg, out, force=force, log=log).run(task)
    except Diverged as e:  # non-finite at the top of the range: the curve up to there is the answer
        log(f"stopped: {e}")
    rows = [r for r in read_metrics(out) if "lr" in r]
    # A row's lr is the rate for the next update (logged after the schedule stepped): update k used row k-1's.
    rates, losses = [cfg.optim.range_from] + [r["lr"] for r in rows[:-1]], [r["loss"] for r in rows]
    found = suggest(rates, losses)
    plot(rates, losses, found, out / "lr_find.png")
    summary = {k: v for k, v in found.items() if k != "smoothed"}
    atomic_write(out / "lr_find.json", json.dumps({**summary, "from": cfg.optim.range_from,
                                                        "to": cfg.optim.lr, "curve": {"lr": rates, "loss": losses}},
                                                       indent=1))
    return summary


__all__ = ["lr_find", "range_config", "suggest", "smooth", "plot"]
