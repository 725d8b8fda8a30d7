"""`rot90 bench`: forward+backward time and memory versus sequence length, side by side.

Every contender runs in the same process on the same input (B, T, D), timed as whole
forward+backward passes, median over repeats after warm-up (CUDA: synchronised). Results are
meant as ratios: on a shared machine an absolute time is a hint. Also measured: the scan alone
against the elementwise product f * b on the same tensors (its memory floor: both read f and b
and write one tensor) and torch.cumsum, and each layer's achieved GFLOP/s against this
machine's large-matmul GFLOP/s.

Memory: on CUDA the peak allocated during a pass; on CPU, where torch keeps no such count,
the bytes of the tensors autograd saves for backward (the activation memory, which is what
grows with T), counted once per storage.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from .. import compiled
from ..devices import memory, processor, resolve_device, tune_allocator
from ..files import atomic_write
from ..models.transformer import Block
from ..nn import LSTM, MinLSTM
from ..scan import scan
from ..version import __version__


@dataclass
class BenchConfig:
    """What `rot90 bench` measures."""

    batch: int = 8
    width: int = 256
    lengths: list[int] = field(default_factory=lambda: [64, 256, 1024, 4096, 16384])
    repeats: int = 5  # timed passes per cell; the median is reported
    warmup: int = 1
    device: str = "auto"  # auto: cuda when present, else cpu
    budget_s: float = 60.0  # skip a cell whose predicted time for all its passes exceeds this
    memory_fraction: float = 0.5  # skip a cell predicted to need more than this share of memory
    contenders: list[str] | None = None  # None: all
    reuse_memory: bool = True  # CPU: keep freed large blocks in the heap (see tune_allocator)


class CausalTransformerLayer(nn.Module):
    """One pre-LayerNorm Transformer layer of rot90's models (self-attention through scaled_dot_product_attention,
    causal, then the MLP), as a (B, T, D) -> (B, T, D) layer."""

    def __init__(self, d: int, heads: int = 4, mlp: int = 4):
        super().__init__()
        self.block = Block(d, heads, mlp * d, dropout=0.0, cross=False)

    def forward(self, x):  # (B, T, D)
        return self.block(x, causal=True)


def _first(out):
    return out[0] if isinstance(out, tuple) else out


def contenders(d: int) -> dict[str, Callable[[], nn.Module]]:
    """name -> constructor of a (B, T, d) -> (B, T, d) layer."""
    make = {
        "torch.nn.LSTM": lambda: nn.LSTM(d, d, batch_first=True),
        "rot90.LSTM": lambda: LSTM(d, d, batch_first=True),  # the default: torch's kernel
        "rot90.LSTM residual": lambda: LSTM(d, d, batch_first=True, impl="residual"),
        "transformer (sdpa)": lambda: CausalTransformerLayer(d),
    }
    for method in ("parallel", "compiled", "chunked", "doubling", "loop"):
        make[f"rot90.MinLSTM {method}"] = lambda m=method: MinLSTM(d, d, method=m)
    return make


def flops(name: str, B: int, T: int, d: int) -> float:
    """Multiply-adds x 2 of the matmuls, forward + backward (backward = 2x forward)."""
    if "MinLSTM" in name:
        per_token = d * 3 * d
    elif "LSTM" in name:
        per_token = 2 * d * 4 * d  # input and recurrent projections
    else:  # qkv + out projections, MLP, and causal attention (half of QK^T and AV)
        per_token = 4 * d * d + 8 * d * d + T * d
    return 3 * 2 * B * T * per_token


def sync(device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_it(fn: Callable[[], object], repeats: int, warmup: int, device: torch.device) -> list[float]:
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return times


def pass_memory(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes: CUDA peak allocated during forward+backward; CPU the tensors saved for backward."""
    if x.device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        _first(model(x)).sum().backward()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base
    seen: dict[int, int] = {}

    def pack(t):
        if t.device.type == "cpu":
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = _first(model(x))
    out.sum().backward()
    return sum(seen.values())


def matmul_gflops(device: torch.device, n: int = 2048, repeats: int = 5, dtype=torch.float32) -> float:
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    return 2 * n**3 / statistics.median(time_it(lambda: a @ b, repeats, 1, device)) / 1e9


def run(cfg: BenchConfig, progress: Callable[[str], None] = lambda s: None) -> dict:
    device = resolve_device(cfg.device, "--device")
    allocator = tune_allocator() if (device.type == "cpu" and cfg.reuse_memory) else "system default"
    make = contenders(cfg.width)
    names = cfg.contenders or list(make)
    unknown = [n for n in names if n not in make]
    if unknown:
        raise ValueError(f"unknown contender {unknown[0]!r}: choose from {', '.join(make)}")
    B, d = cfg.batch, cfg.width
    result = {
        "config": asdict(cfg), "device": str(device), "torch": torch.__version__, "rot90": __version__,
        "threads": torch.get_num_threads(), "machine": platform.machine(), "processor": processor(device),
        "allocator": allocator, "compiled_kernel": compiled.available(),
        "matmul_gflops": matmul_gflops(device), "layers": [], "scan": [], "skipped": [],
    }
    progress(f"large matmul: {result['matmul_gflops']:.0f} GFLOP/s")
    last: dict[str, tuple[int, float, int]] = {}  # name -> (T, seconds per pass, bytes) of its last cell
    free = memory(device, free=True) * cfg.memory_fraction
    for T in cfg.lengths:
        torch.manual_seed(0)
        x = torch.randn(B, T, d, device=device, requires_grad=True)
        for name in names:
            if device.type != "cpu" and name.endswith("compiled"):
                if T == cfg.lengths[0]:
                    result["skipped"].append({"name": name, "T": T, "why": "a CPU kernel"})
                continue
            if name in last:  # predict from the previous length: linear in T, quadratic for attention
                T0, s0, m0 = last[name]
                grow = (T / T0) ** (2 if "transformer" in name else 1)
                why = None
                if s0 * grow * (cfg.repeats + cfg.warmup) > cfg.budget_s:
                    why = f"predicted {s0 * grow:.1f} s a pass, over the {cfg.budget_s:g} s budget"
                elif m0 * T / T0 > free:
                    why = f"predicted {m0 * T / T0 / 2**30:.1f} GiB, over {free / 2**30:.1f} GiB available"
                if why:
                    result["skipped"].append({"name": name, "T": T, "why": why})
                    progress(f"T={T:>6} {name:<24} skipped: {why}")
                    continue
            model = make[name]().to(device)

            def step(model=model, x=x):
                model.zero_grad(set_to_none=True)
                x.grad = None
                _first(model(x)).sum().backward()

            times = time_it(step, cfg.repeats, cfg.warmup, device)
            mem = pass_memory(model, x)
            med = statistics.median(times)
            last[name] = (T, med, mem)
            gflops = flops(name, B, T, d) / med / 1e9
            result["layers"].append({"name": name, "T": T, "median_s": med, "times_s": times, "bytes": mem,
                                     "gflops": gflops})
            progress(f"T={T:>6} {name:<24} {med * 1e3:9.1f} ms  {mem / 2**20:8.1f} MiB  {gflops:6.1f} GFLOP/s")
        result["scan"].append(scan_row(B, T, d, device, cfg.repeats))
    return result


def scan_row(B: int, T: int, d: int, device: torch.device, repeats: int) -> dict:
    """Forward scan alone (method auto) against f * b and torch.cumsum on the same tensors."""
    g = torch.Generator(device=device).manual_seed(0)
    f = torch.rand(B, T, d, device=device, generator=g)
    b = torch.randn(B, T, d, device=device, generator=g)
    med = lambda fn: statistics.median(time_it(fn, repeats, 1, device))  # noqa: E731
    return {"T": T, "scan_s": med(lambda: scan(f, b)), "product_s": med(lambda: f * b),
            "cumsum_s": med(lambda: torch.cumsum(b, 1))}


def table(result: dict) -> str:
    """The terminal table: ms per forward+backward pass, and each layer against torch.nn.LSTM."""
    lengths = sorted({r["T"] for r in result["layers"]} | {s["T"] for s in result["skipped"]})
    names = list(dict.fromkeys(r["name"] for r in result["layers"]))
    cell = {(r["name"], r["T"]): r for r in result["layers"]}
    w = max(len(n) for n in names) if names else 10
    lines = [f"rot90 {result['rot90']} bench on {result['device']} ({result['processor']}, "
             f"{result['threads']} threads), torch {result['torch']}, batch {result['config']['batch']}, "
             f"width {result['config']['width']}; allocator: {result['allocator']}",
             f"forward+backward, median of {result['config']['repeats']} passes, ms "
             f"(x N = N times faster than torch.nn.LSTM)", ""]
    lines.append(f"{'':<{w}}" + "".join(f"{'T=' + str(T):>20}" for T in lengths))
    for n in names:
        row = f"{n:<{w}}"
        for T in lengths:
            r, ref = cell.get((n, T)), cell.get(("torch.nn.LSTM", T))
            if r is None:
                row += f"{'skipped':>20}"
                continue
            ratio = f" (x{ref['median_s'] / r['median_s']:.2f})" if ref and n != "torch.nn.LSTM" else ""
            row += f"{r['median_s'] * 1e3:>12.1f}{ratio:>8}"
        lines.append(row)
    mem_label = "peak MiB" if result["device"].startswith("cuda") else "MiB saved for backward"
    lines += ["", f"memory ({mem_label})"]
    for n in names:
        lines.append(f"{n:<{w}}" + "".join(f"{cell[(n, T)]['bytes'] / 2**20:>20.1f}" if (n, T) in cell
                                             else f"{'-':>20}" for T in lengths))
    lines += ["", f"achieved GFLOP/s (large matmul on this machine: {result['matmul_gflops']:.0f})"]
    for n in names:
        lines.append(f"{n:<{w}}" + "".join(f"{cell[(n, T)]['gflops']:>20.1f}" if (n, T) in cell
                                             else f"{'-':>20}" for T in lengths))
    lines += ["", "scan alone (forward, method auto) vs f * b (the memory floor) and torch.cumsum, ms"]
    for s in result["scan"]:
        lines.append(f"  T={s['T']:>6}: scan {s['scan_s'] * 1e3:8.2f}   f*b {s['product_s'] * 1e3:8.2f}   "
                     f"cumsum {s['cumsum_s'] * 1e3:8.2f}   scan / (f*b) = {s['scan_s'] / s['product_s']:.2f}")
    for s in result["skipped"]:
        lines.append(f"skipped {s['name']} at T={s['T']}: {s['why']}")
    return "\n".join(lines)


def write_json(result: dict, path: str | Path):
    atomic_write(Path(path), json.dumps(result, indent=1))


def plot(result: dict, path: str | Path):
    from ..report import pyplot, save

    fig, ax = pyplot().subplots(figsize=(7, 5))
    for name in dict.fromkeys(r["name"] for r in result["layers"]):
        rows = [r for r in result["layers"] if r["name"] == name]
        style = "--" if "LSTM" in name and "Min" not in name else ("-." if "transformer" in name else "-")
        ax.plot([r["T"] for r in rows], [r["median_s"] * 1e3 for r in rows], style, marker="o", label=name)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("sequence length T")
    ax.set_ylabel("forward + backward time per pass (ms)")
    cfg = result["config"]
    ax.set_title(f"batch {cfg['batch']}, width {cfg['width']}, {result['device']}, {result['threads']} threads")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    save(fig, path, dpi=120)


__all__ = ["BenchConfig", "run", "table", "write_json", "plot"]
