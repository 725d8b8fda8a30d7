"""rot90's compiled CPU passes (csrc/*.cpp): rot90::scan and rot90::gated as torch operators, and beam search's
top log-probabilities as a plain function.

The C++ is built once with the system compiler and loaded with ctypes; what the rest of
rot90 calls are two `torch.library.custom_op`s with fake (shape-only) implementations and
registered backward ops, so that torch.compile keeps each as one node of one graph,
torch.export records it, and autograd runs the backward kernel:

    rot90::scan(f, b, h0) -> h                             h_k = f_k h_{k-1} + b_k, (outer, T, lanes)
    rot90::gated(px, h0, lengths, rule) -> (h, h_last)     minlstm / mingru gates inside the pass

`gated_scan(rule, px, h0, lengths)` is what the layers call: the gate-decoupled rules along time
in one compiled pass. rules.py + scan.py compute f, i, u as full-size tensors, then the scan;
each of those elementwise steps, and its backward, reads and writes the whole (B, T, H) tensor
again. rot90::gated instead reads px = W x + b once, forms the gates per element inside the
recurrence and recomputes them in backward, so a layer costs its matmuls plus about one pass
over memory each way. Its reference is rules + scan; tests compare the two on outputs, final
states and every gradient.

Compiled code trusts its pointers, so every call checks first: device, dtype, contiguity,
exact shapes and 0 <= lengths <= T. A bad argument raises ArgumentError (a RuntimeError, as
torch raises for the same misuse); nothing reaches C++ that it could read or write past.

Why not torch.utils.cpp_extension: it compiles torch's headers and pybind11 (about a minute
on two cores) and needs ninja; these kernels need neither, only pointers, and build in about
a second. The shared object is cached in rot90's cache (files.cache_dir) under a key of
the source, the compiler, its flags and what -march=native means on this CPU, so one cache
shared by two machines never serves code a CPU cannot run; beside it its SHA-256, checked before
every load (a damaged library is built again, never loaded). Where no compiler is found,
`available()` is False, the reason is logged once, and scan's "auto" uses a PyTorch method.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
from functools import cache
from pathlib import Path

import torch
from torch import Tensor

from .errors import ArgumentError
from .files import atomic_write, cache_dir
from .rules import Rule, get_rule, stream

log = logging.getLogger("rot90")
SOURCES = tuple(Path(__file__).with_name("csrc") / name for name in ("scan.cpp", "topk.cpp"))  # one library
FLAGS = ["-O3", "-march=native", "-fopenmp", "-fno-math-errno", "-fno-trapping-math", "-shared", "-fPIC", "-std=c++17"]
DTYPES = {torch.float32: "f32", torch.float64: "f64"}
GATED = {"minlstm": 3, "mingru": 2}  # rule -> pre-activations per unit in px


def _cpu_target(cc: str) -> str:
    """What -march=native selects here: GCC's resolved target options, else the CPU's feature flags."""
    try:
        r = subprocess.run([cc, "-march=native", "-Q", "--help=target"], capture_output=True, text=True, timeout=60)
        if r.returncode == 0 and r.stdout:
            return r.stdout
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        return next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        return platform.machine() + platform.processor()


@cache
def _library() -> ctypes.CDLL | str:
    """The loaded library, or the reason it could not be had."""
    cc = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
    if not cc:
        return "no C++ compiler (g++/c++) on PATH"
    if missing := [p for p in SOURCES if not p.exists()]:
        return f"{missing[0]} is missing from the installed package"
    src = b"".join(p.read_bytes() for p in SOURCES)
    key = hashlib.sha256(src + " ".join([cc, *FLAGS]).encode() + _cpu_target(cc).encode()).hexdigest()[:16]
    target = cache_dir() / f"scan-{key}.so"
    stamp = target.with_name(target.name + ".sha256")  # the library's digest, written after it
    if target.exists() and not _intact(target, stamp):
        log.warning("rot90: the cached kernel %s does not match its digest (damaged, or written by an earlier "
                    "version); building it again", target)
    if not _intact(target, stamp):
        try:
            atomic_write(target, lambda f: _compile(cc, f.name))  # on disk and synced before it is named
            atomic_write(stamp, _sha256(target) + "\n")
        except _BuildError as e:
            return str(e)
        except OSError as e:
            return f"cannot write the kernel cache {target.parent}: {e}"
    try:
        return ctypes.CDLL(str(target))
    except OSError as e:
        return f"{target} does not load ({e})"


class _BuildError(Exception):
    pass


def _compile(cc: str, out: str):
    r = subprocess.run([cc, *FLAGS, "-o", out, *map(str, SOURCES)], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise _BuildError(f"{cc} failed: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _intact(library: Path, stamp: Path) -> bool:
    """The library is there and its bytes are the ones built: a truncated or flipped file is never loaded (a
    damaged shared object can kill the process on load, past any except)."""
    try:
        return library.exists() and stamp.read_text().strip() == _sha256(library)
    except OSError:
        return False


@torch.compiler.assume_constant_result  # torch.compile reads the answer; it does not trace the build
def available() -> bool:
    lib = _library()
    if isinstance(lib, str):
        _warn_once(lib)
        return False
    return True


@cache
def _warn_once(reason: str):
    log.warning("rot90: compiled scan unavailable (%s); scan(method='auto') uses a PyTorch method", reason)


def supports(t: Tensor) -> bool:
    return t.device.type == "cpu" and t.dtype in DTYPES and available()


# -- argument checks: the only door into compiled code ----------------------------------------------


def _check(op: str, dtype: torch.dtype, **tensors: tuple[Tensor, tuple[int, ...]]):
    """Each tensor on the CPU, of `dtype`, contiguous and of exactly its expected shape."""
    if dtype not in DTYPES:
        raise ArgumentError(f"rot90::{op}: float32 or float64 tensors, got {dtype}")
    for name, (t, shape) in tensors.items():
        if t.device.type != "cpu":
            raise ArgumentError(f"rot90::{op}: {name} is on {t.device}; the compiled kernels run on the CPU")
        if t.dtype != dtype:
            raise ArgumentError(f"rot90::{op}: {name} is {t.dtype}, expected {dtype} like the others")
        if tuple(t.shape) != tuple(shape):
            raise ArgumentError(f"rot90::{op}: {name} has shape {tuple(t.shape)}, expected {tuple(shape)}")
        if not t.is_contiguous():
            raise ArgumentError(f"rot90::{op}: {name} must be contiguous")


def _check_lengths(op: str, lengths: Tensor | None, outer: int, steps: int, values: bool):
    if lengths is None:
        return
    if lengths.device.type != "cpu" or lengths.dtype != torch.int64 or tuple(lengths.shape) != (outer,):
        raise ArgumentError(f"rot90::{op}: lengths must be a CPU int64 tensor of shape ({outer},), "
                            f"got {lengths.dtype} {tuple(lengths.shape)} on {lengths.device}")
    if not lengths.is_contiguous():
        raise ArgumentError(f"rot90::{op}: lengths must be contiguous")
    if values and outer and (int(lengths.min()) < 0 or int(lengths.max()) > steps):
        raise ArgumentError(f"rot90::{op}: lengths must lie in [0, {steps}], got {lengths.min()}..{lengths.max()}")


def _scan_shapes(f: Tensor, b: Tensor, h0: Tensor):
    if b.dim() != 3:
        raise ArgumentError(f"rot90::scan: b must be (outer, T, lanes), got {tuple(b.shape)}")
    outer, _, lanes = b.shape
    _check("scan", b.dtype, f=(f, b.shape), b=(b, b.shape), h0=(h0, (outer, lanes)))


def _gated_shapes(px: Tensor, h0: Tensor, lengths: Tensor | None, rule: str, values: bool) -> tuple[int, int, int]:
    if rule not in GATED:
        raise ArgumentError(f"rot90::gated: unknown rule {rule!r}: choose one of {', '.join(GATED)}")
    if px.dim() != 3 or h0.dim() != 2:
        raise ArgumentError(f"rot90::gated: px must be (B, T, n*H) and h0 (B, H), "
                            f"got {tuple(px.shape)} and {tuple(h0.shape)}")
    (B, T, _), H = px.shape, h0.shape[1]
    _check("gated", px.dtype, px=(px, (B, T, GATED[rule] * H)), h0=(h0, (B, H)))
    _check_lengths("gated", lengths, B, T, values)
    return B, T, H


def _call(name: str, *args: Tensor | None, outer: int, steps: int, lanes: int, dtype: torch.dtype):
    lib = _library()
    if isinstance(lib, str):
        raise RuntimeError(f"rot90: the compiled kernels are unavailable ({lib})")
    ptrs = [ctypes.c_void_p(None if a is None else a.data_ptr()) for a in args]
    sizes = [ctypes.c_int64(v) for v in (outer, steps, lanes)]
    getattr(lib, f"{name}_{DTYPES[dtype]}")(*ptrs, *sizes, ctypes.c_int(torch.get_num_threads()))


# -- rot90::scan ------------------------------------------------------------------------------------


@torch.library.custom_op("rot90::scan", mutates_args=())
def scan(f: Tensor, b: Tensor, h0: Tensor) -> Tensor:
    """h_k = f_k h_{k-1} + b_k along dim 1 of contiguous (outer, T, lanes) tensors; h0 (outer, lanes)."""
    _scan_shapes(f, b, h0)
    h = torch.empty_like(b)
    if h.numel():
        outer, T, lanes = b.shape
        _call("scan_fwd", f, b, h0, h, torch.empty_like(h0), None, outer=outer, steps=T, lanes=lanes, dtype=b.dtype)
    return h


@scan.register_fake
def _(f, b, h0):
    _scan_shapes(f, b, h0)
    return torch.empty_like(b)


@torch.library.custom_op("rot90::scan_backward", mutates_args=())
def scan_backward(f: Tensor, h0: Tensor, h: Tensor, g: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(df, db, dh0) of rot90::scan, given its output h and g = dL/dh."""
    _scan_shapes(f, h, h0)
    _check("scan_backward", h.dtype, g=(g, h.shape))
    df, db, dh0 = torch.empty_like(f), torch.empty_like(f), torch.empty_like(h0)
    if h.numel():
        outer, T, lanes = h.shape
        _call("scan_bwd", f, h0, h, g, None, df, db, dh0, None, outer=outer, steps=T, lanes=lanes, dtype=h.dtype)
    else:
        dh0.zero_()
    return df, db, dh0


@scan_backward.register_fake
def _(f, h0, h, g):
    return torch.empty_like(f), torch.empty_like(f), torch.empty_like(h0)


def _scan_setup(ctx, inputs, output):
    f, _, h0 = inputs
    ctx.save_for_backward(f, h0, output)


def _scan_grad(ctx, g):
    f, h0, h = ctx.saved_tensors
    return scan_backward(f, h0, h, g.contiguous())


scan.register_autograd(_scan_grad, setup_context=_scan_setup)


# -- rot90::gated -----------------------------------------------------------------------------------


@torch.library.custom_op("rot90::gated", mutates_args=())
def gated(px: Tensor, h0: Tensor, lengths: Tensor | None, rule: str) -> tuple[Tensor, Tensor]:
    """minlstm / mingru from pre-activations px (B, T, n*H) and h0 (B, H): (h (B, T, H), h_last (B, H)).

    h is 0 past each sequence's end (lengths (B,) int64, or None: all T); h_last is the
    state at each sequence's last real step.
    """
    B, T, H = _gated_shapes(px, h0, lengths, rule, values=True)
    h, h_last = px.new_empty(B, T, H), h0.clone()
    if h.numel():
        _call(f"{rule}_fwd", px, h0, h, h_last, lengths, outer=B, steps=T, lanes=H, dtype=px.dtype)
    return h, h_last


@gated.register_fake
def _(px, h0, lengths, rule):
    B, T, H = _gated_shapes(px, h0, lengths, rule, values=False)
    return px.new_empty(B, T, H), h0.new_empty(B, H)


@torch.library.custom_op("rot90::gated_backward", mutates_args=())
def gated_backward(px: Tensor, h0: Tensor, h: Tensor, g: Tensor, g_last: Tensor, lengths: Tensor | None,
                   rule: str) -> tuple[Tensor, Tensor]:
    """(dpx, dh0) of rot90::gated, given its output h and the gradients of h and h_last."""
    B, T, H = _gated_shapes(px, h0, lengths, rule, values=True)
    _check("gated_backward", px.dtype, h=(h, (B, T, H)), g=(g, (B, T, H)), g_last=(g_last, (B, H)))
    dpx = torch.empty_like(px)  # the kernel writes every element: gradients, or 0 past an end
    dh0 = g_last.clone()  # where T = 0 the final state is h0 itself
    if h.numel():
        _call(f"{rule}_bwd", px, h0, h, g, g_last, dpx, dh0, lengths, outer=B, steps=T, lanes=H, dtype=px.dtype)
    return dpx, dh0


@gated_backward.register_fake
def _(px, h0, h, g, g_last, lengths, rule):
    return torch.empty_like(px), torch.empty_like(h0)


def _gated_setup(ctx, inputs, output):
    px, h0, lengths, rule = inputs
    ctx.rule = rule
    ctx.save_for_backward(px, h0, output[0], lengths)


def _gated_grad(ctx, g, g_last):
    px, h0, h, lengths = ctx.saved_tensors
    g = torch.zeros_like(h) if g is None else g.contiguous()
    g_last = torch.zeros_like(h0) if g_last is None else g_last.contiguous()
    dpx, dh0 = gated_backward(px, h0, h, g, g_last, lengths, ctx.rule)
    return dpx, dh0, None, None


gated.register_autograd(_gated_grad, setup_context=_gated_setup)


# -- what the layers call ---------------------------------------------------------------------------


def supported(rule: str | Rule, px: Tensor) -> bool:
    """The compiled pass computes this rule: its gates are one of the kernel's, and its output is the stream."""
    rule = get_rule(rule)
    return rule.name in GATED and rule.out is stream and px.device.type == "cpu" and available()


def gated_scan(rule: str | Rule, px: Tensor, h0: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """px: (B, T, n*H) pre-activations, h0: (B, H), lengths: (B,) or None -> (h (B, T, H), h_last (B, H)).

    h is 0 past each sequence's end; h_last is the state at its last real step.
    """
    rule = get_rule(rule)
    if not supported(rule, px):
        raise ArgumentError(f"the compiled pass computes minlstm and mingru on the CPU with a C++ compiler; "
                            f"got rule {rule.name!r} on {px.device} (compiler available: {available()}): "
                            "use method='parallel'")
    dtype = px.dtype if px.dtype in DTYPES else torch.float32  # bf16/fp16: computed in fp32
    lengths = None if lengths is None else lengths.to(dtype=torch.int64).contiguous()
    h, h_last = gated(px.to(dtype).contiguous(), h0.to(dtype).contiguous(), lengths, rule.name)
    return h.to(px.dtype), h_last.to(px.dtype)


# -- top log-probabilities (csrc/topk.cpp) ------------------------------------------------------------

TOPK_DTYPES = {torch.float32: "f32", torch.bfloat16: "bf16"}


def top_log_probs(logits: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Each row's k largest log-probabilities (float32, descending) and their columns: logits (N, V) -> (N, k) and
    (N, k) int64; the same as torch.log_softmax(logits, -1, dtype=torch.float32).topk(k), in two passes over each
    row and without the (N, V) float32 copy. Contiguous float32 or bfloat16 on the CPU, 1 <= k <= V."""
    if logits.device.type != "cpu" or logits.dtype not in TOPK_DTYPES or logits.dim() != 2:
        raise ArgumentError(f"rot90 top_log_probs: a 2-D float32 or bfloat16 CPU tensor, got {logits.dtype} "
                            f"{tuple(logits.shape)} on {logits.device}")
    N, V = logits.shape
    if not 1 <= k <= V:
        raise ArgumentError(f"rot90 top_log_probs: k={k} must lie in [1, {V}]")
    lib = _library()
    if isinstance(lib, str):
        raise RuntimeError(f"rot90: the compiled kernels are unavailable ({lib})")
    logits = logits.contiguous()
    values, indices = logits.new_empty(N, k, dtype=torch.float32), logits.new_empty(N, k, dtype=torch.int64)
    if N:
        getattr(lib, f"top_log_probs_{TOPK_DTYPES[logits.dtype]}")(
            ctypes.c_void_p(logits.data_ptr()), ctypes.c_int64(N), ctypes.c_int64(V), ctypes.c_int(k),
            ctypes.c_void_p(values.data_ptr()), ctypes.c_void_p(indices.data_ptr()),
            ctypes.c_int(torch.get_num_threads()))
    return values, indices
