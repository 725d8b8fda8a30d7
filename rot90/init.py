"""How a stream starts: the initial carry of a gated rule, chrono initialisation, and the stream matrices U.

    carry_init(layer, f0)      every block starts keeping f0 of its stream and writing 1 - f0
    chrono_init(layer, T)      carries with time scales spread up to T steps (Tallec & Ollivier 2018)
    stream_init(layer, kind)   U orthogonal (Saxe et al. 2014) or the identity (IRNN, Le et al. 2015); at depth
                               U / sqrt(L) (Fixup's scaling, Zhang et al. 2019) or 0 (blocks start as the identity)

The carry is the variable of the rotation: the Highway's transform bias along depth, the LSTM's
forget bias along time, minLSTM/minGRU's gate bias. Each acts in place on a rot90.Residual (or
anything with .rule, .hidden_size and .cells) and returns it.
"""

from __future__ import annotations

import torch
from torch import nn

from .rules import RULES, get_rule

# Where a gated rule's initial carry f0 lives: (the bias chunk that sets f, the sign with which f = σ(sign * bias) at
# zero input, the chunk of an input gate that starts at 1 - f0, or None where i = 1 - f already).
_CARRY = {"highway": (0, -1.0, None), "lstm": (1, 1.0, 0), "gru": (1, 1.0, None), "minlstm": (0, 1.0, 1),
          "mingru": (0, -1.0, None)}
CARRY_RULES = tuple(name for name, rule in RULES.items() if rule.carries == "gated")  # what carry_init accepts
assert set(CARRY_RULES) == set(_CARRY), "every gated rule of RULES says where its carry lives"


def carry_init(module, f0: float | torch.Tensor):
    """Start every block with carry f = f0 and input gate i = 1 - f0 (at zero input), in place.

    f0: one value for all units, or (H,) one per unit. Only the input-side bias sets the gates (the
    stream-side bias of those chunks is zeroed); a depth block that reads only its stream has only the
    stream-side bias, which then sets them.
    """
    if module.rule.name not in _CARRY or get_rule(module.rule.name) is not module.rule:
        raise ValueError(f"carry_init: rule {module.rule.name!r} has no carry gate; "
                         f"choose one of {', '.join(_CARRY)}")
    chunk, sign, gate = _CARRY[module.rule.name]
    H = module.hidden_size
    f0 = torch.as_tensor(f0, dtype=torch.float64, device="cpu").expand(H)  # values on the host, whatever the default
    if not bool(((f0 > 0) & (f0 < 1)).all()):
        raise ValueError("carry_init: f0 must lie strictly between 0 and 1 (f = 1 is the resnet rule)")
    logit = torch.log(f0) - torch.log1p(-f0)  # f0 = σ(logit)
    for cell in module.cells:
        main, other = (cell.bias_ih, cell.bias_hh) if cell.bias_ih is not None else (cell.bias_hh, None)
        if main is None:
            raise ValueError("carry_init: the layer has no biases (bias=False)")
        with torch.no_grad():
            main.view(-1, H)[chunk].copy_(sign * logit)
            if gate is not None:
                main.view(-1, H)[gate].copy_(-logit)
            if other is not None:
                for c in (chunk, gate):
                    if c is not None:
                        other.view(-1, H)[c].zero_()
    return module


def chrono_init(module, T: int):
    """Chrono initialisation (Tallec & Ollivier 2018), in place: carries f0 = τ / (1 + τ) with time scales τ drawn
    from U(1, T - 1) (the forget bias log τ), so that units remember for up to T steps instead of
    f = sigmoid(1) = 0.73 for every unit (a gradient that decays as 0.73^k is 1e-14 after 100 steps).
    Any gated rule: the LSTM of the paper, and the same carries for GRU, Highway, minLSTM, minGRU."""
    tau = torch.empty(module.hidden_size, dtype=torch.float64, device="cpu").uniform_(1, max(T - 1, 2))
    return carry_init(module, tau / (1 + tau))


def stream_init(module, kind: str):
    """The stream matrices U of every block, in place: "orthogonal" (gain 1: no norm lost or gained per step,
    Saxe et al. 2014) or "identity" (IRNN, Le et al. 2015), one H x H block per gate; "default" leaves them.
    Along depth also "scaled": U / sqrt(L) for L blocks, so that L writes add up to the scale of one (Fixup, Zhang
    et al. 2019), and "zero" (resnet only): U and the biases 0, so every block starts as the identity."""
    if kind == "default":
        return module
    if kind not in ("orthogonal", "identity", "scaled", "zero"):
        raise ValueError(f"unknown stream init {kind!r}: choose default, orthogonal, identity, scaled or zero")
    if not module.rule.reads_state:
        raise ValueError(f"stream init {kind}: rule {module.rule.name!r} has no stream matrix U")
    if kind in ("scaled", "zero") and getattr(module, "axis", "time") != "depth":
        raise ValueError(f"stream init {kind}: a depth stack's (its L blocks' writes); this is a time layer")
    if kind == "zero" and module.rule.carries != "identity":
        raise ValueError(f"stream init zero: only an identity carry's block (resnet, resnet@C) is the identity at "
                         f"U = 0 (rule {module.rule.name!r})")
    for cell in module.cells:
        with torch.no_grad():
            if kind == "scaled":
                cell.weight_hh.mul_(module.layers ** -0.5)
                continue
            if kind == "zero":
                for p in (cell.weight_hh, cell.bias_hh, cell.bias_ih):
                    if p is not None:
                        p.zero_()
                continue
            for block in cell.weight_hh.view(module.rule.u_chunks, module.hidden_size, -1):
                nn.init.orthogonal_(block) if kind == "orthogonal" else nn.init.eye_(block)
    return module
