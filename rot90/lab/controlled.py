"""The rotation and the carry as controlled experiments: the tables and figures of their reports.

`rot90 experiment rotation` trains every rule along depth and along time at the same K;
`rot90 experiment carry` varies the initial carry f0 on both axes. This module turns their runs
(rot90.experiments) into what the thesis is about:

    rotation   per rule: test accuracy and decay along depth beside along time (a scatter whose
               diagonal is "the rotation holds"), gradient-by-distance panels with the same axes,
               training losses with bands over seeds
    carry      the phase diagram: accuracy and the gradient K - 1 steps back against f0, per axis
    arms       the rotation's 2x2 (`rot90 experiment rotation-arms`): per rule, what tying the blocks and
               giving each block a pixel change, paired by seed, and every stack against the linear classifier

Colours follow each rule's role (rot90.report.rule_style), as in every figure of the project.
"""

from __future__ import annotations

import math
from pathlib import Path

from ..report import ROLES, pyplot, role, rule_style, save, seed_band
from .claims import seed_values
from .stats import band, interval, paired, verdict

CHANCE = 0.1  # ten classes
UNIFORM_LOSS = math.log(10)  # cross-entropy of the uniform prediction


def _name(run: str) -> dict[str, str]:
    """"k100,depth,rule=lstm,f0=0.5" -> {"K": "100", "axis": "depth", "rule": "lstm", "f0": "0.5"}."""
    parts = run.split(",")
    out = {"K": parts[0][1:], "axis": parts[1] if parts[1] in ("depth", "time") else "depth"}
    out.update(p.split("=", 1) for p in parts[1:] if "=" in p)
    if parts[1] == "linear":
        out["rule"] = "linear"
    return out


def _interval(r: dict, key: str | None = None, scale: float = 100.0, digits: int = 1) -> str:
    """"61.3 (59.0–63.1)" from a run's seeds: the metric, or one of its scalars."""
    s = r.get("scalar_seeds", {}).get(key) if key else r.get("seeds")
    if s is None:
        value = r["scalars"][key] if key else r["dev"].get("accuracy", math.nan)
        return f"{scale * value:.{digits}f}"
    return band(s, f".{digits}f", scale)


def _factor(r: dict, stage: str) -> str:
    """The per-step factor 10^decay, with its range over seeds."""
    s = r.get("scalar_seeds", {}).get(f"decay_{stage}")
    if s is None:
        return f"{10 ** r['scalars'][f'decay_{stage}']:.3g}"
    return band(s, ".3g", value=lambda v: 10 ** v)


def rotation_table(results: list[dict]) -> list[str]:
    by = {(_name(r["run"])["axis"], _name(r["run"]).get("rule"), _name(r["run"]).get("init", "default")): r
          for r in results}
    lines = ["| rule | role | init | depth: test accuracy (%) | time: test accuracy (%) | depth: gradient factor "
             "per block at init → trained | time: gradient factor per step at init → trained |",
             "|---|---|---|---|---|---|---|"]
    order = list(ROLES) + ["linear"]
    for rule, init in sorted({k[1:] for k in by}, key=lambda k: (k[1] != "default", order.index(k[0]), k[1])):
        d, t = by.get(("depth", rule, init)), by.get(("time", rule, init))
        cells = [_interval(d) if d else "", _interval(t) if t else ""]
        for x in (d, t):
            cells.append(f"{_factor(x, 'initialisation')} → {_factor(x, 'trained')}" if x and "scalars" in x
                         else "")
        lines.append(f"| {rule} | {role(rule) if rule != 'linear' else 'no blocks'} | {init} | " + " | ".join(cells)
                     + " |")
    return lines


def carry_tables(results: list[dict], K: int) -> list[str]:
    rows: dict[str, dict[str, dict]] = {}
    for r in results:
        n = _name(r["run"])
        gate = f"(no gate, i = {n['i']})" if "i" in n else "(no gate)"  # f = 1 at a smaller write scale
        rows.setdefault(f"{n['rule']}@{n['axis']}" if n["rule"] != "resnet" else f"{gate}@{n['axis']}", {})[
            n["f0"]] = r
    columns = ["0.5", "0.73", "0.88", "0.98", "chrono", "1"]
    head = "| rule @ axis | " + " | ".join(f"f0 = {c}" for c in columns) + " |"
    out = []
    for title, cell in (("Test accuracy (%), mean (min–max over seeds):", lambda r: _interval(r)),
                        (f"log10 ‖d loss / d stream‖ / B, K − 1 = {K - 1} steps back, at initialisation:",
                         lambda r: _interval(r, "far_initialisation", 1.0, 1))):
        out += [title, "", head, "|---|" + "---|" * len(columns)]
        for name, by in rows.items():
            out.append(f"| {name} | " + " | ".join(cell(by[c]) if c in by else "" for c in columns) + " |")
        out.append("")
    return out


def rotation_figure(results: list[dict], folders: dict[str, list[Path]], out: Path, title: str) -> Path:
    """Gradient by distance (depth | time, same axes), the decay scatter, and training losses with seed bands."""
    plt = pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(12, 9))
    grad_axes = {"depth": axes[0][0], "time": axes[0][1]}
    for r in results:
        n = _name(r["run"])
        if n.get("init", "default") != "default" or n["rule"] == "linear":
            continue
        st = rule_style(n["rule"])
        for stage, ls in (("initialisation", "-"), ("trained", "--")):
            g = r["gradients"][stage]
            grad_axes[n["axis"]].plot(range(len(g)), g, ls=ls, color=st["color"],
                                      label=f"{n['rule']} ({'init' if stage == 'initialisation' else 'trained'})")
    low = min(min(v for v in r["gradients"][s] if math.isfinite(v)) for r in results if "gradients" in r
              for s in r["gradients"])
    high = max(max(r["gradients"][s]) for r in results if "gradients" in r for s in r["gradients"])
    for axis, ax in grad_axes.items():
        ax.set_ylim(low - 1, high + 1)
        ax.set_xlabel(f"distance k from the output ({'blocks' if axis == 'depth' else 'time steps'})")
        ax.set_ylabel("log10 ‖d loss / d stream‖ / batch size")
        ax.set_title(f"along {axis}: solid at init, dashed trained (first seed)", fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=6, ncol=2)
    # the scatter: depth decay against time decay per rule; on the diagonal the rotation holds
    ax = axes[1][0]
    by = {(_name(r["run"])["axis"], _name(r["run"])["rule"]): r for r in results
          if _name(r["run"]).get("init", "default") == "default" and "scalars" in r}
    spans = []
    for rule in sorted({k[1] for k in by}):
        if ("depth", rule) not in by or ("time", rule) not in by:
            continue
        for stage, filled in (("initialisation", True), ("trained", False)):
            pts = []
            for axis in ("depth", "time"):
                r = by[(axis, rule)]
                s = r.get("scalar_seeds", {}).get(f"decay_{stage}")
                v = s["mean"] if s else r["scalars"][f"decay_{stage}"]
                pts.append((v, (v - s["low"], s["high"] - v) if s else (0, 0)))
            (x, xe), (y, ye) = pts
            spans += [x, y]
            st = rule_style(rule)
            ax.errorbar(x, y, xerr=[[xe[0]], [xe[1]]], yerr=[[ye[0]], [ye[1]]], fmt=st["marker"], color=st["color"],
                        mfc=st["color"] if filled else "white", ms=7,
                        label=f"{rule} ({'init' if filled else 'trained'})")
    if spans:
        lo, hi = min(spans) - 0.05, max(spans) + 0.05
        ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8, ls=":", label="depth = time")
    ax.set_xlabel("along depth: log10 gradient factor per block")
    ax.set_ylabel("along time: log10 gradient factor per step")
    ax.set_title("decay per step, depth against time (bars: min–max over seeds)", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=6, ncol=2)
    ax = axes[1][1]
    for r in results:
        n = _name(r["run"])
        if n.get("init", "default") != "default" or n["rule"] == "linear":
            continue
        st = rule_style(n["rule"])
        seed_band(ax, folders[r["run"]], "loss", smooth=20, label=f"{n['rule']} @ {n['axis']}", color=st["color"],
                  ls="-" if n["axis"] == "depth" else "--")
    ax.axhline(UNIFORM_LOSS, color="black", lw=0.8, ls=":", label="chance (ln 10)")
    ax.set_xlabel("update")
    ax.set_ylabel("training cross-entropy (20-update mean)")
    ax.set_yscale("log")
    ax.set_title("training loss: mean, band min–max over seeds; solid depth, dashed time", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=6, ncol=2)
    fig.suptitle(title, fontsize=11)
    return save(fig, out)


def carry_figure(results: list[dict], out: Path, title: str, K: int) -> Path:
    """The phase diagram: accuracy and the far gradient at initialisation against f0, a line per rule @ axis."""
    plt = pyplot()
    columns = ["0.5", "0.73", "0.88", "0.98", "chrono", "1"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    lines: dict[tuple[str, str], dict[str, dict]] = {}
    for r in results:
        n = _name(r["run"])
        lines.setdefault((n["axis"], n["rule"] + (f", i = {n['i']}" if "i" in n else "")), {})[n["f0"]] = r
    for (axis, rule), by in lines.items():
        if rule.startswith("resnet"):
            continue
        both = {**by, **lines.get((axis, "resnet"), {})}  # f0 = 1: the resnet rule closes every line
        st = rule_style(rule)
        xs = [i for i, c in enumerate(columns) if c in both]
        for ax, key, scale in ((axes[0], None, 100.0), (axes[1], "far_initialisation", 1.0)):
            mid, lo, hi = [], [], []
            for i in xs:
                r = both[columns[i]]
                s = r.get("scalar_seeds", {}).get(key) if key else r.get("seeds")
                v = (r["scalars"][key] if key else r["dev"]["accuracy"]) if s is None else s["mean"]
                mid.append(scale * v)
                lo.append(scale * (s["low"] if s else v))
                hi.append(scale * (s["high"] if s else v))
            ax.plot(xs, mid, marker=st["marker"], color=st["color"], ls="-" if axis == "depth" else "--",
                    label=f"{rule} @ {axis}")
            ax.fill_between(xs, lo, hi, color=st["color"], alpha=0.15)
    for (axis, rule), by in lines.items():  # f = 1 writing less: points beside the f = 1 column, hollow
        if not rule.startswith("resnet, i = ") or "1" not in by:
            continue
        r, shift = by["1"], 0.1 if axis == "depth" else -0.1
        for ax, key, scale in ((axes[0], None, 100.0), (axes[1], "far_initialisation", 1.0)):
            s = r.get("scalar_seeds", {}).get(key) if key else r.get("seeds")
            v = scale * ((r["scalars"][key] if key else r["dev"]["accuracy"]) if s is None else s["mean"])
            ax.plot(len(columns) - 1 + shift, v, marker="o" if axis == "depth" else "s", mfc="white",
                    color=rule_style("resnet")["color"], ls="", label=f"{rule} @ {axis}")
    axes[0].axhline(100 * CHANCE, color="black", lw=0.8, ls=":", label="chance")
    axes[0].set_ylabel("test accuracy (%)")
    axes[1].set_ylabel(f"log10 ‖d loss / d stream‖ / B, {K - 1} steps back, at init")
    for ax in axes:
        ax.set_xticks(range(len(columns)), [f"f0={c}" if c != "1" else "f≡1 (resnet)" for c in columns], fontsize=8)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
        ax.set_xlabel("initial carry f0 (solid: depth, dashed: time; band: min–max over seeds)")
    fig.suptitle(title, fontsize=11)
    return save(fig, out)


_ARMS = ("blocks=untied,input=once", "blocks=tied,input=once", "blocks=untied,input=every", "blocks=tied,input=every")
# (what changes, from arm, to arm): each switch at both settings of the other, and the whole rotation at once
_EFFECTS = (("tying the blocks (the image once)", 0, 1), ("tying the blocks (a pixel at every block)", 2, 3),
            ("a pixel at every block (untied)", 0, 2), ("a pixel at every block (tied)", 1, 3),
            ("the time layer against the depth stack (both switches)", 0, 3))


def _difference(a: dict, b: dict) -> str:
    """a − b in accuracy points on the seeds both have: mean, paired interval, verdict."""
    va, vb = seed_values(a), seed_values(b)
    seeds = sorted(set(va) & set(vb))
    if not seeds:
        return "no common seed"
    d = paired([va[s] for s in seeds], [vb[s] for s in seeds])
    return f"{interval(d, 100.0)} [{verdict(d)}, {len(seeds)} pairs]"


def arms_tables(results: list[dict]) -> list[str]:
    """The 2x2 per rule (when the group has it), then every stack against the linear classifier of its pixels."""
    by = {r["run"]: r for r in results}
    lines = []
    arms_of = {rule: [by.get(f"k100,depth,rule={rule},{a}") for a in _ARMS] for rule in ROLES
               if f"k100,depth,rule={rule},{_ARMS[0]}" in by}
    if arms_of:
        lines += ["Test accuracy (%), mean (min–max over seeds), and parameters, per rule and arm "
                  "(blocks=tied,input=every is the time layer):", "",
                  "| rule | " + " | ".join(_ARMS) + " |", "|---|" + "---|" * len(_ARMS)]
        for rule, arms in arms_of.items():
            lines.append(f"| {rule} | " + " | ".join(f"{_interval(r)}; {r['parameters']:,}" if r else ""
                                                     for r in arms) + " |")
        lines += ["", "What each switch changes, per rule: paired by seed, test accuracy points, mean (95 % "
                  "t-interval) [verdict, rot90.lab.stats.verdict, margin 0]:", "",
                  "| rule | " + " | ".join(e[0] for e in _EFFECTS) + " |", "|---|" + "---|" * len(_EFFECTS)]
        for rule, arms in arms_of.items():
            lines.append(f"| {rule} | " + " | ".join(_difference(arms[j], arms[i]) if arms[i] and arms[j] else ""
                                                     for _, i, j in _EFFECTS) + " |")
        lines.append("")
    stacks = [r for r in results if _name(r["run"])["rule"] != "linear"]
    lines += ["Each stack against the linear classifier on the same pixels (stack − linear, paired by seed, test "
              "accuracy points) [verdict]:", "", "| run | parameters | test accuracy (%) | − linear |",
              "|---|---|---|---|"]
    for r in stacks:
        pixels = 784 if r["run"].startswith("k784,") else 100
        linear = by.get(f"k{pixels},linear")
        lines.append(f"| {r['run']} | {r['parameters']:,} | {_interval(r)} | "
                     f"{_difference(r, linear) if linear else 'no linear run'} |")
    return [*lines, ""]


def arms_figure(results: list[dict], out: Path, title: str) -> Path:
    """Every run's test accuracy as a bar (whiskers: min–max over seeds), coloured by rule; the linear
    classifiers as lines."""
    plt = pyplot()
    stacks = [r for r in results if _name(r["run"])["rule"] != "linear"]
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(stacks) + 1.6))
    for y, r in enumerate(stacks):
        s, value = r.get("seeds"), 100 * r["dev"].get("accuracy", math.nan)
        mean = 100 * s["mean"] if s else value
        err = [[mean - 100 * s["low"]], [100 * s["high"] - mean]] if s else None
        ax.barh(y, mean, xerr=err, color=rule_style(_name(r["run"])["rule"])["color"], alpha=0.8, capsize=2)
    for r, ls in ((r, "--" if r["run"].startswith("k100") else ":") for r in results
                  if _name(r["run"])["rule"] == "linear"):
        s = r.get("seeds")
        ax.axvline(100 * (s["mean"] if s else r["dev"].get("accuracy", math.nan)), color="black", lw=0.9, ls=ls,
                   label=f"{r['run']}")
    ax.axvline(100 * CHANCE, color="grey", lw=0.8, label="chance")
    ax.set_yticks(range(len(stacks)), [r["run"].replace(",depth,", ", ") for r in stacks], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("test accuracy (%), mean over seeds, whiskers min–max")
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(title, fontsize=10)
    return save(fig, out)


def sections(group, results: list[dict], folders: dict[str, list[Path]], where: Path, i: int) -> list[str]:
    """The report lines of a rotation or carry group after its main table."""
    if group.kind == "arms":
        fig = arms_figure(results, where / f"group{i}-arms.png", group.title)
        return [*arms_tables(results), f"![the arms]({fig.name})", ""]
    K = int(_name(results[0]["run"])["K"])
    if group.kind == "rotation":
        fig = rotation_figure(results, folders, where / f"group{i}-rotation.png", group.title)
        return ["Per rule (the rows of the rotation matrix); gradient factors fitted on log-norms over k = 1 .. K − 1 "
                "(< 1: the gradient fades with distance, > 1: it grows):", "", *rotation_table(results), "",
                f"![the rotation]({fig.name})", ""]
    fig = carry_figure(results, where / f"group{i}-carry.png", group.title, K)
    return [*carry_tables(results, K), f"![the phase diagram]({fig.name})", ""]


__all__ = ["arms_figure", "carry_figure", "rotation_figure", "sections"]
