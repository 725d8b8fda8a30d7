"""rot90.LSTM / rot90.GRU against torch.nn.LSTM / torch.nn.GRU given the same state_dict."""

import pytest
import torch
from torch.nn.utils.rnn import pack_sequence

import rot90
from rot90.lab.check import Case, cases, chain, compare_with_torch
from rot90.testing import assert_close, bound


@pytest.mark.parametrize("impl", ["residual", "torch"])
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("index,case", list(enumerate(cases(full=True) + cases(full=False, proj_size=3))),
                         ids=lambda c: str(c))
def test_same_as_torch(kind, impl, index, case):
    """Outputs, final states and every gradient (input, h0/c0, parameters), relative to each tensor's size."""
    if kind != "LSTM" and case.proj_size:
        pytest.skip("projections are an LSTM feature (torch.nn.GRU and RNN have no proj_size)")
    assert compare_with_torch(kind, case, impl, seed=index) <= bound(torch.float32, chain(case))


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_same_as_torch_float64_long(kind):
    """In float64 the two agree to rounding, on a longer sequence and wider layer."""
    case = Case(num_layers=2, bidirectional=True, initial_state=True, packed=True)
    diff = compare_with_torch(kind, case, hidden_size=32, steps=40, batch=5, dtype=torch.float64)
    assert diff <= bound(torch.float64, chain(case, steps=40, batch=5))


@pytest.mark.parametrize("cls", [rot90.LSTM, rot90.GRU])
def test_state_dict_keys_and_shapes(cls):
    ref = getattr(torch.nn, cls.__name__)(7, 5, num_layers=3, bidirectional=True, bias=True)
    ours = cls(7, 5, num_layers=3, bidirectional=True)
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [(k, v.shape) for k, v in ref.state_dict().items()]
    no_bias = cls(7, 5, bias=False)
    assert list(no_bias.state_dict()) == ["weight_ih_l0", "weight_hh_l0"]


@pytest.mark.parametrize("cls", [rot90.LSTM, rot90.GRU])
def test_unbatched_no_bias_and_eval_dropout(cls):
    torch.manual_seed(0)
    ref = getattr(torch.nn, cls.__name__)(3, 4, num_layers=2, bias=False, dropout=0.3).eval()
    ours = cls(3, 4, num_layers=2, bias=False, dropout=0.3).eval()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(6, 3)  # unbatched: (T, I)
    (y1, s1), (y2, s2) = ref(x), ours(x)
    assert y2.shape == (6, 4)
    assert_close(y2, y1, chain=2 * 6)
    for a, b in zip(s1 if isinstance(s1, tuple) else [s1], s2 if isinstance(s2, tuple) else [s2]):
        assert a.shape == b.shape
        assert_close(b, a, chain=2 * 6)


def test_dropout_is_applied_between_layers_in_training():
    torch.manual_seed(0)
    m = rot90.LSTM(3, 8, num_layers=2, dropout=0.5)
    x = torch.randn(5, 2, 3)
    m.train()
    a, b = m(x)[0], m(x)[0]
    assert not torch.equal(a, b)
    m.eval()
    assert torch.equal(m(x)[0], m(x)[0])


def test_packed_output_is_a_packed_sequence_with_torch_layout():
    torch.manual_seed(0)
    seqs = [torch.randn(n, 3) for n in (2, 5, 3)]
    packed = pack_sequence(seqs, enforce_sorted=False)
    ref, ours = torch.nn.GRU(3, 4), rot90.GRU(3, 4)
    ours.load_state_dict(ref.state_dict())
    (p1, h1), (p2, h2) = ref(packed), ours(packed)
    assert isinstance(p2, torch.nn.utils.rnn.PackedSequence)
    assert torch.equal(p2.batch_sizes, p1.batch_sizes) and torch.equal(p2.sorted_indices, p1.sorted_indices)
    assert_close([p2.data, h2], [p1.data, h1], chain=5)


def test_residual_path_calls_no_fused_kernel(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("fused kernel called")

    monkeypatch.setattr(torch._VF, "lstm", forbidden)
    rot90.LSTM(3, 4, impl="residual")(torch.randn(5, 2, 3))  # would raise through the fused path
    with pytest.raises(AssertionError, match="fused kernel called"):
        rot90.LSTM(3, 4)(torch.randn(5, 2, 3))  # the default: torch's kernel, torch's speed


def test_old_spellings_still_work_and_warn():
    """impl="fused" (now "torch"), method="fused" (now "compiled"), rot90.check (now rot90.testing), Rule.n."""
    import importlib
    import sys

    with pytest.warns(DeprecationWarning, match='impl="torch"'):
        assert rot90.LSTM(3, 4, impl="fused").impl == "torch"
    with pytest.warns(DeprecationWarning, match='method="compiled"'):
        assert rot90.MinLSTM(3, 4, method="fused").method == "compiled"
    with pytest.warns(DeprecationWarning, match='method="compiled"'):
        assert rot90.Residual("mingru", 4, input_size=3, method="fused").method == "compiled"
    with pytest.warns(DeprecationWarning, match="Rule.chunks"):
        assert rot90.RULES["lstm"].n == 4
    sys.modules.pop("rot90.check", None)
    with pytest.warns(DeprecationWarning, match="rot90.testing"):
        check = importlib.import_module("rot90.check")
    assert check.assert_close is rot90.testing.assert_close


def test_bad_arguments_say_what_is_wrong():
    m = rot90.LSTM(3, 4, num_layers=2)
    with pytest.raises(ValueError, match=r"weight_ih_l0 has shape \(16, 5\), expected \(16, 3\)"):
        m.load_state_dict(torch.nn.LSTM(5, 4, num_layers=2).state_dict())
    with pytest.raises(ValueError, match="missing weight_hh_l1, weight_ih_l1"):
        m.load_state_dict({k: v for k, v in torch.nn.LSTM(3, 4, num_layers=2, bias=False).state_dict().items()
                           if k.endswith("l0")} | {"bias_ih_l0": torch.zeros(16), "bias_hh_l0": torch.zeros(16),
                                                  "bias_ih_l1": torch.zeros(16), "bias_hh_l1": torch.zeros(16)})
    with pytest.raises(ValueError, match="missing"):
        m.load_state_dict(torch.nn.GRU(3, 4, num_layers=1).state_dict())
    with pytest.raises(ValueError, match=r"h_0 has shape \(1, 2, 4\), expected \(2, 2, 4\)"):
        m(torch.randn(5, 2, 3), (torch.zeros(1, 2, 4), torch.zeros(1, 2, 4)))
    with pytest.raises(ValueError, match="hx must be a tuple"):
        m(torch.randn(5, 2, 3), torch.zeros(2, 2, 4))
    with pytest.raises(ValueError, match="input has size 4 in its last dim, expected input_size=3"):
        m(torch.randn(5, 2, 4))
    with pytest.raises(ValueError, match="unknown impl"):
        rot90.GRU(3, 4, impl="cudnn")
    with pytest.raises(RuntimeError, match="input has size 4"):  # torch raises RuntimeError here: so do we
        m(torch.randn(5, 2, 4))
