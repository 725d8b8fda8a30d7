"""The LSTM against the Transformer at 20 minutes, decided by code (issue 33; the rule is docs/protocols.md's).

`rot90 experiment lstm-vs-transformer` trains the runs; this module reads its results and says, stage by stage,
what the protocol decides and what to run next:

    stage A   each arm's size: the best whole-dev BLEU of its size runs at seed 0 (ties: fewer parameters)
    stage B   each arm's recipe at that size: the best whole-dev BLEU of its nine recipes at seed 0
    stage C   the two chosen runs with seeds: test BLEU and chrF paired by seed (lstm − transformer), a verdict
              each (rot90.lab.stats.verdict; a BLEU gap under 0.5 is a tie whatever its interval), and dev loss
              at equal target tokens, every tenth of the smaller arm's, paired the same way
"""

from __future__ import annotations

import json
from pathlib import Path

from ..report import read_metrics
from .claims import finished_seeds
from .stats import interval, paired, verdict

EXPERIMENT = "lstm-vs-transformer"
ARMS = ("lstm", "transformer")
TIE = 0.5  # BLEU: a smaller gap is reported as a tie whatever its interval


def _arm(run: str) -> str:
    return run.split(",", 1)[0]


def _size(run: str) -> str:
    """"transformer,d=256,layers=3,lr=..." -> "d=256,layers=3"; "lstm,width=256,lr=..." -> "width=256"."""
    parts = run.split(",")[1:]
    return ",".join(p for p in parts if p.split("=")[0] in ("d", "layers", "width"))


def choose(rows: list[dict]) -> dict | None:
    """The run with the best dev BLEU at the first seed (the last evaluation: the whole dev split); ties, the one
    with fewer parameters. None when no run has a dev BLEU."""
    scored = [r for r in rows if "bleu" in r.get("dev", {})]
    return max(scored, key=lambda r: (r["dev"]["bleu"], -r["parameters"])) if scored else None


def _equal_tokens(lstm: list[Path], transformer: list[Path]) -> list[str]:
    """Dev loss at equal target tokens, paired by seed: at every tenth of the smaller final count of each pair."""
    import numpy as np

    tracks = []
    for a, b in zip(lstm, transformer):
        curves = []
        for folder in (a, b):
            rows = [r for r in read_metrics(folder) if "dev_loss" in r and "tokens" in r]
            curves.append(([r["tokens"] for r in rows], [r["dev_loss"] for r in rows]))
        if all(len(c[0]) >= 2 for c in curves):
            tracks.append(curves)
    if not tracks:
        return []
    lines = ["Dev loss at equal target tokens (the whole dev split; transformer − lstm, so + means the LSTM's is "
             "lower; each seed's pair read at tenths of its smaller final count, interpolated between "
             "evaluations):", "", "| tokens (tenths of the smaller arm's) | pairs | difference | verdict |",
             "|---|---|---|---|"]
    for tenth in range(1, 11):
        diffs = []
        for (ta, la), (tb, lb) in tracks:
            at = tenth / 10 * min(ta[-1], tb[-1])
            if at >= max(ta[0], tb[0]):
                diffs.append((float(np.interp(at, tb, lb)), float(np.interp(at, ta, la))))
        if diffs:
            d = paired([x for x, _ in diffs], [y for _, y in diffs])
            lines.append(f"| {tenth}/10 | {d['n']} | {interval(d, 1.0, 3)} | {verdict(d)} |")
    return [*lines, ""]


def _read(groups: tuple, where: Path) -> tuple[dict, dict]:
    """Every run of the experiment on disk: its seed folders and their result.json, by run name then seed."""
    folders = {r.name: finished_seeds(where / r.name) for g in groups for r in g.runs}  # whatever --only said
    runs = {name: {k: json.loads((f / "result.json").read_text()) for k, f in seeds.items()}
            for name, seeds in folders.items()}
    return folders, runs


def _stages(groups: tuple, runs: dict) -> dict[str, dict]:
    """Where each arm stands: {"missing": runs of its stage A or B not yet run, "stage": "A" or "B", "size": the
    stage-A choice, "best": stage B's choice so far, "chosen": its run once stage B is complete}. Seed 0 decides."""
    first = {name: seeds[0] for name, seeds in runs.items() if 0 in seeds}
    out = {}
    for arm in ARMS:
        sizes = [r.name for r in groups[0].runs if _arm(r.name) == arm]
        if missing := [n for n in sizes if n not in first]:
            out[arm] = {"stage": "A", "missing": missing, "done": len(sizes) - len(missing), "of": len(sizes)}
            continue
        size = choose([first[n] for n in sizes])
        group = next(g for g in groups if g.title == f"Stage B: the {arm} recipe at {_size(size['run'])}")
        trials = [first[r.name] for r in group.runs if r.name in first]
        missing = [r.name for r in group.runs if r.name not in first]
        best = choose(trials)
        out[arm] = {"stage": "B", "missing": missing, "size": size, "best": best, "done": len(trials),
                    "of": len(group.runs), "chosen": None if missing else best["run"]}
    return out


def next_runs(groups: tuple, where: Path, seeds: int = 5) -> tuple[int, list[str]] | None:
    """What the protocol runs next, as (--seeds, --only): stage A's missing sizes, else stage B's missing recipes
    (both arms' at once), else stage C's two runs with `seeds` seeds; None when stage C has them all."""
    stages = _stages(groups, _read(groups, where)[1])
    for stage in ("A", "B"):
        if missing := [n for arm in ARMS if stages[arm]["stage"] == stage for n in stages[arm]["missing"]]:
            return 1, missing
    chosen = [stages[arm]["chosen"] for arm in ARMS]
    if all(len(finished_seeds(where / name)) >= seeds for name in chosen):
        return None
    return seeds, chosen


def next_run(groups: tuple, where: Path, seeds: int = 5) -> tuple[int, str] | None:
    """next_runs narrowed to one training run, as (--seeds, --only): the first missing stage-A or stage-B run, or in
    stage C the next seed of the first chosen run that lacks one (`--seeds N` reads seeds below N-1 back). A process
    per run lets scripts/duel archive after each, so a machine that is not kept loses at most the run in flight."""
    step = next_runs(groups, where, seeds)
    if step is None:
        return None
    if step[0] == 1:
        return 1, step[1][0]
    done, name = next((k, n) for n in step[1] if (k := len(finished_seeds(where / n))) < seeds)
    return done + 1, name


def section(groups: tuple, where: Path) -> list[str]:
    """The report's decision section, from every run of the experiment on disk: each stage's choice, the next
    command, and stage C's verdicts. (Seed 0 decides stages A and B; runs are read back, not retrained.)"""
    folders, runs = _read(groups, where)
    lines, chosen = ["## The decision (docs/protocols.md, by rot90.lab.duel)", ""], {}
    for arm, at in _stages(groups, runs).items():
        only = f"`rot90 experiment {EXPERIMENT} --only {' '.join(at['missing'])}`"
        if at["stage"] == "A":
            lines.append(f"- {arm}: stage A has {at['done']} of its {at['of']} sizes: {only}")
            continue
        size, best = at["size"], at["best"]
        lines.append(f"- {arm}: stage A chose {_size(size['run'])} (whole-dev BLEU {size['dev']['bleu']:.2f}); stage B "
                     + (f"chose {best['run']} (whole-dev BLEU {best['dev']['bleu']:.2f}) of {at['done']} recipes"
                        if at["chosen"] else f"has {at['done']} of its {at['of']} recipes: {only}"))
        if at["chosen"]:
            chosen[arm] = at["chosen"]
    if len(chosen) < 2:
        return [*lines, ""]
    lstm, transformer = chosen["lstm"], chosen["transformer"]
    lines.append(f"- stage C: `rot90 experiment {EXPERIMENT} --seeds 5 --only {lstm} {transformer}`")
    both = sorted(k for k in set(runs[lstm]) & set(runs[transformer])
                  if "test" in runs[lstm][k] and "test" in runs[transformer][k])
    if len(both) < 2:
        return [*lines, ""]
    lines += ["", "| stage C, lstm − transformer | seeds | difference | verdict |", "|---|---|---|---|"]
    for key, label in (("bleu", "test BLEU"), ("chrf", "test chrF")):
        d = paired([runs[lstm][k]["test"][key] for k in both], [runs[transformer][k]["test"][key] for k in both])
        said = "tie (under 0.5 BLEU)" if key == "bleu" and abs(d["mean"]) < TIE else verdict(d)
        lines.append(f"| {label} | {', '.join(map(str, both))} | {interval(d)} | {said} |")
    return [*lines, "", *_equal_tokens(*([folders[name][k] for k in both] for name in (lstm, transformer)))]


def main(argv: list[str] | None = None) -> int:
    """`python -m rot90.lab.duel --next OUT/lstm-vs-transformer [--one]`: the arguments of the next `rot90 experiment
    lstm-vs-transformer` command (`--seeds N --only RUN ...`; with --one, a single training run), nothing once stage
    C is complete (scripts/duel)."""
    import argparse

    from .catalogue import EXPERIMENTS

    parser = argparse.ArgumentParser(prog="python -m rot90.lab.duel", description=main.__doc__)
    parser.add_argument("--next", required=True, type=Path, metavar="FOLDER", help="the experiment's run folder")
    parser.add_argument("--seeds", type=int, default=5, help="stage C's seeds (default 5)")
    parser.add_argument("--one", action="store_true", help="one training run: the first of the next command's")
    args = parser.parse_args(argv)
    if args.one:
        one = next_run(EXPERIMENTS[EXPERIMENT], args.next, args.seeds)
        step = (one[0], [one[1]]) if one else None
    else:
        step = next_runs(EXPERIMENTS[EXPERIMENT], args.next, args.seeds)
    if step:
        print(f"--seeds {step[0]} --only {' '.join(step[1])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
