"""`rot90 profile`: a config's whole training step, timed, counted and taken apart.

    rot90 profile CONFIG [--set K=V ...] [--steps 8] [--warmup 2] [--json FILE]

The trainer's own step (rot90.train.Trainer.step: forward under the run's precision, backward,
clipping, the optimiser) on the config's first batches of its real training data, after warm-up.
Reported, so that a claim about training speed can be rerun rather than quoted:

- seconds a step (median) and target tokens a second over the timed steps;
- FLOPs a step: the matmuls of one forward + backward, counted by torch.utils.flop_counter on
  the same batches (with oneDNN off for the count only: the counter cannot see inside oneDNN's
  fused LSTM kernel; off, torch runs the same products as separate matmuls it does see);
- achieved FLOP/s and model FLOPs utilisation: the achieved rate against this machine's
  large-matmul rate in the step's precision (a 2048 x 2048 product, as `rot90 bench` measures);
- where the time goes: torch.profiler's operators over the same steps, by self time, each in
  one of a few groups (matmul, recurrent kernel, softmax and loss, optimiser, the rest).

Making the batches (reading, padding) is timed apart: a run can make them in data-loader workers.
"""

from __future__ import annotations

import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from ..config import Config
from ..devices import processor
from ..tasks import make_task
from ..train.trainer import Trainer
from ..version import __version__
from .bench import matmul_gflops, sync


@dataclass
class StepConfig:
    """What `rot90 profile` measures."""

    steps: int = 8  # timed steps (also profiled and counted); the median step is reported
    warmup: int = 2  # untimed steps first: allocator, oneDNN's kernel choice, the optimiser's state
    top: int = 12  # operators listed

    def __post_init__(self):
        if self.steps < 1 or self.warmup < 0 or self.top < 1:
            raise ValueError(f"--steps {self.steps}, --warmup {self.warmup}, --top {self.top}: "
                             "need steps >= 1, warmup >= 0, top >= 1")


# Operator name -> group: the first whose key is in the name (aten::_fused_adamw_ -> optimiser); else the rest.
GROUPS = (("recurrent kernel", ("lstm", "gru", "rnn")),
          ("matmul", ("mm", "matmul", "linear")),
          ("softmax and loss", ("softmax", "logsumexp", "cross_entropy", "nll_loss")),
          ("attention", ("scaled_dot_product", "attention")),
          ("layer norm", ("layer_norm",)),
          ("optimiser and clipping", ("adam", "sgd", "foreach", "vector_norm", "clip")),
          ("embedding", ("embedding",)))


def group(op: str) -> str:
    name = op.lower()
    return next((label for label, keys in GROUPS if any(k in name for k in keys)), "other (elementwise, copies)")


def counted_flops(model, task, batch: dict) -> int:
    """The matmul FLOPs of one forward + backward of batch; weights untouched. Counted in fp32 with oneDNN off:
    the count is the same in any precision, and torch's bf16 matmul without oneDNN is a slow fallback."""
    with warnings.catch_warnings():  # turning oneDNN off warns about Intel GPUs' TF32
        warnings.simplefilter("ignore")
        with torch.backends.mkldnn.flags(enabled=False), FlopCounterMode(display=False) as counter:
            total, _ = task.loss(model, batch)
            total.backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def run(cfg: Config, scfg: StepConfig, progress: Callable[[str], None] = lambda s: None) -> dict:
    task = make_task(cfg)
    trainer = Trainer(cfg, Path("(not written)"), log=progress)  # nothing is written: no run folder is claimed
    model, opt, _ = trainer.build(task)
    specs = task.plan(0)[: scfg.warmup + scfg.steps]
    if len(specs) < scfg.warmup + scfg.steps:
        raise ValueError(f"the data gives {len(specs)} batches in an epoch: fewer than --warmup + --steps "
                         f"({scfg.warmup + scfg.steps})")
    made = []
    for spec in specs:
        start = time.perf_counter()
        made.append((task.make_batch(spec), time.perf_counter() - start))
    batches = [{k: v.to(trainer.device) for k, v in b.items()} for b, _ in made]
    warm, timed = batches[: scfg.warmup], batches[scfg.warmup:]
    for k, batch in enumerate(warm, 1):
        trainer.step(model, model, opt, task, batch, k)
    sync(trainer.device)

    seconds, tokens = [], []
    for k, batch in enumerate(timed, scfg.warmup + 1):
        start = time.perf_counter()
        _, count, _, _ = trainer.step(model, model, opt, task, batch, k)  # .item() inside: synchronised
        seconds.append(time.perf_counter() - start)
        tokens.append(count)
    progress(f"timed {len(timed)} steps: median {statistics.median(seconds) * 1e3:.0f} ms")

    cuda = trainer.device.type == "cuda"
    activities = [torch.profiler.ProfilerActivity.CPU, *([torch.profiler.ProfilerActivity.CUDA] if cuda else [])]
    with torch.profiler.profile(activities=activities) as prof:
        for k, batch in enumerate(timed, scfg.warmup + len(timed) + 1):
            trainer.step(model, model, opt, task, batch, k)
    ops = [(e.key, (e.self_device_time_total if cuda else e.self_cpu_time_total) / 1e6, e.count)
           for e in prof.key_averages()]
    ops = sorted((o for o in ops if o[1] > 0), key=lambda o: -o[1])
    profiled = sum(o[1] for o in ops)
    groups: dict[str, float] = {}
    for name, s, _ in ops:
        label = group(name)
        groups[label] = groups.get(label, 0.0) + s

    flops = sum(counted_flops(model, task, b) for b in timed)
    dtype = trainer.amp_dtype or torch.float32
    peak = matmul_gflops(trainer.device, dtype=dtype) * 1e9
    achieved = flops / sum(seconds)
    progress(f"large matmul in {str(dtype).removeprefix('torch.')}: {peak / 1e9:.0f} GFLOP/s")
    return {
        "config": asdict(scfg), "task": cfg.data.task, "model": asdict(cfg.model),
        "parameters": sum(p.numel() for p in model.parameters()), "rot90": __version__,
        "torch": torch.__version__, "device": str(trainer.device), "processor": processor(trainer.device),
        "threads": torch.get_num_threads(), "precision": str(dtype).removeprefix("torch."),
        "step_s": statistics.median(seconds), "steps_s": seconds, "tokens": tokens,
        "tokens_per_s": sum(tokens) / sum(seconds), "batch_make_s": statistics.median(s for _, s in made),
        "flops_per_step": flops / len(timed), "flops_per_token": flops / sum(tokens),
        "achieved_gflops": achieved / 1e9, "matmul_peak_gflops": peak / 1e9,
        "utilisation": achieved / peak, "profiled_s": profiled,
        "groups": dict(sorted(groups.items(), key=lambda g: -g[1])),
        "ops": [{"name": n, "self_s": s, "calls": c, "group": group(n)} for n, s, c in ops[: scfg.top]],
    }


def table(r: dict) -> str:
    """The terminal report."""
    m = r["model"]
    arch = m["rule"] if m["arch"] == "rnn" else m["arch"]
    lines = [f"rot90 {r['rot90']} profile of one training step: {r['task']}, {arch} {m['layers']} x {m['hidden']}, "
             f"{r['parameters'] / 1e6:.1f}M parameters, on {r['device']} ({r['processor']}, {r['threads']} "
             f"threads), torch {r['torch']}, {r['precision']}",
             f"step: {r['step_s'] * 1e3:.0f} ms median of {len(r['steps_s'])} "
             f"({min(r['steps_s']) * 1e3:.0f}-{max(r['steps_s']) * 1e3:.0f}); {r['tokens_per_s']:.0f} target "
             f"tokens/s; making a batch {r['batch_make_s'] * 1e3:.1f} ms (apart, in workers if data.workers > 0)",
             f"matmul FLOPs a step {r['flops_per_step'] / 1e9:.1f} G ({r['flops_per_token'] / 1e6:.1f} M a target "
             f"token, forward + backward); achieved {r['achieved_gflops']:.1f} GFLOP/s "
             f"against {r['matmul_peak_gflops']:.0f} GFLOP/s for a large {r['precision']} matmul: "
             f"utilisation {r['utilisation'] * 100:.1f} %", "",
             f"where the time goes (torch.profiler, self time over {len(r['steps_s'])} steps)"]
    total = r["profiled_s"]
    for name, s in r["groups"].items():
        lines.append(f"  {name:<28} {s * 1e3 / len(r['steps_s']):9.1f} ms a step  {s / total * 100:5.1f} %")
    lines += ["", f"the {len(r['ops'])} slowest operators"]
    w = max(len(o["name"]) for o in r["ops"])
    for o in r["ops"]:
        lines.append(f"  {o['name']:<{w}} {o['self_s'] * 1e3 / len(r['steps_s']):9.1f} ms a step  "
                     f"{o['self_s'] / total * 100:5.1f} %  {o['calls'] // len(r['steps_s']):>5} calls  ({o['group']})")
    return "\n".join(lines)


__all__ = ["StepConfig", "run", "table", "group"]
