"""One device resolution for every entry point: `train.device`, `translate/eval/bench --device`, `Translator`.

    resolve_device("auto") -> cuda (cuda:LOCAL_RANK under torchrun) when a GPU is here, else cpu
    memory(device)         -> bytes of memory the device has in all (free=True: free now)

A name that is not a device, a device kind rot90 does not run on, or a CUDA device this machine
lacks is one ArgumentError whose message starts with `what` (the key or flag the user wrote).
"""

from __future__ import annotations

import os

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


def memory(device: torch.device, free: bool = False) -> int:
    """Bytes of memory of the device: in all, or free now (an 8 GiB guess where the system does not say)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0] if free else torch.cuda.get_device_properties(device).total_memory
    try:
        return os.sysconf("SC_AVPHYS_PAGES" if free else "SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 8 << 30
