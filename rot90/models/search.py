"""Decoding: greedy and batched beam search over any model with encode() and step(); sampling from a language model.

    model.encode(src, src_len) -> state          model.step(tokens (N,), state) -> (logits (N, V), state)
    model.out: the output layer, (N, H) -> (N, V); step(tokens, state, out) uses out instead (a shortlist)
    state.beams(K) -> K hypotheses per source, rows b*K ... b*K+K-1 for source b
    state.select(idx) -> the rows idx of a state (to follow the surviving hypotheses; a source's K rows
                         stay together, so the source side, one row per sentence, is never copied)

Beam search keeps K hypotheses per sentence, all sentences of a batch in one state of B*K hypothesis rows.
At each step the 2K best continuations are looked at: those ending in EOS are finished and
scored with GNMT's length penalty, score / ((5 + |Y|) / 6) ** alpha (Wu et al. 2016); the K
best others go on. When a sentence is done is the stopping rule: "k-ended", when K of its hypotheses
have ended (fairseq's and Marian's rule), or "best-ended", as soon as the best candidate of a step ends
(OpenNMT-py's rule: no live hypothesis then has a higher log-probability, though with alpha > 0 a longer
one could still score higher once normalised; it decodes fewer steps). Every sentence stops at max_len =
max_ratio * source length + 10. With K = 1 this is greedy decoding.

A shortlist (vocab: the target ids a batch may produce, as Marian's lexical shortlists give) restricts
the output layer to those rows and the softmax to them: a (rows, H) x (H, C) product instead of
(H, V) at each step.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .. import compiled
from ..tokens import BOS, EOS


def source_rows(idx: Tensor, beam: int) -> Tensor:
    """The sources of hypothesis rows idx, for a state that keeps one row per source and `beam` per hypothesis:
    select() is only ever given each source's beam rows together, so every beam-th row names its source."""
    return idx if beam == 1 else idx[::beam] // beam


def beam_rows(sources: int, beam: int, device: torch.device) -> Tensor:
    """The source of each of beam hypotheses per source, rows b*beam ... b*beam+beam-1 for source b: (sources*beam,)."""
    return torch.arange(sources, device=device).repeat_interleave(beam)


def _limit(src_len: Tensor, max_ratio: float) -> Tensor:
    return (src_len.float() * max_ratio).long() + 10


@torch.no_grad()
def greedy(model, src: Tensor, src_len: Tensor, max_ratio: float = 2.0) -> list[list[int]]:
    """The most likely next token at every step, until EOS or the length limit."""
    state = model.encode(src, src_len)
    B = src.shape[0]
    limit = _limit(src_len, max_ratio).to(src.device)
    tokens = torch.full((B,), BOS, dtype=torch.long, device=src.device)
    out, done = [], torch.zeros(B, dtype=torch.bool, device=src.device)
    for t in range(int(limit.max())):
        logits, state = model.step(tokens, state)
        tokens = logits.argmax(-1)
        out.append(tokens)
        done |= (tokens == EOS) | (t + 1 >= limit)
        if done.all():
            break
    seqs = torch.stack(out, 1).tolist()
    result = []
    for b, seq in enumerate(seqs):
        seq = seq[: int(limit[b])]
        result.append(seq[: seq.index(EOS)] if EOS in seq else seq)
    return result


@torch.no_grad()
def sample(model, prompt: list[int], tokens: int, temperature: float = 1.0, top_k: int = 0, context: int = 256,
           generator: torch.Generator | None = None) -> list[int]:
    """`tokens` ids continuing `prompt`, each drawn from the model's next-token distribution at `temperature`
    (top_k > 0: among the k likeliest only). A model with stream() (a recurrent SequenceModel) carries its state,
    O(1) per token; any other reads the last `context` ids again for each token (a CausalTransformer)."""
    if not prompt:
        raise ValueError("sample: the prompt must have at least one token")
    device = next(model.parameters()).device
    ids, out = torch.tensor([prompt], device=device), []
    recurrent = hasattr(model, "stream")
    logits, states = model.stream(ids) if recurrent else (model(ids[:, -context:]), None)
    for _ in range(tokens):
        scores = logits[0, -1].float() / temperature  # (V,)
        if top_k:
            kth = scores.topk(min(top_k, scores.numel())).values[-1]
            scores = scores.masked_fill(scores < kth, float("-inf"))
        token = torch.multinomial(scores.softmax(-1).cpu(), 1, generator=generator).to(device)  # (1,)
        out.append(int(token))
        if recurrent:
            logits, states = model.stream(token[None], states)
        else:
            ids = torch.cat([ids, token[None]], 1)
            logits = model(ids[:, -context:])
    return out


def top_log_probs(logits: Tensor, k: int, method: str = "auto") -> tuple[Tensor, Tensor]:
    """Each row's k largest log-probabilities, in float32 whatever the logits' precision, and their ids: (N, V) ->
    (N, k), (N, k). "reference": log_softmax's fused kernel then top-k (faster than torch's four-pass log-sum-exp);
    "compiled": rot90's two passes over each row (csrc/topk.cpp), without the (N, V) float32 copy; "auto": compiled
    where it runs (the CPU, float32 or bfloat16, a C++ compiler), else the reference."""
    if method == "compiled" or (method == "auto" and logits.device.type == "cpu"
                                and logits.dtype in compiled.TOPK_DTYPES and compiled.available()):
        return compiled.top_log_probs(logits, k)
    return torch.log_softmax(logits, -1, dtype=torch.float32).topk(k, dim=-1)


def length_penalty(length: int, alpha: float) -> float:
    return ((5 + length) / 6) ** alpha


def restrict(layer: nn.Linear, vocab: Tensor):
    """layer over the target ids vocab only: (N, H) -> (N, C) logits, C = len(vocab). Its rows are copied once (in
    the autocast dtype where autocast is on: cast once per batch, not at every step)."""
    w, b = layer.weight[vocab], None if layer.bias is None else layer.bias[vocab]
    kind = w.device.type
    if torch.is_autocast_enabled(kind):
        dtype = torch.get_autocast_dtype(kind)
        w, b = w.to(dtype), None if b is None else b.to(dtype)
    return lambda x: F.linear(x, w, b)


STOPS = ("k-ended", "best-ended")  # when a sentence's search is done (module docstring)


@torch.no_grad()
def beam_search(model, src: Tensor, src_len: Tensor, beam: int = 5, alpha: float = 0.6, max_ratio: float = 2.0,
                nbest: int = 1, stop: str = "k-ended",
                vocab: Tensor | None = None) -> list[list[tuple[list[int], float]]]:
    """For each sentence, the nbest (tokens without BOS/EOS, normalised log-probability), best first.
    vocab: a shortlist, (C,) sorted target ids with EOS among them; None: the whole vocabulary."""
    B, K = src.shape[0], beam
    if nbest > K:
        raise ValueError(f"nbest={nbest} is more than the beam of {K}")
    if stop not in STOPS:
        raise ValueError(f"stop={stop!r}: one of {', '.join(STOPS)}")
    if vocab is not None and not (vocab == EOS).any():
        raise ValueError("beam_search: a shortlist without EOS cannot end a sentence")
    out = () if vocab is None else (restrict(model.out, vocab),)
    state = model.encode(src, src_len).beams(K)
    limit = _limit(src_len, max_ratio).tolist()
    scores = torch.full((B, K), float("-inf"), device=src.device)
    scores[:, 0] = 0.0  # one live hypothesis per sentence at the start
    tokens = torch.full((B * K,), BOS, dtype=torch.long, device=src.device)
    history = torch.zeros(B, K, 0, dtype=torch.long, device=src.device)
    finished: list[list[tuple[list[int], float]]] = [[] for _ in range(B)]
    limit_t = torch.tensor(limit, device=src.device)
    ids = torch.arange(B, device=src.device)  # the sentence of each row of the batch: finished ones leave it
    positions = torch.arange(2 * K, device=src.device)
    for t in range(max(limit)):
        logits, state = model.step(tokens, state, *out)
        # The 2K best continuations of a sentence are among the 2K best words of each of its hypotheses.
        C = min(2 * K, logits.shape[-1])
        best, best_word = top_log_probs(logits, C)  # (B K, C)
        if vocab is not None:
            best_word = vocab[best_word]
        logp = best.view(B, K, C)
        top_scores, top = (scores[:, :, None] + logp).view(B, K * C).topk(min(2 * K, K * C), dim=1)  # (B, 2K)
        origin, word = top // C, best_word.view(B, K * C).gather(1, top)
        # Candidates that end here (EOS, or the length limit) cannot go on; those among the K best are finished,
        # the others dropped. (A sentence's K hypotheses have at most K EOS candidates, so K others go on.)
        ending = ((word == EOS) | (t + 1 >= limit_t)[:, None]) & torch.isfinite(top_scores)  # (B, 2K)
        ends = ending.clone()
        ends[:, K:] = False
        for b, j in ends.nonzero().tolist():
            seq = history[b, origin[b, j]].tolist() + ([] if word[b, j] == EOS else [int(word[b, j])])
            finished[int(ids[b])].append((seq, top_scores[b, j].item() / length_penalty(len(seq) + 1, alpha)))
        # The K best candidates that do not end go on.
        order = (ending.long() * 2 * K + positions[: top.shape[1]]).argsort(1)[:, :K]
        next_scores = top_scores.gather(1, order).masked_fill(ending.gather(1, order), float("-inf"))
        next_origin, next_word = origin.gather(1, order), word.gather(1, order)
        counts = torch.tensor([len(finished[i]) for i in ids.tolist()], device=src.device)
        done = (counts >= K) | (t + 1 >= limit_t) | ~torch.isfinite(next_scores).any(1)
        if stop == "best-ended":  # top_scores is sorted: column 0 is the step's best candidate
            done |= ends[:, 0] & (counts >= nbest)
        keep = (~done).nonzero().squeeze(1)  # (B',) the sentences still searching
        if len(keep) == 0:
            break
        rows = (keep[:, None] * K + next_origin[keep]).view(-1)  # (B' K,) the state rows each hypothesis extends
        state = state.select(rows)
        history = torch.cat([history[keep[:, None], next_origin[keep]], next_word[keep, :, None]], -1)
        scores, tokens = next_scores[keep], next_word[keep].view(-1)
        ids, limit_t, B = ids[keep], limit_t[keep], len(keep)
    return [sorted(f, key=lambda h: -h[1])[:nbest] for f in finished]
