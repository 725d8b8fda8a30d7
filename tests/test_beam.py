"""Beam search pinned down on a model whose probabilities are known: a first-order Markov chain over two words.

The chain's probabilities are set by hand, so every hypothesis's log-probability is known in closed form:
the golden test states the expected n-best (tokens and scores), the length-penalty test checks GNMT's
formula on every returned hypothesis, and beam search is compared with exhaustive search.
"""

import itertools
import math

import pytest
import torch

from rot90.models.search import beam_search, greedy, length_penalty
from rot90.testing import bound
from rot90.tokens import BOS, EOS

A, B = 3, 4  # the two words; 0 is PAD
TOL = bound(torch.float32, 10)  # beam search keeps scores in float32; at most 10 steps are summed
P = {BOS: {A: 0.5, B: 0.3, EOS: 0.2},  # next-token probabilities given the previous token
     A: {A: 0.1, B: 0.4, EOS: 0.5},
     B: {A: 0.3, B: 0.1, EOS: 0.6}}


class _State:
    def __init__(self, rows: torch.Tensor):
        self.rows = rows

    def select(self, rows):
        return _State(self.rows[rows])

    def beams(self, K):
        return self.select(self.rows.repeat_interleave(K))


class Chain:
    """encode/step as rot90's seq2seq models have them; the next token depends on the previous one only."""

    def __init__(self):
        self.logits = torch.full((5, 5), -30.0, dtype=torch.float64)  # exp(-30): never chosen
        for prev, row in P.items():
            for tok, p in row.items():
                self.logits[prev, tok] = math.log(p)

    def encode(self, src, src_len):
        return _State(torch.arange(src.shape[0]))

    def step(self, tokens, state):
        return self.logits[tokens], state


def logprob(seq: tuple[int, ...], eos: bool = True) -> float:
    prev, total = BOS, 0.0
    for tok in seq + ((EOS,) if eos else ()):
        total += math.log(P[prev][tok])
        prev = tok
    return total


def exhaustive(limit: int, alpha: float, n: int) -> list[tuple[list[int], float]]:
    """Every hypothesis beam search can finish: ended by EOS within the limit, or cut at the limit."""
    hyps = []
    for length in range(limit + 1):
        for seq in itertools.product((A, B), repeat=length):
            score = logprob(seq, eos=length < limit)
            hyps.append((list(seq), score / length_penalty(length + 1, alpha)))
    return sorted(hyps, key=lambda h: -h[1])[:n]


def search(beam, alpha, nbest, sentences=1):
    src = torch.full((sentences, 1), 5, dtype=torch.long)
    return beam_search(Chain(), src, torch.ones(sentences, dtype=torch.long), beam=beam, alpha=alpha,
                       max_ratio=0.0, nbest=nbest)  # the length limit: 0 * 1 + 10 = 10 tokens


def test_golden_nbest_without_length_penalty():
    (hyps,) = search(beam=3, alpha=0.0, nbest=3)
    assert [seq for seq, _ in hyps] == [[A], [], [B]]  # p = 0.25, 0.2, 0.18
    assert [s for _, s in hyps] == pytest.approx([math.log(0.25), math.log(0.2), math.log(0.18)], rel=TOL)


def test_golden_nbest_with_gnmt_length_penalty():
    """alpha = 0.6 divides by ((5 + |y| + 1) / 6)^0.6: the empty hypothesis falls from second to third."""
    (hyps,) = search(beam=3, alpha=0.6, nbest=3)
    assert [seq for seq, _ in hyps] == [[A], [B], []]
    want = [math.log(0.25) / (7 / 6) ** 0.6, math.log(0.18) / (7 / 6) ** 0.6, math.log(0.2)]
    assert [s for _, s in hyps] == pytest.approx(want, rel=TOL)


@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.0, 2.0])
def test_every_score_is_the_log_probability_over_the_length_penalty(alpha):
    (hyps,) = search(beam=6, alpha=alpha, nbest=6)
    scores = [s for _, s in hyps]
    assert scores == sorted(scores, reverse=True)  # n-best order: best first
    for seq, score in hyps:
        cut = len(seq) == 10  # cut at the limit: no EOS was scored
        assert score == pytest.approx(logprob(tuple(seq), eos=not cut) / length_penalty(len(seq) + 1, alpha),
                                      rel=TOL)


@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.0])
def test_a_wide_beam_finds_what_exhaustive_search_finds(alpha):
    """(At alpha = 2 the penalty favours the 10-token hypothesis cut at the limit, which a beam that stops once it
    has 16 finished hypotheses never reaches: beam search is not exhaustive search, and is not meant to be.)"""
    (hyps,) = search(beam=16, alpha=alpha, nbest=5)
    want = exhaustive(limit=10, alpha=alpha, n=5)
    assert [seq for seq, _ in hyps] == [seq for seq, _ in want]
    assert [s for _, s in hyps] == pytest.approx([s for _, s in want], rel=TOL)


def test_beam_one_is_greedy_and_a_batch_is_each_sentence_alone():
    (hyps,) = search(beam=1, alpha=0.0, nbest=1)
    src = torch.full((1, 1), 5, dtype=torch.long)
    assert hyps[0][0] == greedy(Chain(), src, torch.ones(1, dtype=torch.long), max_ratio=0.0)[0] == [A]
    assert search(beam=4, alpha=0.6, nbest=4, sentences=3) == [search(beam=4, alpha=0.6, nbest=4)[0]] * 3


def test_a_larger_alpha_never_returns_a_shorter_best():
    """GNMT's penalty favours length more as alpha grows: of two hypotheses, once the longer wins it keeps winning,
    so the best one's length never falls (what choose_alpha relies on to correct translations that are too short).
    Here the chain's likeliest sentence is one word; only a strong penalty buys a second."""
    alphas = (0.0, 0.6, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0)
    lengths = [len(search(beam=8, alpha=a, nbest=1)[0][0][0]) for a in alphas]
    assert lengths == sorted(lengths) and lengths[0] == 1 and lengths[-1] > 1, lengths
    # Up to alpha = 2 the search finds what exhaustive search finds. Past it, exhaustive search's best is a sentence
    # cut at the length limit, which a strong penalty rewards: why choose_alpha's grid ends at 2, and why beam search
    # stops once it has K finished hypotheses rather than searching on for longer ones.
    assert lengths[:5] == [len(exhaustive(10, a, 1)[0][0]) for a in alphas[:5]]
    assert len(exhaustive(10, 3.0, 1)[0][0]) == 10


@pytest.mark.parametrize("beam", [2, 3, 4])
def test_no_hypothesis_goes_on_past_its_end(beam):
    """A continuation ending in EOS outside the K best is dropped, not kept alive: with beam 2 the third best
    candidate of the second step is B EOS, which once went on, here (a model that repeats EOS once it has ended, as
    trained ones do) to finish as "B EOS" with EOS inside it."""
    chain = Chain()
    chain.logits[EOS, EOS] = 0.0
    src = torch.full((1, 1), 5, dtype=torch.long)
    for alpha in (0.0, 0.6, 2.0):
        for seq, score in beam_search(chain, src, torch.ones(1, dtype=torch.long), beam=beam, alpha=alpha,
                                      max_ratio=0.0, nbest=beam)[0]:
            assert EOS not in seq and set(seq) <= {A, B}, (seq, alpha)
            cut = len(seq) == 10  # the length limit
            assert score == pytest.approx(logprob(tuple(seq), eos=not cut) / length_penalty(len(seq) + 1, alpha),
                                          rel=TOL)


class Chains(Chain):
    """A random first-order chain over V tokens for each sentence (its state's rows name the sentence), counting the
    hypothesis rows it is asked to step: the work a stopping rule saves."""

    def __init__(self, sentences: int, V: int, seed: int):
        g = torch.Generator().manual_seed(seed)
        self.logits = (2 * torch.randn(sentences, V, V, generator=g, dtype=torch.float64)).log_softmax(-1)
        self.logits[..., [0, BOS]] = -30.0  # PAD and BOS are never written
        self.rows = 0

    def step(self, tokens, state):
        self.rows += len(tokens)
        return self.logits[state.rows, tokens], state


@pytest.mark.parametrize("seed", range(6))
def test_best_ended_finds_the_best_of_k_ended_in_fewer_steps_without_a_length_penalty(seed):
    """With alpha = 0 a hypothesis's score only falls as it grows, so once a step's best candidate ends nothing
    still searching can beat it: OpenNMT-py's rule returns k-ended's best and steps fewer hypothesis rows."""
    src, src_len = torch.full((8, 3), 5, dtype=torch.long), torch.full((8,), 3, dtype=torch.long)
    found = {}
    for stop in ("k-ended", "best-ended"):
        model = Chains(8, V=9, seed=seed)
        found[stop] = beam_search(model, src, src_len, beam=4, alpha=0.0, max_ratio=2.0, stop=stop), model.rows
    (k_hyps, k_rows), (best_hyps, best_rows) = found["k-ended"], found["best-ended"]
    assert [h[0][0] for h in best_hyps] == [h[0][0] for h in k_hyps]
    assert [h[0][1] for h in best_hyps] == pytest.approx([h[0][1] for h in k_hyps], rel=TOL)
    assert best_rows < k_rows, (best_rows, k_rows)


@pytest.mark.parametrize("alpha", [0.6, 2.0])
def test_best_ended_scores_what_it_returns_as_k_ended_does(alpha):
    (hyps,) = beam_search(Chain(), torch.full((1, 1), 5, dtype=torch.long), torch.ones(1, dtype=torch.long), beam=3,
                          alpha=alpha, max_ratio=0.0, nbest=2, stop="best-ended")
    assert len(hyps) == 2 and hyps[0][1] >= hyps[1][1]
    for seq, score in hyps:
        cut = len(seq) == 10
        assert score == pytest.approx(logprob(tuple(seq), eos=not cut) / length_penalty(len(seq) + 1, alpha),
                                      rel=TOL)
    with pytest.raises(ValueError, match="stop='first'"):
        beam_search(Chain(), torch.full((1, 1), 5, dtype=torch.long), torch.ones(1, dtype=torch.long), stop="first")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("N,V,k", [(0, 8, 3), (1, 1, 1), (7, 5, 5), (3, 64, 10), (5, 65, 10), (163, 8000, 10)])
def test_compiled_top_log_probs_are_the_reference(dtype, N, V, k):
    """rot90's two-pass kernel against log_softmax then top-k: the same ids and log-probabilities (where values
    tie, as bf16's often do, the same values), with -inf entries and a row of -inf among them."""
    from rot90.models.search import top_log_probs

    g = torch.Generator().manual_seed(N * V + k)
    x = (torch.randn(N, V, generator=g) * 4).to(dtype)
    if N >= 3 and V > 1:
        x[0, ::3] = float("-inf")  # masked words
        x[2, -1] = 30.0  # one word all but certain: its log-probability near 0
    want = top_log_probs(x, k, method="reference")
    got = top_log_probs(x, k, method="compiled")
    assert got[0].dtype == torch.float32 and got[1].dtype == torch.int64 and got[0].shape == got[1].shape == (N, k)
    torch.testing.assert_close(got[0], want[0], rtol=1e-5, atol=1e-5)
    assert torch.equal(x.float().log_softmax(-1).gather(1, got[1]), x.float().log_softmax(-1).gather(1, want[1]))
    if dtype == torch.float32:
        assert torch.equal(got[1], want[1])
    if N:
        empty = top_log_probs(torch.full((1, V), float("-inf"), dtype=dtype), k, method="compiled")[0]
        assert torch.isneginf(empty).all()


def test_compiled_top_log_probs_refuses_what_it_cannot_read():
    from rot90.errors import ArgumentError
    from rot90.models.search import top_log_probs

    for x, k, what in [(torch.zeros(2, 5, dtype=torch.float64), 1, "float32 or bfloat16"),
                       (torch.zeros(5), 1, "2-D"), (torch.zeros(2, 5), 6, r"k=6 must lie in \[1, 5\]"),
                       (torch.zeros(2, 5), 0, "k=0")]:
        with pytest.raises(ArgumentError, match=what):
            top_log_probs(x, k, method="compiled")
    x = torch.randn(6, 8)[:, ::2]  # not contiguous: read as a copy, the same answer
    assert torch.equal(top_log_probs(x, 2, method="compiled")[1], x.topk(2).indices)
