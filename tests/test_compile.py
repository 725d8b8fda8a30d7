"""torch.compile(fullgraph=True) and torch.export on the layers with default arguments: one graph each,
outputs and gradients equal to eager. The compiled kernels are the operators rot90::scan and rot90::gated."""

import os

import pytest
import torch

import rot90
from rot90.testing import assert_close


def _models():
    return {
        "MinLSTM": (lambda: rot90.MinLSTM(4, 8), (2, 10, 4)),
        "MinGRU": (lambda: rot90.MinGRU(4, 8), (2, 10, 4)),
        "Residual minlstm": (lambda: rot90.Residual("minlstm", 8, input_size=4), (2, 10, 4)),
        "Residual lstm": (lambda: rot90.Residual("lstm", 8, input_size=4), (2, 10, 4)),
        "LSTM": (lambda: rot90.LSTM(4, 8), (10, 2, 4)),
        "GRU": (lambda: rot90.GRU(4, 8), (10, 2, 4)),
    }


def _outputs_and_grads(model, x):
    model.zero_grad()
    x = x.clone().requires_grad_()
    y, state = model(x)
    states = list(state) if isinstance(state, tuple) else [state]
    ((y * y).sum() + sum(s.sum() for s in states)).backward()
    return [y.detach(), *[s.detach() for s in states], x.grad] + [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("name", list(_models()))
def test_compile_fullgraph_equals_eager(name):
    make, shape = _models()[name]
    torch.manual_seed(0)
    model, x = make(), torch.randn(*shape)
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")  # graph capture + autograd, no codegen
    assert_close(_outputs_and_grads(compiled, x), _outputs_and_grads(model, x), chain=2 * 10)


@pytest.mark.skipif(os.environ.get("ATEN_CPU_CAPABILITY") == "default",
                    reason="inductor's generated C++ does not build with ATEN_CPU_CAPABILITY=default (torch 2.13)")
def test_compile_with_inductor_keeps_the_kernel_as_one_operator():
    torch.manual_seed(0)
    model, x = rot90.MinLSTM(4, 8), torch.randn(2, 10, 4)
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True)
    assert_close(_outputs_and_grads(compiled, x), _outputs_and_grads(model, x), chain=2 * 10)


@pytest.mark.parametrize("name", list(_models()))
def test_export_equals_eager(name):
    make, shape = _models()[name]
    torch.manual_seed(0)
    model, x = make(), torch.randn(*shape)
    program = torch.export.export(model, (x,))
    if name in ("MinLSTM", "MinGRU", "Residual minlstm"):
        assert "rot90.gated" in str(program.graph), program.graph  # the fused kernel, as one node
    with torch.no_grad():
        ours, ref = program.module()(x), model(x)
    assert_close(list(torch.utils._pytree.tree_leaves(ours)), list(torch.utils._pytree.tree_leaves(ref)), chain=10)


def test_the_operators_pass_torch_opcheck():
    """torch.library.opcheck: schema, fake (meta) implementation, autograd registration, all consistent."""
    g = torch.Generator().manual_seed(0)
    f, b = torch.rand(2, 7, 3, generator=g, dtype=torch.float64), torch.randn(2, 7, 3, generator=g, dtype=torch.float64)
    h0 = torch.randn(2, 3, generator=g, dtype=torch.float64)
    torch.library.opcheck(torch.ops.rot90.scan, (f.requires_grad_(), b.requires_grad_(), h0.requires_grad_()))
    px = torch.randn(2, 7, 9, generator=g, dtype=torch.float64, requires_grad=True)
    for lengths in (None, torch.tensor([7, 3])):
        torch.library.opcheck(torch.ops.rot90.gated, (px, h0, lengths, "minlstm"))
