"""A second device, simulated on the CPU: the bugs a GPU run would crash on, caught by a CPU test.

On a GPU, a tensor that was never moved to the model's device crashes the first op where it meets the
model ("Expected all tensors to be on the same device"). On a CPU every tensor is on the one device, so
such a bug passes. DeviceGuard tracks, through every torch function and Tensor method, which tensors are
"on the model's device": the model's parameters and buffers, whatever `.to(device)` / `.cuda()` returns,
factories given a `device=`, and whatever an op computes from any of those. An op that mixes a tracked
tensor with an untracked one of more than one element is recorded as a violation: the place a GPU run
would crash. What a GPU allows is allowed: 0-d tensors, CPU index tensors, CPU lengths for packing.
"""

from __future__ import annotations

import weakref

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

# Where a CPU tensor meeting a device tensor is what torch itself asks for, or is legal on CUDA.
ALLOWED = {"__getitem__", "__setitem__", "index_select", "pack_padded_sequence", "_pack_padded_sequence",
           "pad_packed_sequence", "_pad_packed_sequence", "__get__", "__set__", "size", "dim", "tolist", "item",
           "copy_"}  # copy_: between devices, as load_state_dict does


class DeviceGuard(TorchFunctionMode):
    def __init__(self, *modules: torch.nn.Module):
        super().__init__()
        self._on: dict[int, weakref.ref] = {}
        self.violations: list[str] = []
        for m in modules:
            for t in [*m.parameters(), *m.buffers()]:
                self._mark(t)

    def _mark(self, t):
        if isinstance(t, torch.Tensor):
            self._on[id(t)] = weakref.ref(t)

    def on(self, t) -> bool:
        r = self._on.get(id(t))
        return r is not None and r() is t

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", str(func))
        inputs = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
        tracked = [self.on(t) for t in inputs]
        if any(tracked) and name not in ALLOWED:
            stray = [t for t, on in zip(inputs, tracked) if not on and t.dim() > 0 and t.numel() > 1]
            if stray:
                self.violations.append(f"{name}: a tensor of shape {tuple(stray[0].shape)} never moved to the "
                                       f"model's device meets it")
        out = func(*args, **kwargs)
        moved = name == "cuda" or kwargs.get("device") is not None or (name == "to" and any(
            isinstance(a, (torch.device, str)) or (isinstance(a, torch.Tensor) and self.on(a)) for a in args[1:]))
        if any(tracked) or moved:
            for t in tree_flatten(out)[0]:
                self._mark(t)
        return out
