"""The compiled CPU scans (csrc/scan.cpp): built once with the system C++ compiler, loaded with ctypes.

Why not torch.utils.cpp_extension: it compiles torch's headers and pybind11 (about a minute
on two cores) and needs ninja; these kernels need neither, only pointers, and build in about
a second. The shared object is cached per source hash and compiler flags in
$ROT90_CACHE (default ~/.cache/rot90), written to a temporary name and renamed into place.
Where no compiler is found, `available()` is False, the reason is logged once, and scan's
"auto" uses a pure-PyTorch method instead.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path

import torch

log = logging.getLogger("rot90")
SOURCE = Path(__file__).with_name("csrc") / "scan.cpp"
FLAGS = ["-O3", "-march=native", "-fopenmp", "-fno-math-errno", "-fno-trapping-math", "-shared", "-fPIC", "-std=c++17"]
DTYPES = {torch.float32: "f32", torch.float64: "f64"}


def cache_dir() -> Path:
    return Path(os.environ.get("ROT90_CACHE", Path.home() / ".cache" / "rot90"))


@cache
def _library() -> ctypes.CDLL | str:
    """The loaded library, or the reason it could not be had."""
    cc = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
    if not cc:
        return "no C++ compiler (g++/c++) on PATH"
    src = SOURCE.read_bytes()
    key = hashlib.sha256(src + " ".join([cc, *FLAGS, platform.machine()]).encode()).hexdigest()[:16]
    target = cache_dir() / f"scan-{key}.so"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
        os.close(fd)
        try:
            r = subprocess.run([cc, *FLAGS, "-o", tmp, str(SOURCE)], capture_output=True, text=True, timeout=120)
            if r.returncode != 0:
                return f"{cc} failed: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}"
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return ctypes.CDLL(str(target))


def available() -> bool:
    lib = _library()
    if isinstance(lib, str):
        _warn_once(lib)
        return False
    return True


@cache
def _warn_once(reason: str):
    log.warning("rot90: compiled scan unavailable (%s); scan(method='auto') uses a PyTorch method", reason)


def supports(t: torch.Tensor) -> bool:
    return t.device.type == "cpu" and t.dtype in DTYPES and available()


def call(name: str, *args, outer: int, steps: int, lanes: int, dtype: torch.dtype):
    """Call kernel `name` for dtype with tensors (contiguous, or None for a null pointer) and sizes."""
    fn = getattr(_library(), f"{name}_{DTYPES[dtype]}")
    ptrs = [ctypes.c_void_p(None if a is None else a.data_ptr()) for a in args]
    sizes = [ctypes.c_int64(v) for v in (outer, steps, lanes)]
    fn(*ptrs, *sizes, ctypes.c_int(torch.get_num_threads()))
