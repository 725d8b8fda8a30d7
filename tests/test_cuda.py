"""The same invariants on a CUDA device: every test here skips without one (CI has none; scripts/device-check
runs them on a GPU). References are computed on the CPU in float64, or by torch's cuDNN kernels in float64."""

import pytest
import torch

import rot90
from rot90.errors import ArgumentError
from rot90.testing import assert_close

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
CUDA = "cuda"


@pytest.mark.parametrize("method", ["auto", "chunked", "doubling", "loop"])
@pytest.mark.parametrize("T", [1, 63, 64, 65, 1000, 5000])
def test_scan_on_cuda_matches_the_cpu_definition(method, T):
    g = torch.Generator().manual_seed(T)
    f64 = dict(generator=g, dtype=torch.float64)
    args = [torch.rand(3, T, 5, **f64), torch.randn(3, T, 5, **f64), torch.randn(3, 5, **f64)]
    w = torch.randn(3, T, 5, generator=g, dtype=torch.float64)
    out = []
    for device, m in ((CUDA, method), ("cpu", "sequential" if T <= 1000 else "loop")):
        leaves = [a.to(device).requires_grad_() for a in args]
        h = rot90.scan(*leaves, method=m)
        (h * w.to(device)).sum().backward()
        out.append([h.detach().cpu()] + [leaf.grad.cpu() for leaf in leaves])
    assert_close(out[0], out[1], chain=T)


@pytest.mark.parametrize("layer", ["MinLSTM", "MinGRU"])
def test_gate_decoupled_layers_on_cuda(layer):
    torch.manual_seed(0)
    cpu = getattr(rot90, layer)(3, 70).double()
    gpu = getattr(rot90, layer)(3, 70).double().to(CUDA)
    gpu.load_state_dict(cpu.state_dict())
    cpu.method = "sequential"
    x, h0 = torch.randn(4, 300, 3, dtype=torch.float64), torch.randn(4, 70, dtype=torch.float64)
    lengths = torch.tensor([300, 0, 17, 64])
    out = []
    for m, device in ((cpu, "cpu"), (gpu, CUDA)):
        xi, hi = x.to(device).requires_grad_(), h0.to(device).requires_grad_()
        y, h = m(xi, hi, lengths=lengths)
        ((y * y).sum() + h.sum()).backward()
        out.append([t.detach().cpu() for t in (y, h, xi.grad, hi.grad)] + [p.grad.cpu() for p in m.parameters()])
    assert_close(out[1], out[0], chain=4 * 300)


@pytest.mark.parametrize("rule", ["lstm", "gru"])
def test_lengths_on_cudnn_equal_the_cpu_kernel_calls_by_length(rule):
    """CUDA runs variable lengths as one packed cuDNN call, the CPU as one kernel call per stretch of lengths."""
    from rot90.residual import Residual

    torch.manual_seed(0)
    cpu = Residual(rule, 6, "time", input_size=3).double()
    gpu = Residual(rule, 6, "time", input_size=3).double().to(CUDA)
    gpu.load_state_dict(cpu.state_dict())
    x = torch.randn(4, 9, 3, dtype=torch.float64)
    lengths = torch.tensor([7, 2, 7, 1])
    out = []
    for m, device in ((cpu, "cpu"), (gpu, CUDA)):
        xi = x.to(device).requires_grad_()
        y, last = m(xi, lengths=lengths)
        last = list(last) if isinstance(last, tuple) else [last]
        ((y * y).sum() + sum(t.sum() for t in last)).backward()
        out.append([t.detach().cpu() for t in (y, *last, xi.grad)] + [p.grad.cpu() for p in m.parameters()])
    assert_close(out[1], out[0], chain=9 * 4)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_drop_ins_match_cudnn(kind):
    torch.manual_seed(0)
    ref = getattr(torch.nn, kind)(5, 16, num_layers=2, bidirectional=True).double().to(CUDA)
    ours = getattr(rot90, kind)(5, 16, num_layers=2, bidirectional=True).double().to(CUDA)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(20, 3, 5, dtype=torch.float64, device=CUDA)
    outs = []
    for m in (ref, ours):
        xi = x.clone().requires_grad_()
        y, state = m(xi)
        states = list(state) if isinstance(state, tuple) else [state]
        ((y * y).sum() + sum(s.sum() for s in states)).backward()
        grads = [p.grad for _, p in sorted(m.named_parameters())]
        outs.append([y.detach(), *[s.detach() for s in states], xi.grad] + grads)
    assert_close(outs[1], outs[0], chain=2 * 20 + 3 * 20)


def test_the_cpu_kernels_refuse_cuda_tensors():
    px, h0 = torch.randn(2, 5, 12, device=CUDA), torch.zeros(2, 4, device=CUDA)
    with pytest.raises(ArgumentError, match="on cuda"):
        torch.ops.rot90.gated(px, h0, None, "minlstm")


def test_compile_on_cuda():
    torch.manual_seed(0)
    model, x = rot90.MinLSTM(4, 8).to(CUDA), torch.randn(2, 100, 4, device=CUDA)
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    assert_close(compiled(x)[0], model(x)[0], chain=100)


@pytest.mark.parametrize("name", ["2014", "minlstm", "transformer"])
def test_seq2seq_decodes_the_same_on_cuda(name):
    from test_seq2seq import batch, model

    from rot90.models.search import beam_search

    m = model(name)
    src, src_len, _ = batch()
    want = beam_search(m, src, src_len, beam=3)
    got = beam_search(m.to(CUDA), src.to(CUDA), src_len.to(CUDA), beam=3)
    assert [[seq for seq, _ in hyps] for hyps in got] == [[seq for seq, _ in hyps] for hyps in want]


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_training_on_cuda(tmp_path, precision):
    from rot90.cli import main

    sets = ["data.length=6", "data.k=3", "data.batch_size=8", "model.hidden=16", "train.steps=5", "train.eval_every=2",
            "train.eval_batches=1", "train.device=cuda", f"train.precision={precision}"]
    argv = ["train", "--out", str(tmp_path), *[a for s in sets for a in ("--set", s)]]
    assert main(argv) == 0  # with dev evaluations on the GPU: every task's evaluate moves its data
    assert (tmp_path / "export" / "model.safetensors").exists()


def test_translation_trains_evaluates_and_translates_on_cuda(tmp_path):
    from rot90.cli import main

    sets = ["data.task=numbers", "data.numbers_high=999", "data.vocab_size=80", "data.batch_tokens=256",
            "model.hidden=16", "model.attention=general", "train.steps=6", "train.eval_every=3", "train.eval_batches=1",
            "train.device=cuda"]
    assert main(["train", "--out", str(tmp_path / "run"), *[a for s in sets for a in ("--set", s)]]) == 0
    (tmp_path / "in.txt").write_text("forty-two\n")
    assert main(["translate", "--model", str(tmp_path / "run"), "--device", "cuda", "--input",
                 str(tmp_path / "in.txt")]) == 0
    assert main(["eval", "--model", str(tmp_path / "run"), "--device", "cuda", "--split", "dev", "--limit", "8"]) == 0
