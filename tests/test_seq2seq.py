"""Sequence to sequence: cached = uncached, beam 1 = greedy, a batch = each sentence alone."""

import pytest
import torch

from rot90.models.search import beam_search, greedy
from rot90.models.seq2seq import RecurrentSeq2Seq
from rot90.models.transformer import Transformer
from rot90.testing import assert_close, relative_error

VARIANTS = {
    "2014": dict(rule="lstm", attention="none", reverse_source=True),
    "gnmt": dict(rule="lstm", attention="general", residual=True, bidirectional=True, layers=3),
    "feeding": dict(rule="gru", attention="dot", input_feeding=True),
    "minlstm": dict(rule="minlstm", attention="dot"),
    "brnn": dict(rule="gru", attention="general", bidirectional=True, bidirectional_layers=2),
    "normed": dict(rule="mingru", attention="general", bidirectional=True, residual=True, layer_norm=True),
    "transformer": dict(arch="transformer"),
}


def model(name, seed=0):
    torch.manual_seed(seed)
    if name == "transformer":
        m = Transformer(11, 13, d=16, heads=2, layers=2, ff=32, tie_embeddings=False).eval()
    else:
        m = RecurrentSeq2Seq(11, 13, **{"layers": 2, "hidden": 16, **VARIANTS[name]}).eval()
    with torch.no_grad():  # sharper distributions than at init, so decoding is not all ties
        m.out.weight.mul_(8)
    return m


def batch(seed=1):
    g = torch.Generator().manual_seed(seed)
    src_len = torch.tensor([5, 3, 7, 1])
    src = torch.randint(3, 11, (4, 7), generator=g) * (torch.arange(7)[None] < src_len[:, None])
    tgt = torch.randint(3, 13, (4, 6), generator=g)
    return src, src_len, torch.cat([torch.ones(4, 1, dtype=torch.long), tgt], 1)


@pytest.mark.parametrize("name", VARIANTS)
def test_cached_steps_equal_teacher_forcing(name):
    m = model(name)
    src, src_len, tgt_in = batch()
    full = m(src, src_len, tgt_in)
    state, steps = m.encode(src, src_len), []
    for tok in tgt_in.unbind(1):
        logits, state = m.step(tok, state)
        steps.append(logits)
    assert_close(torch.stack(steps, 1), full, chain=4 * tgt_in.shape[1])  # a few layers, T steps each


@pytest.mark.parametrize("name", VARIANTS)
def test_beam_state_keeps_the_source_once_and_computes_the_same(name):
    """beams(K) keeps memory/keys one row per sentence; the reference copies them for every hypothesis."""
    m, K = model(name), 3
    src, src_len, tgt_in = batch()
    state = m.encode(src, src_len)
    beams, expanded = state.beams(K), state.select(torch.arange(4).repeat_interleave(K))
    assert len(beams.mask) == 4 and len(expanded.mask) == 4 * K
    g = torch.Generator().manual_seed(2)
    for t in range(4):
        tokens = torch.randint(3, 13, (len(expanded.mask),), generator=g)
        got, beams = m.step(tokens, beams)
        want, expanded = m.step(tokens, expanded)
        assert_close(got, want, chain=4 * (t + 1))
        # keep sentences 0, 2, 3 with their hypotheses shuffled within each, as beam search does
        keep = torch.tensor([0, 2, 3]) if t == 1 else torch.arange(len(beams.mask))
        rows = (keep[:, None] * K + torch.randint(0, K, (len(keep), K), generator=g)).view(-1)
        beams, expanded = beams.select(rows), expanded.select(rows)
    assert len(beams.mask) == 3 and len(expanded.mask) == 3 * K


@pytest.mark.parametrize("name", VARIANTS)
def test_beam_one_is_greedy(name):
    m = model(name)
    src, src_len, _ = batch()
    g = greedy(m, src, src_len)
    b = beam_search(m, src, src_len, beam=1)
    assert [h[0][0] for h in b] == g


@pytest.mark.parametrize("name", VARIANTS)
def test_a_batch_equals_each_sentence_alone(name):
    m = model(name)
    src, src_len, _ = batch()
    together = beam_search(m, src, src_len, beam=4, nbest=2)
    alone = [beam_search(m, src[i:i + 1, : src_len[i]], src_len[i:i + 1], beam=4, nbest=2)[0] for i in range(4)]
    assert [[h[0] for h in hyps] for hyps in together] == [[h[0] for h in hyps] for hyps in alone]
    for hyps_t, hyps_a in zip(together, alone):
        for (_, st), (_, sa) in zip(hyps_t, hyps_a):
            assert st == pytest.approx(sa, abs=1e-4)
    assert greedy(m, src, src_len) == [greedy(m, src[i:i + 1, : src_len[i]], src_len[i:i + 1])[0] for i in range(4)]


def test_nbest_is_sorted_and_bounded():
    m = model("gnmt")
    src, src_len, _ = batch()
    hyps = beam_search(m, src, src_len, beam=5, nbest=3, max_ratio=1.0)
    for h, n in zip(hyps, src_len.tolist()):
        assert len(h) == 3 and [s for _, s in h] == sorted((s for _, s in h), reverse=True)
        assert all(len(seq) <= n + 10 for seq, _ in h)
    with pytest.raises(ValueError, match="nbest=6 is more than the beam of 5"):
        beam_search(m, src, src_len, beam=5, nbest=6)


def test_bad_options():
    with pytest.raises(ValueError, match="unknown attention 'bahdanau'"):
        RecurrentSeq2Seq(5, 5, attention="bahdanau")
    with pytest.raises(ValueError, match="input_feeding needs attention"):
        RecurrentSeq2Seq(5, 5, input_feeding=True)
    with pytest.raises(ValueError, match="bidirectional_layers=3: between 1 and layers=2"):
        RecurrentSeq2Seq(5, 5, hidden=8, layers=2, bidirectional=True, bidirectional_layers=3)


def test_every_layer_both_ways_is_torchs_bidirectional_lstm():
    """bidirectional_layers = layers (OpenNMT-py's brnn encoder): the encoder outputs and final states are those of
    torch.nn.LSTM(bidirectional=True) with the same weights, the next layer reading both directions' outputs."""
    torch.manual_seed(0)
    m = RecurrentSeq2Seq(11, 13, hidden=16, layers=2, attention="dot", bidirectional=True,
                         bidirectional_layers=2).double().eval()
    ref = torch.nn.LSTM(16, 8, num_layers=2, bidirectional=True, batch_first=True).double()
    with torch.no_grad():
        for k in range(2):
            backward = m.encoder_backward if k == 0 else m.encoder_backward_upper[k - 1]
            for sfx, layer in (("", m.encoder[k]), ("_reverse", backward)):
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    getattr(ref, f"{name}_l{k}{sfx}").copy_(getattr(layer.cells[0], name))
    src, src_len, _ = batch()
    state = m.encode(src, src_len)
    packed = torch.nn.utils.rnn.pack_padded_sequence(m.src_embed(src), src_len, batch_first=True,
                                                     enforce_sorted=False)
    out, (h, c) = ref(packed)
    out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])
    inside = state.mask[..., None]
    assert_close(state.memory * inside, out * inside, chain=2 * src.shape[1])
    for k, (y, s) in enumerate(state.layers):  # (B, 16) each: forward's then backward's final state
        assert_close(y, torch.cat([h[2 * k], h[2 * k + 1]], -1), chain=2 * src.shape[1])
        assert_close(s, torch.cat([c[2 * k], c[2 * k + 1]], -1), chain=2 * src.shape[1])


def test_exports_of_either_bidirectional_encoder_load(tmp_path):
    """The bottom layer's backward half keeps its name (encoder_backward.*), so exports written before any other layer
    could read both ways still load; one with every layer both ways exports and loads."""
    from rot90.export import export, load_export

    src, src_len, tgt_in = batch()
    for layers in (1, 2):
        torch.manual_seed(0)
        m = RecurrentSeq2Seq(11, 13, hidden=16, layers=2, attention="general", bidirectional=True,
                             bidirectional_layers=layers).eval()
        assert any(k.startswith("encoder_backward.cells.0.") for k in m.state_dict())
        assert any(k.startswith("encoder_backward_upper.") for k in m.state_dict()) == (layers == 2)
        export(m, {}, tmp_path / str(layers), None, {"model_args": m.args, "model_class": "RecurrentSeq2Seq"})
        back, _ = load_export(tmp_path / str(layers))
        assert torch.equal(back(src, src_len, tgt_in.clamp(max=10)), m(src, src_len, tgt_in.clamp(max=10)))


def test_layer_norm_reads_each_layer_input_normalised_starts_at_unit_gain_and_exports(tmp_path):
    from rot90.config import ModelConfig
    from rot90.export import export, load_export
    from rot90.models.build import seq2seq_model

    def encoded(layer_norm: bool, scale: float):
        torch.manual_seed(0)
        m = seq2seq_model(ModelConfig(hidden=16, layers=2, attention="dot", bidirectional=True, layer_norm=layer_norm,
                                      init_range=0.08), 13, 20)
        with torch.no_grad():
            m.src_embed.weight.mul_(scale)
        return m, m.encode(*batch()[:2]).memory

    m, _ = encoded(True, 1.0)
    norms = [n for n in m.modules() if isinstance(n, torch.nn.LayerNorm)]
    assert len(norms) == 4 and all(torch.equal(n.weight, torch.ones_like(n.weight)) for n in norms)  # not +-0.08
    # The bottom layers read the embeddings normalised: their scale does not reach the encoder's outputs, up to
    # LayerNorm's eps (1e-5) against the embeddings' variance (0.2 at 10 x U(-0.08, 0.08)); without it, it does.
    assert relative_error(encoded(True, 40.0)[1], encoded(True, 10.0)[1]) < 1e-4
    assert relative_error(encoded(False, 40.0)[1], encoded(False, 10.0)[1]) > 0.1
    src, src_len, tgt_in = batch()
    export(m, {}, tmp_path / "normed", None, {"model_args": m.args, "model_class": "RecurrentSeq2Seq"})
    back, _ = load_export(tmp_path / "normed")
    assert torch.equal(back.eval()(src, src_len, tgt_in), m.eval()(src, src_len, tgt_in))


@pytest.mark.parametrize("tie", [True, False])
def test_a_transformer_is_tied_as_its_config_says_and_its_export_loads(tmp_path, tie):
    """model.tie_embeddings reaches the Transformer (it was always tied while config.json said false); the export,
    which stores a tied weight once, loads back to the same model either way."""
    from rot90.config import load
    from rot90.export import export, load_export
    from rot90.models.build import seq2seq_model

    cfg = load("transformer", ["model.hidden=16", "model.heads=2", "model.layers=1",
                               f"model.tie_embeddings={str(tie).lower()}"])
    torch.manual_seed(0)
    m = seq2seq_model(cfg.model, 13, 20).eval()
    assert (m.out.weight is m.tgt_embed.weight) == tie and m.args["tie_embeddings"] == tie
    export(m, cfg.to_dict(), tmp_path, None, {"model_args": m.args, "model_class": "Transformer"})
    back, info = load_export(tmp_path)
    assert info["config"]["model"]["tie_embeddings"] == info["model_args"]["tie_embeddings"] == tie
    assert (back.out.weight is back.tgt_embed.weight) == tie
    src, src_len, tgt_in = batch()
    assert torch.equal(back(src, src_len, tgt_in.clamp(max=10)), m(src, src_len, tgt_in.clamp(max=10)))


@pytest.mark.parametrize("name", ["gnmt", "feeding", "transformer"])
def test_a_shortlisted_step_is_the_full_steps_columns_and_covering_every_token_changes_nothing(name):
    """search.restrict's output layer (the fast path of a shortlist) against the full layer's columns, and beam
    search over a shortlist of every target token against beam search without one (the reference)."""
    from rot90.models.search import restrict

    m, (src, src_len, _) = model(name), batch()
    vocab = torch.tensor([2, 4, 5, 9, 12])  # EOS and a few others
    state = m.encode(src, src_len)
    tokens = torch.tensor([1, 4, 7, 2])
    full, _ = m.step(tokens, state)
    part, _ = m.step(tokens, state, restrict(m.out, vocab))
    assert_close(part, full[:, vocab], chain=1, what="shortlisted logits")
    every = torch.arange(13)
    assert beam_search(m, src, src_len, beam=3, nbest=2, vocab=every) == beam_search(m, src, src_len, beam=3,
                                                                                      nbest=2)
    for hyps in beam_search(m, src, src_len, beam=3, nbest=2, vocab=vocab):
        assert all(set(seq) <= {4, 5, 9, 12} for seq, _ in hyps)  # only shortlisted tokens (EOS not in seq)
    with pytest.raises(ValueError, match="without EOS"):
        beam_search(m, src, src_len, vocab=torch.tensor([4, 5]))
