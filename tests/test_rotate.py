"""The rotation theorem: a time layer over T steps is a T-deep tied stack with x_k injected."""

import pytest
import torch

import rot90
from rot90 import RULES, Residual, rotate
from rot90.lab.check import rotation_difference
from rot90.testing import assert_close, bound


@pytest.mark.parametrize("rule", list(RULES))
def test_rotate_there_and_back(rule):
    there, back = rotation_difference(rule, steps=12)
    assert there <= bound(torch.float32, 12)
    assert back == 0.0  # the same cell, the same code path


@pytest.mark.parametrize("rule", list(RULES))
def test_rotation_keeps_state_and_gradients(rule):
    torch.manual_seed(1)
    layer = Residual(rule, 5, "time", input_size=3).double()
    stack = rotate(layer, steps=6)
    assert stack.axis == "depth" and stack.layers == 6 and stack.tied
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    h = torch.randn(2, 5, dtype=torch.float64)
    state = (h, torch.randn(2, 5, dtype=torch.float64)) if layer.rule.separate_output else h
    grads = []
    for m in (layer, stack):
        m.zero_grad()
        y, last = m(x, state)
        (y.sin().sum() + sum(t.sum() for t in (last if isinstance(last, tuple) else (last,)))).backward()
        grads.append([p.grad.clone() for p in m.parameters()])
    assert_close(grads[1], grads[0], chain=2 * 6)


def test_rotation_shares_parameters():
    layer = Residual("lstm", 4, "time", input_size=2)
    stack = rotate(layer, steps=3)
    assert [id(p) for p in stack.parameters()] == [id(p) for p in layer.parameters()]


def test_untied_or_stream_only_stacks_do_not_rotate():
    with pytest.raises(ValueError, match="cannot rotate an untied depth stack"):
        rotate(Residual("lstm", 4, "depth", input_size=2, layers=3))
    with pytest.raises(ValueError, match="input is its own stream"):
        rotate(Residual("resnet", 4, "depth", layers=3, tied=True))
    with pytest.raises(ValueError, match="needs steps=T"):
        rotate(Residual("gru", 4, "time", input_size=2))
    with pytest.raises(ValueError, match="steps=4 differs"):
        rotate(Residual("gru", 4, "depth", input_size=2, layers=3, tied=True), steps=4)
    with pytest.raises(TypeError, match="rot90.Residual"):
        rotate(torch.nn.Linear(2, 4), steps=3)
    with pytest.raises(ValueError, match="only a one-layer, one-direction RNN"):
        rotate(rot90.LSTM(2, 4, num_layers=2), steps=3)
    with pytest.raises(ValueError, match="only a one-layer, one-direction RNN"):
        rotate(torch.nn.GRU(2, 4, bidirectional=True), steps=3)


def test_rotated_stack_refuses_a_sequence_of_another_length():
    stack = rotate(Residual("minlstm", 4, "time", input_size=2), steps=5)
    with pytest.raises(ValueError, match="5 blocks got 6 injected inputs"):
        stack(torch.randn(1, 6, 2))


@pytest.mark.parametrize("source", ["rot90", "torch"])
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_rotate_what_users_hold(kind, source):
    """A one-layer rot90.LSTM/GRU (or torch's, through its state dict) is a tied stack of T blocks, and back."""
    torch.manual_seed(0)
    ref = getattr(torch.nn, kind)(3, 5)
    layer = ref if source == "torch" else getattr(rot90, kind)(3, 5)
    layer.load_state_dict(ref.state_dict())
    x = torch.randn(6, 2, 3)  # (T, B, I): torch's layout
    h = torch.randn(1, 2, 5)
    hx = (h, torch.randn(1, 2, 5)) if kind == "LSTM" else h
    want = ref(x, hx)
    stack = rotate(layer, steps=6)
    assert stack.axis == "depth" and stack.layers == 6 and stack.tied
    if source == "rot90":
        assert stack.cells[0].weight_hh is layer.weight_hh_l0  # a view of the user's layer, not a copy
    state = tuple(t[0] for t in hx) if kind == "LSTM" else hx[0]
    for m in (stack, rotate(stack)):
        y, last = m(x.transpose(0, 1), state)
        got = [y.transpose(0, 1)] + [t[None] for t in (last if isinstance(last, tuple) else (last,))]
        assert_close(got, [want[0]] + list(want[1] if isinstance(want[1], tuple) else (want[1],)), chain=2 * 6)


def test_rotate_an_lstm_with_a_projection():
    """LSTMP: the blocks of the stack carry the same projection, and the rotation still holds."""
    torch.manual_seed(0)
    ref = torch.nn.LSTM(3, 6, proj_size=2)
    layer = rot90.LSTM(3, 6, proj_size=2)
    layer.load_state_dict(ref.state_dict())
    x, hx = torch.randn(5, 2, 3), (torch.randn(1, 2, 2), torch.randn(1, 2, 6))
    want = ref(x, hx)
    stack = rotate(layer, steps=5)
    assert stack.proj_size == 2 and stack.cells[0].weight_hr is layer.weight_hr_l0
    for m in (stack, rotate(stack)):
        y, (h, c) = m(x.transpose(0, 1), (hx[0][0], hx[1][0]))
        assert_close([y.transpose(0, 1), h[None], c[None]], [want[0], *want[1]], chain=2 * 5)


def _image_model(*overrides):
    from rot90.config import load
    from rot90.tasks import make_task

    cfg = load(None, ["data.task=digits", "data.image_size=4", "model.hidden=6", "train.seed=3", *overrides])
    task = make_task(cfg)
    torch.manual_seed(cfg.train.seed)
    return task, task.build_model().double()


@pytest.mark.parametrize("rule", ["plain", "resnet", "highway", "lstm", "gru", "minlstm"])
def test_tied_injected_depth_model_is_the_time_model(rule):
    """The rotation's 2x2 (rot90 experiment rotation-arms): its tied, injected depth arm is the time arm, weights
    from the same seed, outputs and gradients; untying or taking the image once makes another model."""
    task_t, time = _image_model(f"model.rule={rule}", "model.axis=time")
    task_d, depth = _image_model(f"model.rule={rule}", "model.axis=depth", "model.layers=16", "model.tied=true",
                                 "model.inject=true")
    assert [p.shape for p in time.parameters()] == [p.shape for p in depth.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(time.parameters(), depth.parameters()))
    x = task_t.x[:5].double()
    assert torch.equal(x, task_d.x[:5].double())  # (5, 16, 1): both read the image pixel by pixel
    grads = []
    for model, logits in ((time, lambda: time(x)[:, -1]), (depth, lambda: depth(x))):
        model.zero_grad()
        out = logits()
        out.square().sum().backward()
        grads.append((out.detach(), [p.grad.clone() for p in model.parameters()]))
    assert_close(grads[1][0], grads[0][0], chain=16)
    assert_close(grads[1][1], grads[0][1], chain=2 * 16)
    _, untied = _image_model(f"model.rule={rule}", "model.axis=depth", "model.layers=16", "model.inject=true")
    cell = sum(p.numel() for p in depth.stack.cells[0].parameters())
    assert (len(untied.stack.cells), len(depth.stack.cells)) == (16, 1)
    assert sum(p.numel() for p in untied.parameters()) == sum(p.numel() for p in depth.parameters()) + 15 * cell


def test_depth_initialisations_and_refusals():
    from rot90.config import ConfigError

    _, zero = _image_model("model.rule=resnet", "model.axis=depth", "model.layers=5", "model.init=zero")
    s = torch.randn(3, 6, dtype=torch.float64)
    assert torch.equal(zero.stack(s)[0][:, -1], s)  # every block starts as the identity
    _, plain = _image_model("model.rule=resnet", "model.axis=depth", "model.layers=9")
    _, scaled = _image_model("model.rule=resnet", "model.axis=depth", "model.layers=9", "model.init=scaled")
    for a, b in zip(plain.stack.cells, scaled.stack.cells):
        assert torch.allclose(b.weight_hh, a.weight_hh / 3, rtol=1e-6, atol=0)  # scaled in float32
    for bad, says in ((["model.axis=depth", "model.layers=9", "model.init=zero"], "resnet"),
                      (["model.axis=time", "model.init=scaled"], "depth stack"),
                      (["model.axis=time", "model.tied=true"], "no effect"),
                      (["model.axis=depth", "model.layers=0", "model.inject=true"], "no blocks"),
                      (["model.axis=depth", "model.layers=15", "model.inject=true"], "16")):
        with pytest.raises(ConfigError, match=says):
            _image_model("model.rule=lstm", *bad)
