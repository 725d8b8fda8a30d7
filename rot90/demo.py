"""`rot90 demo`: the whole argument in minutes on a laptop CPU, as a report with figures.

1. Same function     rot90.LSTM/GRU = torch's; rotate(layer) = layer.
2. Same gradients    d loss / d stream at distance k, along depth (plain, ResNet, Highway) and along
                     time (plain RNN, LSTM, minLSTM): a carry f decays it as f^k on either axis.
3. Same memory       a long-range task along time (adding, T = 100) and its twin along depth
                     (digits through 32 layers), and digits read pixel by pixel along time.
4. The bottleneck    time per forward+backward versus T: LSTM, minLSTM (scan), Transformer layer.
5. Translation       numbers in words, English -> French: the 2014 model forward vs reversed
                     source, and minLSTM with attention.

Every number in DIR/report.md comes from this run; each section states its seed and wall-clock.
`quick=True` shrinks every section (for the test suite).
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from . import __version__
from .data.io import atomic_write_text
from .gradients import stream_log_gradients
from .models import DepthModel
from .report import plot_gradients, pyplot, save, sci
from .residual import Residual, chrono_init


@dataclass
class DemoConfig:
    """Sizes of the demo; quick shrinks them for the tests."""

    out: Path = Path("demo")
    seed: int = 0
    quick: bool = False

    def n(self, full: int, quick: int) -> int:
        return quick if self.quick else full


# -- 2. gradients along depth and along time ------------------------------------------------------


def section_gradients(cfg: DemoConfig, report: list, figures: Path) -> dict:
    start = time.perf_counter()
    torch.manual_seed(cfg.seed)
    K, H, B = cfg.n(100, 30), 32, 16
    models = {
        "depth": {name: Residual(rule, H, "depth", layers=K) for name, rule in
                  [("plain deep net", "plain"), ("ResNet", "resnet"), ("Highway", "highway")]},
        "time": {name: Residual(rule, H, "time", input_size=2) for name, rule in
                 [("plain RNN", "plain"), ("LSTM", "lstm"), ("minLSTM", "minlstm")]},
    }
    models["time"]["LSTM, chrono init"] = chrono_init(Residual("lstm", H, "time", input_size=2), K)
    x = {"depth": torch.randn(B, H), "time": torch.randn(B, K, 2)}
    readout = torch.randn(H)
    curves = {axis: {name: {} for name in group} for axis, group in models.items()}  # axis -> model -> stage
    for stage in ("initialisation", "after training"):
        if stage == "after training":
            _train_briefly(models, cfg, K)
        for axis, group in models.items():
            for name, m in group.items():
                curves[axis][name][stage] = stream_log_gradients(m, x[axis], lambda y: (y * readout).sum())
    plot_gradients(curves, figures / "gradients.png",
                   "Gradient with respect to the residual stream k layers (depth) or k steps (time) back",
                   unit={"depth": "layers", "time": "time steps"})
    rows = [(a, n, s, g[min(K - 1, 10)], g[K - 1])
            for a, group in curves.items() for n, stages in group.items() for s, g in stages.items()]
    report += ["## 2. Same gradients, rotated", "",
               f"Gradient norm of a random readout of the last output with respect to the residual stream "
               f"k steps (or layers) back, {K} deep/long, width {H}, batch {B}.", "",
               "| axis | model | when | k = 10 | k = " + str(K - 1) + " |", "|---|---|---|---|---|"]
    report += [f"| {a} | {n} | {s} | {sci(g10)} | {sci(gk)} |" for a, n, s, g10, gk in rows]
    report += ["", "![gradients](figures/gradients.png)", "",
               f"Seed {cfg.seed}; {time.perf_counter() - start:.1f} s.", ""]
    return {f"{a}/{n}/{s}": gk for a, n, s, _, gk in rows}


def _train_briefly(models: dict, cfg: DemoConfig, T: int):
    """A few steps on a task of each axis: adding with delay T (time), a regression (depth)."""
    from .data.synthetic import adding_task

    steps = cfg.n(60, 10)
    for axis, group in models.items():
        for m in group.values():
            head = nn.Linear(m.hidden_size, 1)
            opt = torch.optim.Adam(list(m.parameters()) + list(head.parameters()), lr=1e-3)
            for i in range(steps):
                if axis == "time":
                    b = adding_task(32, T, seed=cfg.seed + i)
                    y, _ = m(b.x)
                    loss = F.mse_loss(head(y[:, -1]).squeeze(-1), b.y)
                else:
                    xb = torch.randn(32, m.hidden_size)
                    y, _ = m(xb)
                    loss = F.mse_loss(head(y[:, -1]).squeeze(-1), xb[:, 0])
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
                opt.step()


# -- 3. memory along time and along depth ---------------------------------------------------------


class TimeClassifier(nn.Module):
    def __init__(self, rule: str, hidden: int = 64, inputs: int = 1, out: int = 10):
        super().__init__()
        self.layer, self.head = Residual(rule, hidden, "time", input_size=inputs), nn.Linear(hidden, out)

    def forward(self, x):
        y, _ = self.layer(x)
        return self.head(y[:, -1])


def _fit(model, batches, loss_fn, evaluate, steps: int, lr: float = 3e-3) -> list[float]:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    curve = []
    for i in range(steps):
        x, y = batches(i)
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if (i + 1) % max(steps // 10, 1) == 0:
            curve.append(evaluate(model))
    return curve


def section_memory(cfg: DemoConfig, report: list, figures: Path) -> dict:
    from .data.images import as_sequence, as_vectors, digits
    from .data.synthetic import adding_task

    start = time.perf_counter()
    torch.manual_seed(cfg.seed)
    d = digits(seed=cfg.seed)
    results, curves = {}, {}
    steps = cfg.n(300, 20)
    T = cfg.n(100, 20)
    test = adding_task(256, T, seed=10**6)

    def adding_batches(i):
        b = adding_task(64, T, seed=cfg.seed * 10**4 + i)
        return b.x, b.y

    def adding_eval(m):
        with torch.no_grad():
            return F.mse_loss(m(test.x).squeeze(-1), test.y).item()

    for name, rule in [("plain RNN", "plain"), ("LSTM", "lstm"), ("minLSTM", "minlstm")]:
        m = TimeClassifier(rule, hidden=64, inputs=2, out=1)
        curves[("adding (time)", name)] = _fit(m, adding_batches, lambda p, y: F.mse_loss(p.squeeze(-1), y),
                                              adding_eval, steps)
        results[f"adding T={T} MSE / {name}"] = curves[("adding (time)", name)][-1]

    def image_task(transform, build, label, names):
        xtr, xte = transform(d.train_x), transform(d.test_x)

        def batches(i):
            g = torch.Generator().manual_seed(cfg.seed * 10**4 + i)
            idx = torch.randint(0, len(xtr), (64,), generator=g)
            return xtr[idx], d.train_y[idx]

        def acc(m):
            with torch.no_grad():
                return (m(xte).argmax(-1) == d.test_y).float().mean().item()

        for name, rule in names:
            curves[(label, name)] = _fit(build(rule), batches, F.cross_entropy, acc, steps)
            results[f"{label} accuracy / {name}"] = curves[(label, name)][-1]

    L = cfg.n(32, 8)
    image_task(as_vectors, lambda r: DepthModel(r, 64, L, out=10, inputs=64), f"digits, {L} layers (depth)",
               [("plain deep net", "plain"), ("ResNet", "resnet"), ("Highway", "highway")])
    image_task(lambda x: as_sequence(x, "pixel"), lambda r: TimeClassifier(r), "digits pixel by pixel (time)",
               [("plain RNN", "plain"), ("LSTM", "lstm"), ("minLSTM", "minlstm")])
    plt = pyplot()
    tasks = list(dict.fromkeys(t for t, _ in curves))
    fig, axes = plt.subplots(1, len(tasks), figsize=(5 * len(tasks), 4))
    for ax, task in zip(axes, tasks):
        for (t, name), c in curves.items():
            if t == task:
                ax.plot([(i + 1) * max(steps // 10, 1) for i in range(len(c))], c, "o-", label=name)
        ax.set_title(task)
        ax.set_xlabel("training step")
        ax.set_ylabel("test MSE (lower is better)" if "adding" in task else "test accuracy")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Learning curves along time (adding, digits pixel by pixel) and along depth (32 layers)")
    save(fig, figures / "memory.png")
    report += ["## 3. Same memory, rotated", "", f"{steps} Adam steps each, batch 64, width 64.", "",
               "| task / model | final test score |", "|---|---|"]
    report += [f"| {k} | {v:.3f} |" for k, v in results.items()]
    report += ["", "(adding: mean squared error, predicting the mean scores about 0.167; digits: accuracy)", "",
               "![memory](figures/memory.png)", "", f"Seed {cfg.seed}; {time.perf_counter() - start:.1f} s.", ""]
    return results


# -- 1, 4, 5 --------------------------------------------------------------------------------------


def section_function(cfg: DemoConfig, report: list) -> dict:
    from .check import report as check_rows

    start = time.perf_counter()
    rows = check_rows(full=False)
    report += ["## 1. Same function", "", "| what | relative error | bound (fp32) | cases |", "|---|---|---|---|"]
    report += [f"| {w} | {d:.1e} | {b:.0e} | {c} |" for w, c, d, b in rows]
    report += ["", f"{time.perf_counter() - start:.1f} s.", ""]
    return {w: d for w, _, d, _ in rows}


def section_bottleneck(cfg: DemoConfig, report: list, figures: Path) -> dict:
    from .bench import BenchConfig, plot, run

    start = time.perf_counter()
    lengths = [32, 64] if cfg.quick else [64, 256, 1024, 2048]
    r = run(BenchConfig(batch=8, width=128, lengths=lengths, repeats=cfg.n(3, 1), warmup=1,
                        contenders=["torch.nn.LSTM", "rot90.MinLSTM parallel", "transformer (sdpa)"],
                        reuse_memory=False))
    plot(r, figures / "bottleneck.png")
    cell = {(x["name"], x["T"]): x["median_s"] * 1e3 for x in r["layers"]}
    names = ["torch.nn.LSTM", "rot90.MinLSTM parallel", "transformer (sdpa)"]
    report += ["## 4. The bottleneck", "", "Forward+backward ms per pass, batch 8, width 128 (`rot90 bench`, short).",
               "", "| T | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    report += [f"| {T} | " + " | ".join(f"{cell.get((n, T), float('nan')):.1f}" for n in names) + " |"
               for T in lengths]
    report += ["", "![bottleneck](figures/bottleneck.png)", "", f"{time.perf_counter() - start:.1f} s.", ""]
    return {f"{n} T={T}": v for (n, T), v in cell.items()}


def section_translation(cfg: DemoConfig, report: list, work: Path) -> dict:
    from .train.config import load
    from .train.trainer import train
    from .translate import evaluate

    start = time.perf_counter()
    steps = cfg.n(500, 40)
    base = ["data.task=numbers", "data.lang=fr", "data.numbers_high=9999", "data.vocab_size=200",
            "data.batch_tokens=1024", "data.max_len=30", "model.hidden=64", "optim.lr=3e-3", "optim.clip=5.0",
            f"train.steps={steps}", f"train.eval_every={steps}", "train.eval_batches=2",
            f"train.checkpoint_every={steps}", f"train.seed={cfg.seed}", "train.log_every=100000"]
    variants = {"2014 LSTM, source forward": ["model.rule=lstm", "model.layers=2"],
                "2014 LSTM, source reversed": ["model.rule=lstm", "model.layers=2", "model.reverse_source=true"],
                "minLSTM + attention": ["model.rule=minlstm", "model.layers=2", "model.attention=dot"]}
    results = {}
    for name, extra in variants.items():
        folder = work / name.replace(" ", "-").replace(",", "").replace("+", "plus")
        t0 = time.perf_counter()
        train(load(None, base + extra), folder, force=True, log=lambda m: None)
        seconds = time.perf_counter() - t0
        r = evaluate(folder, "test", beam=cfg.n(5, 2))
        results[name] = {"bleu": r["bleu"], "chrf": r["chrf"], "perplexity": r["perplexity"], "train_s": seconds}
    report += ["## 5. Translation: numbers in words, English -> French", "",
               f"{steps} steps each, width 64, 2 layers, beam 5 on 200 held-out numbers (sacrebleu).", "",
               "| model | BLEU | chrF | perplexity | training s |", "|---|---|---|---|---|"]
    report += [f"| {n} | {v['bleu']:.1f} | {v['chrf']:.1f} | {v['perplexity']:.2f} | {v['train_s']:.0f} |"
               for n, v in results.items()]
    report += ["", f"Seed {cfg.seed}; {time.perf_counter() - start:.1f} s.", ""]
    return results


def run_demo(cfg: DemoConfig, progress=print) -> dict:
    cfg.out.mkdir(parents=True, exist_ok=True)
    figures = cfg.out / "figures"
    figures.mkdir(exist_ok=True)
    start = time.perf_counter()
    report = ["# rot90 demo: an LSTM is a ResNet rotated 90 degrees", "",
              f"rot90 {__version__}, torch {torch.__version__}, Python {platform.python_version()}, "
              f"{torch.get_num_threads()} threads, seed {cfg.seed}{', quick mode' if cfg.quick else ''}.", ""]
    results = {}
    for title, fn in [("same function", lambda: section_function(cfg, report)),
                      ("same gradients", lambda: section_gradients(cfg, report, figures)),
                      ("same memory", lambda: section_memory(cfg, report, figures)),
                      ("bottleneck", lambda: section_bottleneck(cfg, report, figures)),
                      ("translation", lambda: section_translation(cfg, report, cfg.out / "runs"))]:
        t0 = time.perf_counter()
        progress(f"[demo] {title} ...")
        results[title] = fn()
        progress(f"[demo] {title}: {time.perf_counter() - t0:.1f} s")
    report.append(f"Total wall-clock: {time.perf_counter() - start:.0f} s.")
    atomic_write_text(cfg.out / "report.md", "\n".join(report) + "\n")
    atomic_write_text(cfg.out / "results.json", json.dumps(results, indent=1, default=str))
    return results
