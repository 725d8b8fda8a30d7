"""Figures: a run's losses, learning curves of several runs, the gradient by distance; PNGs written atomically."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

from .data.io import DataError
from .extras import need
from .files import atomic_write
from .rules import RULES
from .runs import RunFolder

# Every figure colours a rule by its role in the stream: what fraction of it a step carries over.
ROLES = {name: f"{rule.carries} carry" if rule.carries != "none" else "no carry" for name, rule in RULES.items()}
ROLE_COLOURS = {"no carry": "#d62728", "identity carry": "#2ca02c", "gated carry": "#1f77b4"}
_SHADES = {"highway": "#08519c", "lstm": "#1f77b4", "gru": "#6baed6", "minlstm": "#6a51a3", "mingru": "#9e9ac8"}
_MARKERS = {"plain": "o", "resnet": "s", "highway": "^", "lstm": "D", "gru": "v", "minlstm": "P", "mingru": "X"}
TRANSFORMER = {"color": "#ff7f0e", "marker": "*"}  # no stream along time at all: a colour outside the roles'


def role(rule: str) -> str:
    return ROLES.get(rule, "")


def rule_style(label: str) -> dict:
    """Colour (by role; gated rules in shades of one hue) and marker of the rule a label names, e.g.
    "minLSTM", "plain deep net", "LSTM, chrono init"; the Transformer's own; {} for a label that names none."""
    key = label.lower().replace(" ", "")
    if "transformer" in key:
        return dict(TRANSFORMER)
    for rule in sorted(ROLES, key=len, reverse=True):  # minlstm before lstm
        if rule in key or (rule == "plain" and "elman" in key):
            colour = _SHADES.get(rule, ROLE_COLOURS[ROLES[rule]])
            return {"color": "#08306b" if "chrono" in key else colour, "marker": _MARKERS[rule]}
    return {}


def sci(log10: float) -> str:
    """A log10 value as a number, "1.3e-241": exact where a float would underflow; "0" for -inf."""
    if not math.isfinite(log10):
        return "0"
    exponent = math.floor(log10)
    return f"{10 ** (log10 - exponent):.1f}e{exponent:+03d}"


def running_mean(values: list[float], n: int) -> list[float]:
    """Each value averaged with the n - 1 before it (fewer at the start): noisy per-step training losses."""
    return [sum(values[max(0, i - n + 1):i + 1]) / len(values[max(0, i - n + 1):i + 1]) for i in range(len(values))]


def pyplot():
    """matplotlib.pyplot on the Agg backend: files only, no display needed."""
    need("matplotlib", "plot").use("Agg")
    return need("matplotlib.pyplot", "plot")


def save(fig, out: Path, dpi: int = 110) -> Path:
    """fig laid out and written to out as a PNG, atomically, then closed."""
    fig.tight_layout()
    try:
        return atomic_write(out, lambda f: fig.savefig(f, format="png", dpi=dpi))
    finally:
        pyplot().close(fig)


def plot_run(run: Path, out: Path | None = None) -> Path:
    """Training loss per step (and dev loss where evaluated) of a run folder, as a PNG."""
    plt = pyplot()
    path = RunFolder(run).metrics
    if not RunFolder(run).has_metrics():
        raise DataError(f"{run}: no metrics.jsonl (is it a rot90 train run folder?)")
    rows = read_metrics(run)
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
    return save(fig, out or run / "loss.png")


def read_metrics(run: Path) -> list[dict]:
    """The rows of a run's metrics.jsonl (training steps and dev evaluations), archived or not."""
    return RunFolder(run).read_metrics()


def seed_band(ax, folders: list[Path], key: str, x: str = "step", smooth: int = 1, label: str = "", **style):
    """One run's seeds on ax: the mean of metrics.jsonl's `key` as a line, min to max as a band.

    Seeds are matched by step; against x = "seconds" they are interpolated to common times (seeds make
    different numbers of updates in the same time), over the span every seed covers. A seed that stopped
    early (diverged) leaves the later steps to the others.
    """
    curves = []
    for folder in folders:
        rows = [r for r in read_metrics(folder) if key in r]
        values = running_mean([r[key] for r in rows], smooth) if smooth > 1 else [r[key] for r in rows]
        curves.append({r["step"]: (r.get(x, r["step"]), v) for r, v in zip(rows, values)})
    if not any(curves):
        return
    if x != "step" and len(curves) > 1:  # seeds reach other steps in the same time: compare them at equal times
        import numpy as np

        tracks = [sorted(c.values()) for c in curves if c]
        lo, hi = max(t[0][0] for t in tracks), min(t[-1][0] for t in tracks)
        times = sorted({p[0] for t in tracks for p in t if lo <= p[0] <= hi})
        values = [np.interp(times, [p[0] for p in t], [p[1] for p in t]) for t in tracks]
        at = [[(t, float(v[j])) for v in values] for j, t in enumerate(times)]
    else:  # (x, value) of every seed at each step
        at = [[c[s] for c in curves if s in c] for s in sorted(set().union(*curves))]
    xs = [sum(p[0] for p in ps) / len(ps) for ps in at]
    (line,) = ax.plot(xs, [sum(p[1] for p in ps) / len(ps) for ps in at], label=label, **style)
    if len(curves) > 1:
        ax.fill_between(xs, [min(p[1] for p in ps) for ps in at], [max(p[1] for p in ps) for ps in at],
                        color=line.get_color(), alpha=0.15, lw=0)


_LINES = ("-", "--", ":", "-.")


def line_styles(labels: list[str]) -> list[dict]:
    """A colour and line style per run, every pair distinct: runs of one rule share its colour and differ in
    line style. Where more runs share a rule than there are line styles (a recipe search of one model), the
    rule's colour would hide runs and says nothing, so every run gets a colour of its own."""
    colours = [rule_style(label).get("color", f"C{i}") for i, label in enumerate(labels)]
    if any(colours.count(c) > len(_LINES) for c in colours):
        return [{"color": f"C{i % 10}", "ls": _LINES[i // 10 % len(_LINES)]} for i in range(len(labels))]
    return [{"color": c, "ls": _LINES[colours[:i].count(c)]} for i, c in enumerate(colours)]


def wants_log(key: str, values: list[float]) -> bool:
    """A log axis for a perplexity, loss or squared error whose curves span a decade or more: on a linear one the
    early values flatten every difference that matters at the end."""
    positive = [v for v in values if math.isfinite(v)]
    return (key.endswith(("perplexity", "loss", "mse")) and bool(positive) and min(positive) > 0
            and max(positive) >= 10 * min(positive))


def plot_curves(runs: dict[str, Path | list[Path]], key: str, x: str, out: Path, title: str, ylabel: str,
                smooth: int = 1) -> Path:
    """metrics.jsonl's `key` of several runs against `x` ("step" or "seconds"), one line per run, as a PNG.

    A run given as several folders (its seeds) is drawn as their mean with a min–max band. smooth > 1
    averages each point with the smooth - 1 before it (noisy per-step training losses).
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    seeds = 1
    for (label, folders), style in zip(runs.items(), line_styles(list(runs))):
        folders = [folders] if isinstance(folders, Path) else folders
        seeds = max(seeds, len(folders))
        seed_band(ax, folders, key, x, smooth, label, marker=None if smooth > 1 else "o", ms=3, **style)
    ys = [y for line in ax.get_lines() for y in line.get_ydata() if y > 0]
    if wants_log(key, ys):
        ax.set_yscale("log")
        ticker = need("matplotlib.ticker", "plot")
        plain = ticker.FuncFormatter(lambda v, _: f"{v:g}")  # 40, not 4 x 10^1
        ax.yaxis.set_major_formatter(plain)  # the 2..9 between decades labelled only where they are few
        ax.yaxis.set_minor_formatter(plain if max(ys) < 100 * min(ys) else ticker.NullFormatter())
    ax.set_xlabel({"step": "update", "seconds": "training time (s)", "tokens": "target tokens seen"}.get(x, x)
                  + (f" (line: mean of {seeds} seeds, band: min–max)" if seeds > 1 else ""))
    ax.set_ylabel(ylabel)
    ax.set_title(textwrap.fill(title, 70), fontsize=10)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:  # runs that logged nothing yet draw nothing, and need no legend
        ax.legend(fontsize=8)
    return save(fig, out)


def plot_gradients(curves: dict[str, dict[str, dict[str, list[float]]]], out: Path, title: str,
                   unit: dict[str, str] | None = None) -> Path:
    """|d loss / d stream| against the distance k from the output: one panel per axis, same y-axis.

    curves: {axis: {model: {stage: log10 values}}}, values[k] at distance k (rot90.gradients); the
    first stage of each model is drawn solid, later ones dashed. unit: the axis's step ("layers").
    """
    plt = pyplot()
    fig, axes = plt.subplots(1, len(curves), figsize=(5.5 * len(curves), 4.2), sharey=True, squeeze=False)
    for ax, (axis, models) in zip(axes[0], curves.items()):
        for i, (model, stages) in enumerate(models.items()):
            colour = rule_style(model).get("color", f"C{i}")
            for j, (stage, g) in enumerate(stages.items()):
                ax.plot(range(len(g)), g, "-" if j == 0 else "--", color=colour, label=f"{model} ({stage})")
        ax.set_xlabel(f"distance k from the output ({(unit or {}).get(axis, 'steps')})")
        ax.set_title(f"along {axis}")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("log10 ‖d loss / d stream at distance k‖ / batch size")
    fig.suptitle(textwrap.fill(title, 100), fontsize=10)
    return save(fig, out)
