"""Section 0 of docs/results.md, derived by code: each claim, the runs it rests on, and the decision rule's verdict.

    python -m rot90.lab.claims            # the table, from docs/experiments/*/results.json
    python -m rot90.lab.claims --write    # ... written into docs/results.md between its claims markers

A claim is one or more contrasts "run A is ahead of run B" inside one experiment's results.json (what
`rot90 experiment NAME --seeds N` wrote, or scripts/peer-opennmt: one row per toolkit and seed, paired on the
claim's test metrics). Each contrast pairs the two runs' final dev metric seed by seed
(rot90.lab.stats.paired) and takes the verdict of the decision rule in docs/protocols.md (rot90.lab.stats.verdict:
held only on 3 pairs or more with the 95 % interval past the margin). A claim is held when every one of its contrasts
is; the table says how many are otherwise. tests/test_claims.py fails when docs/results.md differs from this.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from .stats import interval, paired, verdict

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "docs" / "results.md"
BEGIN, END = "<!-- claims: begin (python -m rot90.lab.claims --write) -->", "<!-- claims: end -->"


# What wrote each experiment's results.json.
COMMANDS = {"carry": "rot90 experiment carry --seeds 3", "rotation": "rot90 experiment rotation --seeds 3",
            "language-model": "rot90 experiment language-model --seeds 3",
            "numbers-depth-seeds": "rot90 experiment numbers --seeds 3 --only layers=8,residual=true "
                                   "layers=8,residual=false",
            "translation-depth": "rot90 experiment translation-depth --seeds 2",
            "rotation-arms": "rot90 experiment rotation-arms --seeds 3",
            "carry-endpoint": "rot90 experiment carry --seeds 3 --only k100,…,f0=0.98 k100,…,f0=1 k100,…,f0=1,i=…",
            "carry-endpoint-784": "rot90 experiment carry --seeds 3 --only k784,…,f0=0.98 k784,…,f0=chrono "
                                  "k784,…,f0=1 k784,…,f0=1,i=…",
            "memory-tasks": "rot90 experiment memory-tasks --seeds 3 --only …",
            "translation-contrasts": "rot90 experiment translation-contrasts --seeds 3",
            "translation-own-rate": "rot90 experiment translation-own-rate --seeds 3 --only lstm,lr=0.008,warmup=400 "
                                    "minlstm,lr=0.008,warmup=100 minlstm,wider,lr=0.004,warmup=100 "
                                    "minlstm,deeper,lr=0.008,warmup=100",
            "peer-opennmt/2026-12-03-three-seeds": "scripts/peer-opennmt --minutes 20 --threads 1 --seeds 0 1 2",
            "peer-opennmt/2026-12-03-bf16": "scripts/peer-opennmt --minutes 20 --threads 1 --seeds 0 1 2 "
                                            "--precision auto",
            "peer-opennmt/2026-12-04-five-seeds": "scripts/peer-opennmt --minutes 20 --threads 1 --seeds 0 1 2 3 4 "
                                                  "--precision auto",
            "peer-opennmt/2026-12-05-decoding": "scripts/peer-opennmt --minutes 20 --threads 1 --seeds 0 1 2 "
                                                "--precision auto",
            "peer-opennmt/2026-12-06-transformer": "docs/experiments/peer-rate/transformer-2026-12-05/run.sh",
            "peer-opennmt/2026-12-06-transformer-rot90-rate": "docs/experiments/peer-rate/transformer-2026-12-05/"
                                                              "second-row.sh"}


@dataclass(frozen=True)
class Claim:
    text: str  # as results.md states it
    section: str  # where results.md shows the runs
    experiment: str  # docs/experiments/EXPERIMENT/results.json, written by COMMANDS[experiment]
    contrasts: tuple[tuple[str, str], ...]  # (ahead, behind): run names
    lower: bool = False  # the metric is better low (bits per character, perplexity)
    scale: float = 1.0  # for the table: 100 turns an accuracy into %
    unit: str = ""
    metrics: tuple[str, ...] = ()  # scripts/peer-opennmt's rows: the test metrics each contrast pairs ("bleu", "chrf");
    # archived run folders (docs/experiments/EXPERIMENT/runs): the dev metric ("accuracy", "loss")


def _grid(ahead: list[str], behind: list[str]) -> tuple[tuple[str, str], ...]:
    return tuple((a, b) for a in ahead for b in behind)


def _carry(k: int, axis: str, rules: tuple[str, ...], high: str, low: str) -> tuple[tuple[str, str], ...]:
    return tuple((f"k{k},{axis},rule={r},f0={high}", f"k{k},{axis},rule={r},f0={low}") for r in rules)


_DEPTH = ("plain", "highway", "lstm", "gru", "minlstm", "mingru")
_PCT = dict(scale=100.0, unit=" points")
_CARRYING = ("resnet", "highway", "lstm")  # the 2x2's rules that carry (the gated two at carry 0.98)


def _arm(rule: str, blocks: str, inputs: str) -> str:
    return f"k100,depth,rule={rule},blocks={blocks},input={inputs}"


_BITS = dict(lower=True, unit=" bits/char")
_NATS = dict(lower=True, unit=" nats")  # translation-contrasts: the whole dev split's loss at update 600
CLAIMS = (
    Claim("along depth the carry decides whether a 100-block stack trains: f0 = 0.98 against 0.73", "§12", "carry",
          _carry(100, "depth", ("highway", "minlstm"), "0.98", "0.73"), **_PCT),
    Claim("along time at 100 steps the LSTM's carry matters too: f0 = 0.88 against 0.5", "§12", "carry",
          _carry(100, "time", ("lstm",), "0.88", "0.5"), **_PCT),
    Claim("along time at 100 steps a carry near 1 helps the minLSTM: f0 = 0.98 against 0.5", "§12", "carry",
          _carry(100, "time", ("minlstm",), "0.98", "0.5"), **_PCT),
    Claim("at 784 blocks only carries that start near 1 train: chrono against f0 = 0.88", "§12", "carry",
          _carry(784, "depth", ("highway", "minlstm"), "chrono", "0.88"), **_PCT),
    Claim("along time at 784 steps a carry near 1 helps: f0 = 0.98 against 0.5", "§12", "carry",
          _carry(784, "time", ("lstm", "minlstm"), "0.98", "0.5"), **_PCT),
    Claim("along time at 100 steps the no-gate rule is the worst only at its full write: f ≡ 1 writing 0.1 is ahead "
          "of the LSTM and minLSTM at f0 = 0.98", "§12", "carry-endpoint",
          _grid(["k100,time,rule=resnet,f0=1,i=0.1"], [f"k100,time,rule={r},f0=0.98" for r in ("lstm", "minlstm")]),
          **_PCT),
    Claim("… and at the write f0 = 0.98 starts with (0.02), the gated rules at f0 = 0.98 ahead of f ≡ 1", "§12",
          "carry-endpoint", _grid([f"k100,time,rule={r},f0=0.98" for r in ("lstm", "minlstm")],
                                  ["k100,time,rule=resnet,f0=1,i=0.02"]), **_PCT),
    Claim("along depth at 100 blocks, f ≡ 1 at a gated rule's write scale (0.02) is ahead of the gated rules at "
          "f0 = 0.98", "§12", "carry-endpoint",
          _grid(["k100,depth,rule=resnet,f0=1,i=0.02"], [f"k100,depth,rule={r},f0=0.98" for r in ("highway",
                                                                                                   "minlstm")]),
          **_PCT),
    Claim("on either axis the no-gate rule does better writing less: i = 0.02 against 1", "§12", "carry-endpoint",
          tuple((f"k100,{a},rule=resnet,f0=1,i=0.02", f"k100,{a},rule=resnet,f0=1") for a in ("depth", "time")),
          **_PCT),
    Claim("at 784 blocks the chrono carry beats the no-gate ResNet at its full write", "§12", "carry-endpoint-784",
          _grid([f"k784,depth,rule={r},f0=chrono" for r in ("highway", "minlstm")], ["k784,depth,rule=resnet,f0=1"]),
          **_PCT),
    Claim("… but not at a matched write: f ≡ 1 writing 0.02 or 1/√K is ahead of the chrono carry", "§12",
          "carry-endpoint-784", _grid([f"k784,depth,rule=resnet,f0=1,i={i}" for i in ("0.02", "0.0357")],
                                      [f"k784,depth,rule={r},f0=chrono" for r in ("highway", "minlstm")]), **_PCT),
    Claim("along time at 784 steps the gated rules at f0 = 0.98 are ahead of f ≡ 1 at both smaller writes", "§12",
          "carry-endpoint-784", _grid([f"k784,time,rule={r},f0=0.98" for r in ("lstm", "minlstm")],
                                      [f"k784,time,rule=resnet,f0=1,i={i}" for i in ("0.02", "0.0357")]), **_PCT),
    Claim("at 100 blocks, with the rules' own initialisation, only the identity carry (ResNet) trains", "§13",
          "rotation", _grid(["k100,depth,rule=resnet"], [f"k100,depth,rule={r}" for r in _DEPTH]), **_PCT),
    Claim("… and at 784 blocks", "§13", "rotation",
          _grid(["k784,depth,rule=resnet"], [f"k784,depth,rule={r}" for r in _DEPTH]), **_PCT),
    Claim("at 100 blocks the linear classifier is ahead of the best depth stack (ResNet)", "§13", "rotation",
          (("k100,linear", "k100,depth,rule=resnet"),), **_PCT),
    Claim("at 784 blocks the linear classifier is ahead of the best depth stack (ResNet)", "§13", "rotation",
          (("k784,linear", "k784,depth,rule=resnet"),), **_PCT),
    Claim("at 100 blocks a depth stack beats the linear classifier: Highway and LSTM (carry 0.98), untied, a "
          "pixel at every block", "§13", "rotation-arms",
          tuple((_arm(r, "untied", "every"), "k100,linear") for r in ("highway", "lstm")), **_PCT),
    Claim("the time layer is behind its untied depth twin (the image once) for every rule that carries", "§13",
          "rotation-arms", tuple((_arm(r, "untied", "once"), _arm(r, "tied", "every")) for r in _CARRYING), **_PCT),
    Claim("… and what costs is one tied block reading a pixel at every step: untied blocks ahead of tied there",
          "§13", "rotation-arms", tuple((_arm(r, "untied", "every"), _arm(r, "tied", "every")) for r in _CARRYING),
          **_PCT),
    Claim("with the image entering once, untied blocks are ahead of tied ones", "§13", "rotation-arms",
          tuple((_arm(r, "untied", "once"), _arm(r, "tied", "once")) for r in _CARRYING), **_PCT),
    Claim("the plain rule (no carry) trains at 100 blocks only when a pixel enters at every block", "§13",
          "rotation-arms", tuple((_arm("plain", b, "every"), _arm("plain", b, "once")) for b in ("untied", "tied")),
          **_PCT),
    Claim("one and four ResNet blocks beat the linear classifier on the 10x10 images", "§13", "rotation-arms",
          (("k1,depth,rule=resnet", "k100,linear"), ("k4,depth,rule=resnet", "k100,linear")), **_PCT),
    Claim("… while 100 ResNet blocks, however they start (uniform, U/√K, zero), are behind the linear classifier",
          "§13", "rotation-arms", tuple(("k100,linear", f"k100,depth,rule=resnet{x}") for x in
                                        (",blocks=untied,input=once", ",init=scaled", ",init=zero")), **_PCT),
    Claim("an LSTM cell as a depth block that starts carrying (f0 = 0.999) beats the linear classifier at 100 "
          "blocks", "§13", "rotation-arms", (("k100,depth,rule=lstm,f0=0.999", "k100,linear"),), **_PCT),
    Claim("at 784 blocks the linear classifier is ahead of a ResNet that starts scaled (U/√K) or as the identity",
          "§13", "rotation-arms", tuple(("k784,linear", f"k784,depth,rule=resnet,init={i}") for i in
                                        ("scaled", "zero")), **_PCT),
    Claim("along time (100 pixels) the rules whose gates read the state beat the gate-decoupled ones", "§13",
          "rotation", _grid([f"k100,time,rule={r}" for r in ("highway", "lstm", "gru")],
                            [f"k100,time,rule={r}" for r in ("minlstm", "mingru")]), **_PCT),
    Claim("along time (784 pixels, 200 updates) the gate-decoupled rules beat the LSTM", "§13", "rotation",
          _grid([f"k784,time,rule={r}" for r in ("minlstm", "mingru")], ["k784,time,rule=lstm"]), **_PCT),
    Claim("rot90's recurrent recipe translates better than OpenNMT-py's attention LSTM at equal wall-clock (fp32, "
          "side by side, one thread each)", "§3", "peer-opennmt/2026-12-03-three-seeds",
          (("rot90 recurrent-nmt", "OpenNMT-py 3.5.1"),), metrics=("bleu", "chrf")),
    Claim("… with rot90 in bf16 where the CPU has it (AMX), its loss fused and α chosen on the whole dev split",
          "§3", "peer-opennmt/2026-12-03-bf16", (("rot90 recurrent-nmt (auto)", "OpenNMT-py 3.5.1"),),
          metrics=("bleu", "chrf")),
    Claim("… with the recipe adopted since (every encoder layer bidirectional), 5 seeds on an AMD EPYC (bf16 by "
          "AVX512-BF16); the peer at rot90's rate, its best of six on dev", "§3", "peer-opennmt/2026-12-04-five-seeds",
          (("rot90 recurrent-nmt (auto)", "OpenNMT-py 3.5.1"),), metrics=("bleu", "chrf")),
    Claim("… again with rot90's decoding defaults of 2026-12-05 (read-ahead, a 20-partner shortlist, k-ended), 3 "
          "new seeds on an AMD EPYC", "§3", "peer-opennmt/2026-12-05-decoding",
          (("rot90 recurrent-nmt (auto)", "OpenNMT-py 3.5.1"),), metrics=("bleu", "chrf")),
    Claim("rot90's Transformer translates better than OpenNMT-py's Transformer at equal wall-clock (bf16 where the "
          "CPU has it); the peer at its own rate, its best of six on dev", "§3", "peer-opennmt/2026-12-06-transformer",
          (("rot90 transformer (auto)", "OpenNMT-py 3.5.1 transformer"),), metrics=("bleu", "chrf")),
    Claim("… the peer at rot90's rate instead (2e-3, 100 warm-up updates), paired with the same rot90 runs", "§3",
          "peer-opennmt/2026-12-06-transformer-rot90-rate",
          (("rot90 transformer (auto)", "OpenNMT-py 3.5.1 transformer (2e-3, 100)"),), metrics=("bleu", "chrf")),
    Claim("selective copying needs stacked layers (Feng et al.): 2 layers ahead of 1, 3 ahead of 2, for the minLSTM "
          "and the minGRU", "§7", "memory-tasks",
          tuple((f"selective-copy,rule={r},layers={n + 1}", f"selective-copy,rule={r},layers={n}")
                for r in ("minlstm", "mingru") for n in (1, 2)), metrics=("accuracy",), **_PCT),
    Claim("… because a gate that does not read the state cannot select: one GRU layer ahead of one minGRU or "
          "minLSTM layer", "§7", "memory-tasks",
          _grid(["selective-copy,rule=gru,layers=1"], [f"selective-copy,rule={r},layers=1" for r in ("mingru",
                                                                                                   "minlstm")]),
          metrics=("accuracy",), **_PCT),
    Claim("the parallel rules solve adding at T = 1000, the default LSTM does not (dev MSE, lower)", "§11",
          "memory-tasks", _grid([f"adding,rule={r}" for r in ("minlstm", "mingru")], ["adding,rule=lstm"]),
          metrics=("loss",), lower=True),
    Claim("… and the chrono LSTM solves it too: its initial carry was what it lacked (chrono on an Intel Xeon, "
          "the default on an AMD EPYC)", "§11", "memory-tasks", (("adding,rule=lstm,chrono=1000", "adding,rule=lstm"),),
          metrics=("loss",), lower=True),
    Claim("character language model at equal parameters and wall-clock: the GRU is best", "§8", "language-model",
          _grid(["gru"], ["plain", "lstm", "minlstm", "mingru", "transformer"]), **_BITS),
    Claim("… and the Transformer last", "§8", "language-model",
          _grid(["plain", "lstm", "gru", "minlstm", "mingru"], ["transformer"]), **_BITS),
    Claim("on the corpus at equal width the LSTM is ahead of the minLSTM (dev loss, 600 updates)", "§3",
          "translation-contrasts", (("lstm", "minlstm"),), **_NATS),
    Claim("… and of the minLSTM made as large (its parameters outside the embeddings): wider, or 5 layers with "
          "residual connections", "§3", "translation-contrasts",
          _grid(["lstm"], ["minlstm,wider", "minlstm,deeper"]), **_NATS),
    Claim("… and of an LSTM whose gates read only the input (its candidate still reads the state)", "§3",
          "translation-contrasts", (("lstm", "lstm,gates=input"),), **_NATS),
    Claim("each at its own rate of six, chosen on seed 0, the LSTM is still ahead of the minLSTM at equal width "
          "(dev loss, 600 updates)", "§3", "translation-own-rate",
          (("lstm,lr=0.008,warmup=400", "minlstm,lr=0.008,warmup=100"),), **_NATS),
    Claim("… and of the minLSTM made as large, wider or deeper, each at its own rate", "§3", "translation-own-rate",
          _grid(["lstm,lr=0.008,warmup=400"], ["minlstm,wider,lr=0.004,warmup=100",
                                               "minlstm,deeper,lr=0.008,warmup=100"]), **_NATS),
    Claim("on the corpus, with the recipe that trains, the 2014 model learns more reading the source reversed "
          "(dev loss, 600 updates)", "§4", "translation-contrasts",
          (("2014,reverse_source=true", "2014,reverse_source=false"),), **_NATS),
    Claim("8 LSTM layers need residual connections (numbers in words, best dev BLEU)", "§5", "numbers-depth-seeds",
          (("layers=8,residual=true", "layers=8,residual=false"),), unit=" BLEU"),
    Claim("on the real corpus, 4 and 8 LSTM layers need residual connections (dev perplexity, 600 updates)", "§5",
          "translation-depth", tuple((f"layers={k},residual=true", f"layers={k},residual=false") for k in (4, 8)),
          lower=True),
)


def seed_values(row: dict) -> dict[int, float]:
    """A results.json row's final dev metric by seed: per_seed lists the seeds that finished, in order."""
    first = int(row.get("seed", 0))
    values = row.get("per_seed") or []
    gone = set(row.get("diverged_seeds", []))
    seeds = [s for s in range(first, first + len(values) + len(gone)) if s not in gone]
    return dict(zip(seeds, values))


def finished_seeds(run: Path) -> dict[int, Path]:
    """A run's seed folders that hold a result.json, by seed: the first (seed 0) is the run's folder itself, seed k
    its seed-k (the layout of rot90.lab.experiments.seed_folders)."""
    folders = {0: run, **{int(f.name[len("seed-"):]): f for f in run.glob("seed-*")}}
    return {k: f for k, f in sorted(folders.items()) if (f / "result.json").exists()}


def _values(claim: Claim, root: Path) -> dict[tuple[str, str], dict[int, float]]:
    """(run, metric) -> its value by seed; metric "" is an experiment's final dev metric."""
    folder = root / "docs" / "experiments" / claim.experiment
    if not (folder / "results.json").exists():  # the runs' own result.json, archived: runs/RUN[/seed-K]/
        out = {}
        for run in sorted((folder / "runs").iterdir()):
            for k, f in finished_seeds(run).items():
                dev = json.loads((f / "result.json").read_text())["dev"]
                for m in (m for m in claim.metrics if m in dev):
                    out.setdefault((run.name, m), {})[k] = dev[m]
        return out
    data = json.loads((folder / "results.json").read_text())
    if isinstance(data, list):  # scripts/peer-opennmt: a row per toolkit and seed
        out: dict = {}
        for r in data:
            for m in claim.metrics:
                out.setdefault((r["toolkit"], m), {})[int(r["seed"])] = r[m]
        return out
    return {(r["run"], ""): seed_values({**r, "seed": data.get("seed", 0)})
            for rows in data["groups"].values() for r in rows}


def judge(claim: Claim, root: Path = ROOT) -> dict:
    """Each contrast's paired difference (ahead - behind, or behind - ahead for a metric better low) and verdict,
    on each of the claim's metrics."""
    values, out = _values(claim, root), []
    for ahead, behind in claim.contrasts:
        for metric in claim.metrics or ("",):
            a, b = values[ahead, metric], values[behind, metric]
            seeds = sorted(set(a) & set(b))
            sign = -1.0 if claim.lower else 1.0
            d = paired([sign * a[s] for s in seeds], [sign * b[s] for s in seeds])
            out.append({"ahead": ahead, "behind": behind, "metric": metric, "seeds": seeds, **d,
                        "verdict": verdict(d)})
    return {"claim": claim, "contrasts": out, "verdict": _overall([c["verdict"] for c in out])}


def _overall(verdicts: list[str]) -> str:
    if len(set(verdicts)) == 1:
        return verdicts[0]
    counts = {v: verdicts.count(v) for v in dict.fromkeys(verdicts)}
    return ", ".join(f"{v} {n} of {len(verdicts)}" for v, n in counts.items())


def _short(name: str, like: str) -> str:
    """name without the leading fields it shares with like: "k100,depth,rule=lstm,f0=0.5" -> "f0=0.5"."""
    a, b = name.split(","), like.split(",")
    k = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return ",".join(a[k:]) or name


_METRIC = {"bleu": ", test BLEU", "chrf": ", test chrF", "loss": ", dev MSE"}


def table(root: Path = ROOT) -> str:
    lines = ["| claim | command | pairs | the first run's lead over the second (a metric better low: by how much "
             "lower), mean and paired 95 % interval | verdict |", "|---|---|---|---|---|"]
    for claim in CLAIMS:
        j = judge(claim, root)
        parts = [f"{c['ahead']} − {_short(c['behind'], c['ahead'])}{_METRIC.get(c['metric'], '')}: "
                 f"{interval(c, claim.scale)}{claim.unit}"
                 + ("" if c["verdict"] == "held" else f" [{c['verdict']}]") for c in j["contrasts"]]
        pairs = sorted({len(c["seeds"]) for c in j["contrasts"]})
        lines.append(f"| {claim.text} | `{COMMANDS[claim.experiment]}` ({claim.section}) | "
                     f"{'/'.join(map(str, pairs))} | {'; '.join(parts)} | {j['verdict']} |")
    return "\n".join(lines) + "\n"


def write(path: Path = RESULTS, root: Path = ROOT) -> bool:
    """Replace the block between the markers in path with the table; whether it changed."""
    text = path.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise ValueError(f"{path}: no claims markers ({BEGIN} ... {END})")
    head, rest = text.split(BEGIN, 1)
    new = head + BEGIN + "\n" + table(root) + END + rest.split(END, 1)[1]
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


if __name__ == "__main__":
    if "--write" in sys.argv[1:]:
        print(f"{RESULTS}: {'rewritten' if write() else 'unchanged'}")
    else:
        print(table(), end="")
