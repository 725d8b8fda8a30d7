"""rot90.LSTM / rot90.GRU in reduced precision return what torch returns: the same dtypes, values to bf16 rounding."""

import pytest
import torch

import rot90
from rot90.testing import bound, relative_error

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _flat(out):
    y, state = out
    return [y] + (list(state) if isinstance(state, tuple) else [state])


def _pair(kind, device, **kw):
    torch.manual_seed(0)
    ref = getattr(torch.nn, kind)(6, 8, **kw).to(device)
    ours = getattr(rot90, kind)(6, 8, **kw).to(device)
    ours.load_state_dict(ref.state_dict())
    return ref, ours


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_autocast_returns_torchs_dtypes_and_values(kind, dtype, device):
    if device == "cpu" and dtype == torch.float16:
        pytest.skip("autocast on the CPU is a bfloat16 feature here")
    ref, ours = _pair(kind, device, num_layers=2)
    x = torch.randn(7, 3, 6, device=device)
    with torch.autocast(device, dtype=dtype):
        got = _flat(ours(x))
        try:
            want = _flat(ref(x))
        except RuntimeError:  # oneDNN has no bf16 LSTM on CPUs without AVX512-BF16: torch cannot, rot90 still must
            want = None
    if want is None:
        assert device == "cpu" and kind == "LSTM"
        assert [t.dtype for t in got] == [dtype] * 3  # autocast's policy for LSTM: lower precision
        for a, b in zip(got, _flat(ref(x))):  # against fp32: bf16 rounding of inputs, weights and 2 layers
            assert relative_error(a, b) <= bound(dtype, 2 * 7)
        return
    assert [t.dtype for t in got] == [t.dtype for t in want]
    for a, b in zip(got, want):
        # Both round matmul inputs and the result to 8 (bf16) or 11 (fp16) bits; the difference stays near one
        # rounding of the output (measured: 0.2-1.1 eps over 5 seeds), allowed 4.
        assert relative_error(a, b) <= 4 * torch.finfo(dtype).eps


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_bfloat16_modules_match_torch(kind, device):
    ref, ours = _pair(kind, device, bidirectional=True)
    ref, ours = ref.bfloat16(), ours.bfloat16()
    x = torch.randn(5, 2, 6, device=device, dtype=torch.bfloat16)
    want, got = _flat(ref(x)), _flat(ours(x))
    assert [t.dtype for t in got] == [t.dtype for t in want] == [torch.bfloat16] * len(want)
    for a, b in zip(got, want):
        assert relative_error(a, b) <= bound(torch.bfloat16, 5)  # all in bf16 here: rounding grows along T
