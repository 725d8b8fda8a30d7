"""One device resolution for every entry point: `train.device`, `translate/eval/bench --device`, `Translator`.

    resolve_device("auto") -> cuda (cuda:LOCAL_RANK under torchrun) when a GPU is here, else cpu
    memory(device)         -> bytes of memory the device has in all (free=True: free now)
    processor(device)      -> the CPU's model name, or the GPU's
    environment()          -> what a run folder's env.json records: enough to trace a result to its machine

A name that is not a device, a device kind rot90 does not run on, or a CUDA device this machine
lacks is one ArgumentError whose message starts with `what` (the key or flag the user wrote).
"""

from __future__ import annotations

import ctypes
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import torch

from .errors import ArgumentError


def resolve_device(name: str | torch.device = "auto", what: str = "device") -> torch.device:
    if isinstance(name, torch.device):
        name = str(name)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        name = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
    try:
        device = torch.device(name)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise ArgumentError(f"{what}={name!r}: choose auto, cpu, cuda or cuda:N")
    if device.type == "cuda" and not (torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count()):
        raise ArgumentError(f"{what}={name!r}: no such CUDA device on this machine")
    return device


PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16, "auto": None}


def fast_bf16(device: torch.device) -> bool:
    """Whether the device multiplies bf16 matrices natively: a GPU with bfloat16, or a CPU with AMX or AVX512-BF16
    (on the others bf16 is emulated and slower than fp32). The CPU probes are torch's private ones: missing, no."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    probes = [getattr(torch.cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
    return any(p is not None and p() for p in probes)


def autocast_dtype(precision: str, device: torch.device, what: str = "--precision") -> torch.dtype | None:
    """The autocast dtype of a precision (fp32: None, no autocast; auto: bf16 where the device has it natively, else
    fp32), or ArgumentError where the device lacks it."""
    if precision not in PRECISIONS:
        raise ArgumentError(f"{what}={precision!r}: choose fp32, bf16, fp16 or auto")
    if precision == "auto":
        return torch.bfloat16 if fast_bf16(device) else None
    if precision == "fp16" and device.type != "cuda":
        raise ArgumentError(f"{what}=fp16 needs a CUDA device (this run is on {device}): use bf16 or fp32")
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ArgumentError(f"{what}=bf16: {torch.cuda.get_device_name(device)} has no bfloat16: use fp16")
    return PRECISIONS[precision]


def memory(device: torch.device, free: bool = False) -> int:
    """Bytes of memory of the device: in all, or free now (an 8 GiB guess where the system does not say)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0] if free else torch.cuda.get_device_properties(device).total_memory
    try:
        return os.sysconf("SC_AVPHYS_PAGES" if free else "SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def processor(device: torch.device | None = None) -> str:
    """The GPU's name for a CUDA device, else the CPU's model name."""
    if device is not None and device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


PACKAGES = ("torch", "numpy", "sentencepiece", "sacrebleu", "safetensors", "scikit-learn", "matplotlib")


def tune_allocator() -> str:
    """Keep freed large blocks in glibc's heap instead of returning them to the OS.

    Above 32 MB glibc serves every allocation with a fresh mmap, and each of its pages then
    faults on first touch; on a virtual machine that costs as much as the arithmetic of an
    elementwise op. The same setting is MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ in
    the environment. `rot90 bench` sets it for every contender alike; the trainer sets it on the CPU, where a
    translation step allocates and frees logits of ~130 MB many times (bf16: 944 -> 714 ms a step, rot90 profile).
    Freed memory then stays with the process (up to 2 GiB of it) instead of going back to the OS.
    """
    if platform.system() != "Linux":
        return "system default"
    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = libc.mallopt(-3, 1 << 30) and libc.mallopt(-1, (1 << 31) - 1)  # M_MMAP_THRESHOLD, M_TRIM_THRESHOLD
        return "glibc, large blocks reused (mallopt)" if ok else "system default (mallopt refused)"
    except OSError:
        return "system default"


def environment() -> dict:
    """The command, the code (rot90's version, its git commit when it runs from a checkout), Python, the platform,
    the CPU, the GPUs and CUDA, and the versions of the packages a result depends on."""
    from .version import __version__

    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10).stdout.strip() or None
        dirty = bool(commit) and bool(subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--", "."],
                                                     capture_output=True, text=True, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, False
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    cuda = torch.cuda.is_available()
    return {"argv": sys.argv, "cwd": os.getcwd(), "rot90": __version__, "git_commit": commit, "git_dirty": dirty,
            "python": sys.version.split()[0], "platform": platform.platform(), "cpu": processor(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "cuda": torch.version.cuda if cuda else None,
            "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [],
            "packages": versions}
