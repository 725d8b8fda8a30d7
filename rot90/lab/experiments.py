"""`rot90 experiment NAME`: each claim of the demo at full size, as trainer runs and a report.

    rot90 experiment rotation [--out runs/experiments] [--seed 0] [--seeds 3] [--only RUN ...] [--quick]

An experiment is a few groups of runs; a run is a shipped config plus overrides, trained by
rot90's trainer into OUT/NAME/RUN. Stop the command at any point and run it again: every run
resumes from its last checkpoint, and runs that finished (OUT/NAME/RUN/result.json) are not
trained again. Then OUT/NAME/report.md, results.json and one figure per group are written.
Step-limited runs give the same numbers again for the same seed; runs with a wall-clock budget
(the equal-budget comparisons) depend on the machine, and the report says so.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from pathlib import Path

import torch

from ..files import atomic_write
from ..report import plot_curves, plot_gradients, read_metrics, sci
from ..runs import RunFolder
from ..version import __version__
from . import duel, ownrate
from .catalogue import CONFIGS, EXPERIMENTS, PROBE, Group, Run
from .stats import band, interval, paired, spread, verdict


def _parameters(model, body: bool = False) -> int:
    """The model's parameters; body: those outside the embeddings (a tied output layer is the target embedding)."""
    return sum(p.numel() for n, p in model.named_parameters() if not (body and "embed" in n.split(".")[0]))


def _width_for(task, cfg, target: int, body: bool = False) -> int:
    """The model.hidden (a multiple of 8) whose model has the parameter count nearest target (body: _parameters)."""
    def count(units: int) -> int:
        cfg.model.hidden = 8 * units
        return _parameters(task.build_model(), body)

    lo, hi = 1, 128
    while lo < hi:  # the smallest width with at least target parameters
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if count(mid) < target else (lo, mid)
    best = min({max(lo - 1, 1), lo}, key=lambda u: abs(count(u) - target))
    cfg.model.hidden = 8 * best
    return cfg.model.hidden


def run_one(run: Run, group: Group, folder: Path, seed: int, quick: bool, extra: tuple[str, ...] = (),
            progress=print, train: bool = True) -> dict | None:
    """Train one run (or resume it) and summarise it into folder/result.json; a finished run is read back.

    train=False summarises a run as it stands (None if it has no exported model yet).
    """
    from ..config import ConfigError, load
    from ..run import train as train_run
    from ..tasks import make_task
    from ..train.trainer import Diverged

    done = folder / "result.json"
    if done.exists():
        return json.loads(done.read_text())
    if not train and not (folder / "export").is_dir():
        return None
    config = CONFIGS / f"{run.config}.toml" if run.config else None  # "": the defaults and the overrides alone
    if config is not None and not config.exists():
        raise ConfigError(f"{config}: shipped config not found (rot90 experiment runs from a clone of rot90)")
    cfg = load(config, [*run.overrides, f"train.seed={seed}", *(group.quick if quick else ()), *extra])
    task = make_task(cfg)
    if run.match and not quick:  # the reference's parameter count: its overrides on this run's config, or another
        ref = make_task(load(CONFIGS / f"{run.match_config}.toml", [*run.match, f"train.seed={seed}", *extra])
                        if run.match_config else
                        load(config, [*run.overrides, *run.match, f"train.seed={seed}", *extra]))
        _width_for(task, cfg, _parameters(ref.build_model(), run.body), run.body)
    elif run.params and not quick:
        _width_for(task, cfg, run.params)
    diverged = ""
    if train:
        progress(f"  {run.name}: training into {folder}")
        try:
            train_run(cfg, folder, log=lambda m: progress(f"    {m}"), task=task)  # as `rot90 train` does
        except Diverged as e:  # a seed that diverges is a result of the experiment, not the end of it
            diverged = str(e)
            progress(f"  {run.name}: diverged ({e})")
    rows = read_metrics(folder)
    steps = [r for r in rows if "loss" in r] or [{"step": 0, "tokens_per_s": 0.0}]  # (diverged before a row)
    dev = [r for r in rows if f"dev_{group.metric}" in r]
    result = {"run": run.name, "config": f"configs/{run.config}.toml" if run.config else "",
              "overrides": list(run.overrides),
              "hidden": cfg.model.hidden, "parameters": _parameters(model := task.build_model()),
              "body_parameters": _parameters(model, body=True),
              "steps": steps[-1]["step"], "seconds": steps[-1].get("seconds", 0.0),
              "tokens_per_s": steps[-1]["tokens_per_s"], "threads": torch.get_num_threads(),
              "dev": {k[4:]: v for k, v in dev[-1].items() if k.startswith("dev_")} if dev and not diverged else {}}
    if group.reach:  # how fast, not how far: the first evaluation at or past the threshold (None: never)
        result["reached"] = next((r["step"] for r in dev if r[f"dev_{group.metric}"] >= group.reach), None)
    if diverged:  # no export to evaluate: recorded as it is
        atomic_write(done, json.dumps({**result, "diverged": diverged}, indent=1))
        return {**result, "diverged": diverged}
    if group.test:
        from ..translate import evaluate

        progress(f"  {run.name}: test split, beam 5")
        r = evaluate(folder, "test", beam=5, limit=20 if quick else 0, shortlist=False)  # the model, whole
        result["test"] = {k: r[k] for k in ("sentences", "bleu", "chrf", "length_ratio", "perplexity",
                                            "sentences_per_s", "bleu_signature", "chrf_signature")}
    if group.flops:
        result.update(_flops(task, cfg, matmul=256 if quick else 2048))
        result["achieved_gflops"] = result["flops_per_token"] * result["tokens_per_s"] / 1e9
    if group.gradients and cfg.model.layers:  # (a linear classifier has no stream)
        from .gradients import decay

        result["gradients"] = g = _gradients(task, cfg, folder)
        # per-seed numbers the report gives intervals for: the fitted per-step decay, the gradient K - 1 steps back
        result["scalars"] = {f"{what}_{stage}": fn(g[stage]) for stage in g
                             for what, fn in (("decay", decay), ("far", lambda v: v[-1]))}
    if train:  # a run reported as it stands may go on training later
        atomic_write(done, json.dumps(result, indent=1))
    return result


def _flops(task, cfg, batches: int = 4, matmul: int = 2048) -> dict:
    """FLOPs per target token of a training step (forward + backward, counted by torch.utils.flop_counter on the
    first batches of the run's data, rot90.lab.steptime.counted_flops) and this machine's large-matmul rate in the
    run's precision: "learns per token" and "throughput on this CPU" as separate figures (docs/protocols.md)."""
    from ..devices import autocast_dtype
    from .bench import matmul_gflops
    from .steptime import counted_flops

    torch.manual_seed(cfg.train.seed)
    model = task.build_model().train()
    flops = tokens = 0
    for spec in task.plan(0)[:batches]:
        batch = task.make_batch(spec)
        flops += counted_flops(model, task, batch)
        with torch.no_grad():
            tokens += int(task.loss(model, batch)[1])
    dtype = autocast_dtype(cfg.train.precision, torch.device("cpu"), "train.precision") or torch.float32
    return {"flops_per_token": flops / max(tokens, 1),
            "matmul_gflops": matmul_gflops(torch.device("cpu"), n=matmul, dtype=dtype)}


def _gradients(task, cfg, folder: Path) -> dict[str, list[float]]:
    """|d loss / d stream| by distance on the first test images: a fresh model of the run's seed (the
    trainer's initial weights) and the trained one."""
    from ..export import load_export
    from .gradients import classifier_gradients

    torch.manual_seed(cfg.train.seed)
    fresh, (trained, _) = task.build_model(), load_export(folder)
    x, y = task.test_x[:PROBE], task.test_y[:PROBE]
    return {"initialisation": classifier_gradients(fresh.eval(), x, y),
            "trained": classifier_gradients(trained.eval(), x, y)}


def _gradient_lines(results: list[dict]) -> list[str]:
    """The gradient-flow curves at a few distances: initialisation -> trained."""
    ks = [k for k in (1, 10, 100) if k < max(len(r["gradients"]["trained"]) for r in results)]
    lines = ["| run | " + " | ".join(f"k = {k}" for k in ks) + " | the far end: k = K − 1 |",
             "|---|" + "---|" * (len(ks) + 1)]
    for r in results:
        g, far = r["gradients"], len(r["gradients"]["trained"]) - 1
        cells = [f"{sci(g['initialisation'][k])} → {sci(g['trained'][k])}" if k <= far else "" for k in ks]
        cells.append(f"{sci(g['initialisation'][far])} → {sci(g['trained'][far])} (k = {far})")
        lines.append(f"| {r['run']} | " + " | ".join(cells) + " |")
    return ["‖d loss / d stream‖ / batch size at distance k, at initialisation → after training (computed as "
            "log-norms: nothing underflows):", "", *lines]


def _curve(group: Group, folder: Path) -> str:
    """The dev metric at each evaluation, "54.1 @250, 99.9 @500": how fast, where the final value ties."""
    key, scale = f"dev_{group.metric}", 100 if group.metric == "accuracy" else 1
    points = [(r["step"], r[key] * scale) for r in read_metrics(folder) if key in r]
    if len(points) > 8:  # at most 8, the last one kept
        points = points[:: -(-len(points) // 8)][:7] + points[-1:]
    return ", ".join(f"{v:.3g} @{s}" for s, v in points)


# Two-sided 95 % Student t quantiles by degrees of freedom (N - 1 seeds); beyond 30 the normal's 1.96.
def _format(value: float, metric: str) -> str:
    return f"{100 * value:.1f}" if metric == "accuracy" else f"{value:.4g}"


def _reached(r: dict) -> str:
    """Updates to the threshold: one seed's, or the mean and interval over the seeds that reached it."""
    if "reached_seeds" not in r:
        return f"{r['reached']:,}" if r.get("reached") is not None else f"not within {r['steps']:,}"
    s, missed = r["reached_seeds"], r["unreached_seeds"]
    text = f"{s['mean']:,.0f} ({s['low']:,.0f}–{s['high']:,.0f}, {s['n']} seeds, {s['kind']})" if s else "none"
    return text + (f"; seed {', '.join(map(str, missed))} not within {r['steps']:,}" if missed else "")


def _table(group: Group, results: list[dict], where: Path) -> list[str]:
    unit = " (%)" if group.metric == "accuracy" else ""
    split = "test" if group.kind else "dev"  # the controlled experiments evaluate on the whole test set
    head = (f"| run | width | parameters | updates | training time (s), threads "
            f"| {split} {group.metric.replace('_', ' ')}{unit} |"
            f" {split} {group.metric.replace('_', ' ')} by update |")
    if group.reach:
        head += f" updates to {split} {group.metric.replace('_', ' ')} ≥ {group.reach:g} |"
    if group.test:
        head += (" training tokens/s | test BLEU | test chrF | test length (hypothesis / reference) | test perplexity "
                 "| decoding sentences/s (beam 5) |")
    if group.flops:
        head += " training GFLOPs per target token | achieved GFLOP/s (large matmul here) |"
    lines = [head, "|" + "---|" * head.count(" |")]
    for r in results:
        value = _format(r["dev"].get(group.metric, float("nan")), group.metric)
        if "seeds" in r:  # several seeds: the mean and its interval
            s = r["seeds"]
            value = (f"{_format(s['mean'], group.metric)} ({_format(s['low'], group.metric)}–"
                     f"{_format(s['high'], group.metric)}, {s['n']} seeds, {s['kind']})")
        if r.get("diverged_seeds"):
            value += f"; seed {', '.join(map(str, r['diverged_seeds']))} diverged"
        body = r.get("body_parameters", r["parameters"])
        counts = f"{r['parameters']:,}" + (f" ({body:,} outside the embeddings)" if body != r["parameters"] else "")
        line = (f"| {r['run']} | {r['hidden']} | {counts} | {r['steps']:,} | {r['seconds']:.0f}, "
                f"{r.get('threads', '?')} | {value} |"
                f" {_curve(group, where / r['run'])} |")
        if group.reach:
            line += f" {_reached(r)} |"
        if "test" in r:  # one seed: its values; several: each column as mean (min–max)
            seeds = "test_seeds" in r
            values = r["test_seeds"] if seeds else _test_values(r)
            line += "".join(f" {band(values[k], fmt) if seeds else format(values[k], fmt)} |"
                            for k, fmt in _TEST_COLUMNS)
        if group.flops:
            line += (f" {r['flops_per_token'] / 1e9:.4f} | {r['achieved_gflops']:.1f} ({r['matmul_gflops']:.0f}) |"
                     if "flops_per_token" in r else " | |")
        lines.append(line)
    if group.test and results and "test" in results[0]:
        t = results[0]["test"]
        lines += ["", f"Test split: {t['sentences']:,} sentences. Signatures: BLEU `{t['bleu_signature']}`, "
                      f"chrF `{t['chrf_signature']}`."
                      + (" With seeds, the speed and test columns give the mean (min–max) over the seeds."
                         if any("test_seeds" in r for r in results) else "")]
    return lines


# The speed and test columns of a translation table, in order, with their formats.
_TEST_COLUMNS = (("tokens_per_s", ",.0f"), ("bleu", ".2f"), ("chrf", ".1f"), ("length_ratio", ".3f"),
                 ("perplexity", ".1f"), ("sentences_per_s", ".1f"))
_PAIRED = ("bleu", "chrf")  # the test scores a row is compared with its group's baseline on, seed by seed


_LOWER = ("loss", "perplexity", "bits_per_char")  # dev metrics that are better low


def _paired(group: Group, results: list[dict]) -> list[str]:
    """Each row against the group's baseline on the seeds both have: the mean difference of test BLEU and chrF
    (and of group.paired_dev's dev metric, signed so that + means the row is better), its paired 95 % t-interval and
    the verdict of the decision rule (docs/protocols.md; held needs 3 pairs)."""
    base = next((r for r in results if r["run"] == group.baseline), None)
    if base is None or "test_by_seed" not in base:
        return []
    dev = group.paired_dev
    lower = dev in _LOWER
    head = "| run | seeds | test BLEU difference | verdict | test chrF difference | verdict |"
    if dev:
        head += f" dev {dev.replace('_', ' ')}, {'baseline − row' if lower else 'row − baseline'} | verdict |"
    lines = [f"Paired with {group.baseline} on the same seeds (row − {group.baseline}; rot90.lab.stats.verdict, "
             "margin 0):", "", head, "|---|---|" + "---|" * (head.count("|") - 3)]
    for r in results:
        if r is base or "test_by_seed" not in r:
            continue
        seeds = sorted(set(r["test_by_seed"]) & set(base["test_by_seed"]), key=int)
        if not seeds:
            continue
        line = f"| {r['run']} | {', '.join(seeds)} |"
        for k in _PAIRED:
            d = paired([r["test_by_seed"][s][k] for s in seeds], [base["test_by_seed"][s][k] for s in seeds])
            line += f" {interval(d)} | {verdict(d)} |"
        if dev:
            both = sorted(set(r.get("dev_by_seed", {})) & set(base.get("dev_by_seed", {})), key=int)
            ours, theirs = ([x["dev_by_seed"][s][dev] for s in both] for x in (r, base))
            if both:
                d = paired(theirs, ours) if lower else paired(ours, theirs)
                line += f" {interval(d, 1.0, 3)} | {verdict(d)} |"
            else:
                line += " | |"
        lines.append(line)
    return [*lines, ""]


def _test_values(result: dict) -> dict:
    return {"tokens_per_s": result["tokens_per_s"], **result["test"]}


def seed_folders(folder: Path, seed: int, seeds: int) -> list[Path]:
    """Where seeds seed, seed+1, ... of a run live: the first in folder itself (the layout of a one-seed
    experiment), the others in folder/seed-K."""
    return [folder if k == seed else folder / f"seed-{k}" for k in range(seed, seed + seeds)]


def run_seeds(run: Run, group: Group, folder: Path, seed: int, seeds: int, quick: bool, extra: tuple[str, ...],
              progress, train: bool) -> dict | None:
    """One run with seeds seed, seed+1, ... (in seed_folders); the first seed's result, with the spread of the
    dev metric over all seeds."""
    got = [run_one(run, group, where, k, quick, extra, progress, train)
           for k, where in zip(range(seed, seed + seeds), seed_folders(folder, seed, seeds))]
    if got[0] is None:
        return None
    values = [g["dev"][group.metric] for g in got if g is not None and group.metric in g["dev"]]
    if seeds > 1 and values:
        got[0] = {**got[0], "seeds": spread(values), "per_seed": values}
    gone = [k for k, g in zip(range(seed, seed + seeds), got) if g is not None and "diverged" in g]
    if gone:  # said in the table: the interval is over the seeds that finished
        got[0] = {**got[0], "diverged_seeds": gone}
    if group.reach and seeds > 1:
        finished = [(k, g) for k, g in zip(range(seed, seed + seeds), got) if g is not None and "diverged" not in g]
        reached = [g["reached"] for _, g in finished if g.get("reached") is not None]
        got[0]["reached_seeds"] = spread(reached) if reached else None
        got[0]["unreached_seeds"] = [k for k, g in finished if g.get("reached") is None]
    if group.paired_dev:  # the dev metric a comparison with the baseline pairs, seed by seed
        got[0]["dev_by_seed"] = {str(k): g["dev"] for k, g in zip(range(seed, seed + seeds), got)
                                 if g is not None and group.paired_dev in g.get("dev", {})}
    tested = [g for g in got if g is not None and "test" in g]
    if tested:  # what a comparison with the group's baseline pairs, seed by seed
        got[0]["test_by_seed"] = {str(k): {m: g["test"][m] for m in _PAIRED} for k, g in
                                  zip(range(seed, seed + seeds), got) if g is not None and "test" in g}
    if len(tested) > 1:  # the test scores and speeds a comparison quotes, each with its interval over the seeds
        got[0]["test_seeds"] = {k: spread([_test_values(g)[k] for g in tested]) for k, _ in _TEST_COLUMNS}
    scalars = [g["scalars"] for g in got if g is not None and "scalars" in g]
    if scalars:  # finite values only: a gradient exactly 0 has no log
        got[0]["scalar_seeds"] = {k: spread(v) for k in scalars[0]
                                  if (v := [x[k] for x in scalars if math.isfinite(x[k])])}
    return got[0]


def run_experiment(name: str, out: Path, seed: int = 0, quick: bool = False, only: list[str] | None = None,
                   extra: tuple[str, ...] = (), train: bool = True, progress=print, seeds: int = 1) -> dict:
    """Every run of experiment `name` (or those in `only`), then OUT/NAME/report.md, results.json, figures.

    extra: overrides for every run, after the experiment's own (e.g. data.path=data/translation-de).
    train=False: no training; report the runs that have an exported model, as they stand.
    seeds: each run with seeds seed .. seed + seeds - 1; tables give the mean and its interval.
    """
    from ..config import ConfigError

    if seeds < 1:
        raise ConfigError(f"--seeds {seeds}: at least one")
    if name not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}")
    groups, where = EXPERIMENTS[name], Path(out) / name
    known = {r.name for g in groups for r in g.runs}
    if only and set(only) - known:
        raise ConfigError(f"--only: no run {sorted(set(only) - known)[0]!r} in {name}; "
                          f"runs: {', '.join(sorted(known))}")
    start, results = time.perf_counter(), {}
    report = [f"# rot90 experiment {name}", "",
              f"`rot90 experiment {name} --out {out} --seed {seed}{f' --seeds {seeds}' if seeds > 1 else ''}"
              f"{' --quick' if quick else ''}"
              f"{''.join(f' --set {e}' for e in extra)}{' --only ' + ' '.join(only) if only else ''}"
              f"{'' if train else ' --report-only'}` — "
              f"rot90 {__version__}, "
              f"torch {torch.__version__}, Python {platform.python_version()}, {platform.machine()} with "
              f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}.", ""]
    for i, group in enumerate(groups, 1):
        progress(f"[{i}/{len(groups)}] {group.title}")
        runs = [r for r in group.runs if not only or r.name in only]
        got = [run_seeds(r, group, where / r.name, seed, seeds, quick, tuple(extra), progress, train) for r in runs]
        runs = [r for r, g in zip(runs, got) if g is not None]
        got = [g for g in got if g is not None]
        results[group.title] = got
        if not got:
            continue
        report += [f"## {i}. {group.title}", "", group.about, "", *_table(group, got, where), "",
                   *(_paired(group, got) if group.baseline else [])]
        folders = {r.name: [f for f in seed_folders(where / r.name, seed, seeds) if RunFolder(f).has_metrics()]
                   for r in runs}  # each run's seeds that trained
        if group.kind:  # evaluated once, at the end: the controlled experiments' own figures instead of curves
            from .controlled import sections

            report += sections(group, got, folders, where, i)
            continue
        key = group.curve or f"dev_{group.metric}"
        ylabel = "training loss (nats per token, label-smoothed)" if key == "loss" else key.replace("_", " ")
        figure = plot_curves(folders, key, group.x, where / f"group{i}.png",
                             group.title, ylabel, smooth=20 if key == "loss" else 1)
        report += [f"![{group.title}]({figure.name})", ""]
        if group.test and group.x == "seconds":  # equal wall-clock: the dev metric against updates and against time
            for x in ("step", "seconds", *(("tokens",) if group.flops else ())):
                figure = plot_curves(folders, f"dev_{group.metric}", x, where / f"group{i}-dev-{x}.png", group.title,
                                     f"dev {group.metric}")
                report.append(f"![dev {group.metric} against {x}]({figure.name})")
            report.append("")
        if group.gradients:
            curves: dict = {}
            for r in got:  # runs are named "AXIS,rule=RULE"
                axis, rule = r["run"].split(",rule=")
                curves.setdefault(axis, {})[rule] = r["gradients"]
            figure = plot_gradients(curves, where / f"group{i}-gradients.png", group.title,
                                    unit={"depth": "blocks", "time": "time steps"})
            report += [*_gradient_lines(got), "", f"![gradients]({figure.name})", ""]
    if name == duel.EXPERIMENT:  # what its protocol decides, from every run on disk
        report += duel.section(groups, where)
    if name == ownrate.EXPERIMENT:  # its rate trials' choice and verdicts, from every run on disk
        report += ownrate.section(where)
    report.append(f"Wall-clock of this invocation: {time.perf_counter() - start:.0f} s (finished runs are read "
                  "back, not retrained; each run's own training time and threads are in its row). Runs with a "
                  "wall-clock budget depend on the machine; step-limited runs repeat exactly for the same seed.")
    atomic_write(where / "report.md", "\n".join(report) + "\n")
    atomic_write(where / "results.json",
                      json.dumps({"experiment": name, "seed": seed, "seeds": seeds, "quick": quick, "groups": results},
                                 indent=1))
    progress(f"wrote {where / 'report.md'}")
    return results


__all__ = ["EXPERIMENTS", "Group", "Run", "run_experiment", "run_one"]
