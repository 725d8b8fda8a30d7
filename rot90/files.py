"""The one atomic writer: a file is either its old self or its new self, never a torn one.

Checkpoints, exports, configs, corpora, reports, figures and the compiled kernel's cache all
go through `atomic_write`: the content is written to a temporary name in the same folder,
flushed and fsynced, then renamed into place. A kill at any moment leaves the old file (or
none) and, at worst, a temporary file whose name says whose it is (`.NAME.rot90-tmp-XXXX`).
The new file gets the permissions a plain `open(path, "w")` would give (0666 less the umask),
not mkstemp's private 0600: an exported model is meant to be read by colleagues.

`digest(obj)` fingerprints what a checkpoint or an export holds, so that a bit flipped on disk
is found on load instead of trained on.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

TMP_MARK = ".rot90-tmp-"  # in every temporary name: clean-up removes only files that carry it


def _umask() -> int:
    """The process's umask, read without changing it where the system allows (Linux: /proc/self/status). The
    portable way sets it to read it, and a file another thread creates meanwhile gets the mask set: 0o077 then,
    the safe side."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, content: bytes | str | Callable[[BinaryIO], object]) -> Path:
    """Write `content` (bytes, UTF-8 text, or a function given the open binary file) to path atomically.

    The function may also write by name, to f.name (for writers that take a path, like safetensors').
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}{TMP_MARK}")
    os.close(fd)
    try:
        with open(tmp, "wb") as f:
            if callable(content):
                content(f)
            else:
                f.write(content.encode("utf-8") if isinstance(content, str) else content)
        # by name, not through f: a writer that writes by name may have put a new file there (safetensors does)
        os.chmod(tmp, 0o666 & ~_umask())
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def partial_writes(folder: Path) -> list[Path]:
    """Temporary files of atomic writes that a kill interrupted, in folder (not below it)."""
    return [p for p in Path(folder).glob(f".*{TMP_MARK}*") if p.is_file()] if Path(folder).is_dir() else []


def digest(obj) -> str:
    """A BLAKE2b fingerprint of a nest of dicts, lists, tuples, tensors and plain values: every tensor's dtype, shape
    and bytes, every other value's repr, in a fixed order (dict keys sorted)."""
    import torch

    h = hashlib.blake2b(digest_size=20)

    def walk(x):
        if isinstance(x, torch.Tensor):
            t = x.detach().cpu().contiguous().reshape(-1)
            h.update(f"T{t.dtype}{tuple(x.shape)}".encode())
            h.update(t.view(torch.uint8).numpy() if t.numel() else b"")
        elif isinstance(x, dict):
            h.update(b"{")
            for k in sorted(x, key=repr):
                h.update(repr(k).encode())
                walk(x[k])
            h.update(b"}")
        elif isinstance(x, (list, tuple)):
            h.update(b"[")
            for v in x:
                walk(v)
            h.update(b"]")
        else:
            h.update(repr(x).encode())

    walk(obj)
    return h.hexdigest()


def cache_dir(*parts: str) -> Path:
    """rot90's cache (the compiled kernel, tokenizers, downloaded archives): $ROT90_CACHE, else
    $XDG_CACHE_HOME/rot90, else ~/.cache/rot90; `parts` name a folder inside it."""
    root = os.environ.get("ROT90_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rot90"
    return Path(root).joinpath(*parts)
