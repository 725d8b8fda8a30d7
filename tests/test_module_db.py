"""PyTorch's own test inputs for torch.nn.RNN, LSTM and GRU, through rot90.RNN / LSTM / GRU.

Every ModuleInfo sample of torch.testing._internal.common_modules.module_db for the three modules
(constructor arguments, forward inputs: batched and unbatched, with and without initial states,
projections, both directions, both layouts) runs through torch's module and through rot90's with
torch's state dict, in float64: outputs, final states and every gradient (input, states,
parameters), each relative to its magnitude; for both implementations, the integrator
(impl="residual") and torch's kernel (impl="torch", the default).
"""

import pytest
import torch

import rot90
from rot90.testing import assert_close

common_modules = pytest.importorskip("torch.testing._internal.common_modules")  # needs expecttest (dev extra)
INFOS = [m for m in common_modules.module_db if m.module_cls in (torch.nn.RNN, torch.nn.LSTM, torch.nn.GRU)]


def samples():
    for info in INFOS:
        for training in (True, False):
            for k, s in enumerate(info.module_inputs_func(info, device="cpu", dtype=torch.float64,
                                                          requires_grad=True, training=training)):
                yield pytest.param(info.module_cls, s, training, id=f"{info.module_cls.__name__}-{k}-"
                                   f"{'train' if training else 'eval'}")


def _leaves(args):
    return [t for t in torch.utils._pytree.tree_leaves(args) if isinstance(t, torch.Tensor) and t.requires_grad]


def _run(module, sample):
    args = torch.utils._pytree.tree_map(lambda t: t.detach().clone().requires_grad_(t.requires_grad)
                                        if isinstance(t, torch.Tensor) else t, sample.forward_input.args)
    out = module(*args, **sample.forward_input.kwargs)
    flat = [t for t in torch.utils._pytree.tree_leaves(out) if isinstance(t, torch.Tensor)]
    g = torch.Generator().manual_seed(1)
    sum((t * torch.randn(t.shape, generator=g, dtype=t.dtype)).sum() for t in flat).backward()
    grads = [t.grad for t in _leaves(args)] + [p.grad for _, p in sorted(module.named_parameters())]
    return [t.detach() for t in flat] + grads


def test_module_db_has_the_samples():
    assert {m.module_cls for m in INFOS} == {torch.nn.RNN, torch.nn.LSTM, torch.nn.GRU}
    assert len(list(samples())) >= 2 * 48  # 48 LSTM/GRU samples (16 with proj_size), RNN's, in training and eval


@pytest.mark.parametrize("impl", ["residual", "torch"])
@pytest.mark.parametrize("cls,sample,training", list(samples()))
def test_pytorch_module_samples(cls, sample, training, impl):
    c = sample.constructor_input
    torch.manual_seed(0)
    ref = cls(*c.args, **c.kwargs).to(torch.float64).train(training)
    ours = getattr(rot90, cls.__name__)(*c.args, **c.kwargs, impl=impl).to(torch.float64).train(training)
    ours.load_state_dict(ref.state_dict())
    assert list(ours.state_dict()) == list(ref.state_dict())
    with torch.random.fork_rng():
        want = _run(ref, sample)
    got = _run(ours, sample)
    layers, steps = c.kwargs.get("num_layers", 1), 8
    assert_close(got, want, chain=layers * steps + 4 * steps)
