"""`rot90 experiment translation-own-rate`: each cell of translation-contrasts at a rate of its own, decided by code
(issue 33; the rule is docs/protocols.md's "Each cell at a rate of its own").

At the recipe's 8e-3, searched for the LSTM, the min-cells spike when the rate peaks; so each row of "What the
minLSTM loses" gets the same six trials (TRIALS, the recipe's first), seed 0 chooses the one with the lowest
whole-dev loss at the last update, the chosen trial runs seeds 1 and 2, and each minLSTM row's chosen trial is
paired by seed with the LSTM's chosen trial:

    rot90 experiment translation-own-rate                                # the 24 trials at seed 0
    rot90 experiment translation-own-rate --seeds 3 --only CHOSEN ...   # what its report names
"""

from __future__ import annotations

import json
from pathlib import Path

from ..runs import RunFolder
from .claims import finished_seeds
from .stats import interval, paired, verdict

EXPERIMENT = "translation-own-rate"
ROWS = ("lstm", "minlstm", "minlstm,wider", "minlstm,deeper")  # the rows of "What the minLSTM loses"
TRIALS = ((8e-3, 100), (2e-3, 100), (2e-3, 400), (4e-3, 100), (4e-3, 400), (8e-3, 400))  # (peak rate, warm-up):
# the recipe's first
SEEDS = 3
WINDOW = 20  # updates in the training-loss mean whose setback the report shows


def trial_name(row: str, rate: float, warmup: int) -> str:
    return f"{row},lr={rate:g},warmup={warmup}"


def trials(row: str) -> list[str]:
    """A row's six trials by run name, the recipe's first."""
    return [trial_name(row, *t) for t in TRIALS]


def _loss(folder: Path) -> float | None:
    """The whole-dev loss of a finished run's last evaluation; None for a run that diverged (or has none)."""
    result = json.loads((folder / "result.json").read_text())
    return None if "diverged" in result else result.get("dev", {}).get("loss")


def _seed_losses(run: Path) -> dict[int, float]:
    """A run's whole-dev loss by finished seed, leaving out the seeds that diverged."""
    losses = {k: _loss(f) for k, f in finished_seeds(run).items()}
    return {k: v for k, v in losses.items() if v is not None}


def _show(loss: float | None) -> str:
    return "diverged" if loss is None else f"{loss:.3f}"


def setback(folder: Path, window: int = WINDOW) -> tuple[float, int] | None:
    """The spike the protocol reports: the largest rise of the training loss (its mean over `window` updates, as one
    batch's loss moves by a nat on hard batches) above its lowest value so far, and the update where the window ends;
    None for a run with fewer updates than the window."""
    losses = [r["loss"] for r in RunFolder(folder).read_metrics() if "loss" in r]
    means = [sum(losses[i - window:i]) / window for i in range(window, len(losses) + 1)]
    if not means:
        return None
    rise, best = (0.0, window), means[0]
    for i, m in enumerate(means):
        rise, best = max(rise, (m - best, i + window)), min(best, m)
    return rise


def _grid(where: Path) -> list[str]:
    """Seed 0's six trials of each row: whole-dev loss at the last update, and the training loss's largest setback."""
    lines = [f"Seed 0, whole-dev loss at the last update (in brackets: the largest rise of the training loss, its "
             f"mean over {WINDOW} updates, above its lowest so far, @ the update it happened):", "",
             "| row | " + " | ".join(f"{r:g}, {w}" for r, w in TRIALS) + " |", "|---|" + "---|" * len(TRIALS)]
    for row in ROWS:
        cells = []
        for name in trials(row):
            if 0 not in finished_seeds(where / name):
                cells.append("not run")
                continue
            rise = setback(where / name)
            cells.append(_show(_loss(where / name)) + (f" ({rise[0]:.2f} @{rise[1]})" if rise else ""))
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def chosen(where: Path, row: str) -> str | None:
    """The row's trial with the lowest whole-dev loss at seed 0; None until all six have run at seed 0."""
    done = {name: finished_seeds(where / name) for name in trials(row)}
    if not all(0 in seeds for seeds in done.values()):
        return None
    losses = {name: _loss(seeds[0]) for name, seeds in done.items()}
    return min((name for name in losses if losses[name] is not None), key=lambda n: losses[n], default=None)


def next_runs(where: Path) -> tuple[int, list[str]] | None:
    """The next `rot90 experiment translation-own-rate` runs: the missing seed-0 trials, else the chosen trials with
    SEEDS seeds; None when every chosen trial has them."""
    if missing := [n for row in ROWS for n in trials(row) if 0 not in finished_seeds(where / n)]:
        return 1, missing
    picks = [c for row in ROWS if (c := chosen(where, row))]
    if all(len(finished_seeds(where / c)) >= SEEDS for c in picks):
        return None
    return SEEDS, picks


def section(where: Path) -> list[str]:
    """The report's section: each row's chosen trial, the next command, and the paired verdicts once seeded."""
    lines = ["## Each cell at a rate of its own (docs/protocols.md, by rot90.lab.ownrate)", ""]
    step = next_runs(where)
    if step and step[0] == 1:
        return [*lines, f"{len(step[1])} seed-0 trials to run: `rot90 experiment {EXPERIMENT} --only "
                        f"{' '.join(step[1])}`", ""]
    picks = {row: chosen(where, row) for row in ROWS}
    lines += _grid(where)
    lines += ["| row | chosen trial (seed 0) | its whole-dev loss | the recipe's (8e-3, 100) |", "|---|---|---|---|"]
    for row, pick in picks.items():
        mine, recipe = (_loss(where / pick) if pick else None), _loss(where / trials(row)[0])
        lines.append(f"| {row} | {pick or 'every trial diverged'} | {_show(mine)} | {_show(recipe)} |")
    if step:
        return [*lines, "", f"Next: `rot90 experiment {EXPERIMENT} --seeds {SEEDS} --only {' '.join(step[1])}`", ""]
    lines += ["", "Whole-dev loss at the last update, the LSTM's chosen trial − the row's (negative: the row is "
              "worse; the verdict is the row's against the LSTM, reversed: it trails), paired by seed:", "",
              "| row | seeds | difference | verdict |", "|---|---|---|---|"]
    if not picks["lstm"]:
        return [*lines, "", "Every trial of the LSTM diverged: nothing to pair with.", ""]
    lstm = _seed_losses(where / picks["lstm"])
    for row in ROWS[1:]:
        if not picks[row]:
            lines.append(f"| {row} | — | every trial diverged | — |")
            continue
        mine = _seed_losses(where / picks[row])
        both = sorted(set(lstm) & set(mine))
        d = paired([-mine[k] for k in both], [-lstm[k] for k in both])  # the row ahead: held
        lines.append(f"| {row} | {', '.join(map(str, both))} | {interval(d, 1.0, 3)} | {verdict(d)} |")
    return [*lines, ""]
