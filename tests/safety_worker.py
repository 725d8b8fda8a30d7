"""Runs misuse cases for tests/test_safety.py in a process of its own, so that a crash kills only it.

Reads one JSON case per line from stdin, writes one JSON line per case: for each method asked, in
order, ("ok", outputs and gradients as lists) or ("error", exception type, message).
"""

import json
import sys

import torch

import rot90
from rot90.errors import ArgumentError  # noqa: F401  (imported so an import error shows here, not as a hang)

DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16, "int64": torch.int64}
LAYERS = {"MinLSTM": rot90.MinLSTM, "MinGRU": rot90.MinGRU}


def tensor(spec, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    if spec is None:
        return None
    t = torch.randn(*spec["shape"], generator=g, dtype=torch.float64)
    if spec.get("unit"):
        t = t.sigmoid()
    t = t.to(dtype)
    return t.transpose(-1, -2) if spec.get("transposed") and t.dim() >= 2 else t


def run(case, method):
    torch.manual_seed(case["seed"])
    dtype = DTYPES[case["dtype"]]
    x = tensor(case["x"], dtype, case["seed"])
    h0 = tensor(case["h0"], dtype if dtype.is_floating_point else torch.float32, case["seed"] + 1)
    lengths = None if case["lengths"] is None else torch.tensor(case["lengths"]["values"],
                                                                dtype=DTYPES[case["lengths"]["dtype"]])
    leaves = [t.requires_grad_() for t in (x, h0) if t is not None and t.is_floating_point()]
    if case["target"] == "scan":
        f = tensor(case["f"], dtype, case["seed"] + 2)
        if f is not None and f.is_floating_point():
            leaves.append(f.requires_grad_())
        outs = [rot90.scan(f, x, h0, dim=case["dim"], method=method)]
        module = None
    else:
        if case["target"] in LAYERS:
            module = LAYERS[case["target"]](case["I"], case["H"], method=method)
            call = lambda: module(x, h0, lengths=lengths)  # noqa: E731
        else:
            module = rot90.Residual(case["target"].split()[1], case["H"], input_size=case["I"], method=method)
            state = (h0, 2 * h0) if module.rule.separate_output and h0 is not None else h0  # lstm: (h, c)
            call = lambda: module(x, state, lengths=lengths)  # noqa: E731
        y, h = call()
        outs = [y] + (list(h) if isinstance(h, tuple) else [h])
    loss = sum((o.float() * o.float()).sum() for o in outs)
    if loss.requires_grad:
        loss.backward()
    grads = [t.grad for t in leaves] + ([p.grad for p in module.parameters()] if module is not None else [])
    return [o.detach().double().tolist() for o in outs] + [None if g is None else g.double().tolist() for g in grads]


def main():
    for line in sys.stdin:
        case = json.loads(line)
        results = []
        for method in case["methods"]:
            try:
                results.append(["ok", run(case, method)])
            except Exception as e:  # noqa: BLE001  (the test judges the type)
                results.append(["error", type(e).__name__, str(e)[:200]])
        print(json.dumps(results), flush=True)


if __name__ == "__main__":
    main()
