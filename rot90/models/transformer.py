"""The Transformer baseline (Vaswani et al. 2017), pre-LayerNorm, through scaled_dot_product_attention.

Trained by the same trainer on the same data as the recurrent models, and decoded by the same
search: encode() and step() with a key/value cache, so a step costs attention over the prefix
instead of re-running it (JoeyNMT's Transformer re-runs the whole prefix at every step).

    x = x + drop(self_attention(norm(x)))       (causal in the decoder)
    x = x + drop(cross_attention(norm(x), memory))   (decoder only)
    x = x + drop(feed_forward(norm(x)))

Shapes: src (B, S), src_len (B,), tgt_in (B, T); pad = 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..lengths import mask as inside
from ..tokens import PAD
from .search import beam_rows, source_rows


def sinusoids(length: int, d: int) -> Tensor:
    pos = torch.arange(length)[:, None]
    freq = torch.exp(torch.arange(0, d, 2) * (-math.log(10000.0) / d))
    pe = torch.zeros(length, d)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * freq), torch.cos(pos * freq)
    return pe  # (length, d)


class Attention(nn.Module):
    def __init__(self, d: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))

    def split(self, x: Tensor) -> Tensor:  # (B, L, d) -> (B, heads, L, d/heads)
        B, L, d = x.shape
        return x.view(B, L, self.heads, d // self.heads).transpose(1, 2)

    def forward(self, x: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, causal: bool = False) -> Tensor:
        """x (B, T, d) queries; k, v (B, heads, S, d/heads) already split; mask (B, 1, 1, S) True = attend."""
        a = F.scaled_dot_product_attention(self.split(self.q(x)), k, v, attn_mask=mask, is_causal=causal,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.o(a.transpose(1, 2).flatten(2))


class Block(nn.Module):
    def __init__(self, d: int, heads: int, ff: int, dropout: float, cross: bool):
        super().__init__()
        self.norm1, self.norm3 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.self_attn = Attention(d, heads, dropout)
        if cross:
            self.norm2, self.cross_attn = nn.LayerNorm(d), Attention(d, heads, dropout)
        self.ff = nn.Sequential(nn.Linear(d, ff), nn.ReLU(), nn.Dropout(dropout), nn.Linear(ff, d))
        self.drop = nn.Dropout(dropout)

    def forward(self, x, mask=None, causal=False, memory_kv=None, memory_mask=None, cache=None):
        """cache: None, or [k, v] of the previous positions (B, heads, t, dh), extended in place."""
        h = self.norm1(x)
        k, v = self.self_attn.split(self.self_attn.k(h)), self.self_attn.split(self.self_attn.v(h))
        if cache is not None:
            if cache[0] is not None:
                k, v = torch.cat([cache[0], k], 2), torch.cat([cache[1], v], 2)
            cache[0], cache[1] = k, v
        x = x + self.drop(self.self_attn(h, k, v, mask=mask, causal=causal and cache is None))
        if memory_kv is not None:  # memory has one row per source; x may have several (beam search's hypotheses)
            h = self.norm2(x)
            h = self.cross_attn(h.reshape(len(memory_kv[0]), -1, h.shape[-1]), *memory_kv, mask=memory_mask)
            x = x + self.drop(h.view_as(x))
        return x + self.drop(self.ff(self.norm3(x)))


def _pick(t: Tensor | None, idx: Tensor) -> Tensor | None:
    return None if t is None else t.index_select(0, idx)


@dataclass
class TransformerState:
    """The encoder's keys/values, one row per source, and the target prefix's, one row per hypothesis (N = B * beam,
    each source's rows consecutive): following beam search's hypotheses never copies the source side."""

    memory_kv: list  # per decoder layer: (k, v) of the encoder output, (B, heads, S, dh)
    mask: Tensor  # (B, 1, 1, S)
    cache: list  # per decoder layer: [k, v] of the target prefix, (N, heads, t, dh)
    position: int
    beam: int = 1

    def select(self, idx: Tensor) -> TransformerState:
        """Rows idx (N',) of the hypotheses; with beam > 1 each source's rows stay together, beam of them."""
        src = source_rows(idx, self.beam)
        return TransformerState([(_pick(k, src), _pick(v, src)) for k, v in self.memory_kv], _pick(self.mask, src),
                                [[_pick(k, idx), _pick(v, idx)] for k, v in self.cache], self.position, self.beam)

    def beams(self, K: int) -> TransformerState:
        """K hypotheses for each source, all starting from its state."""
        idx = beam_rows(len(self.mask), K, self.mask.device)
        return TransformerState(self.memory_kv, self.mask, [[_pick(k, idx), _pick(v, idx)] for k, v in self.cache],
                                self.position, K)


class Transformer(nn.Module):
    def __init__(self, src_vocab: int, tgt_vocab: int, d: int = 256, heads: int = 4, layers: int = 3,
                 ff: int = 1024, dropout: float = 0.1, tie_embeddings: bool = True, max_len: int = 1024):
        super().__init__()
        if d % heads:
            raise ValueError(f"d={d} does not split into {heads} heads")
        self.args = dict(src_vocab=src_vocab, tgt_vocab=tgt_vocab, d=d, heads=heads, layers=layers, ff=ff,
                         dropout=dropout, tie_embeddings=tie_embeddings, max_len=max_len)
        self.d = d
        self.src_embed = nn.Embedding(src_vocab, d, padding_idx=PAD)
        self.tgt_embed = nn.Embedding(tgt_vocab, d, padding_idx=PAD)
        self.register_buffer("pe", sinusoids(max_len, d), persistent=False)
        self.encoder = nn.ModuleList([Block(d, heads, ff, dropout, cross=False) for _ in range(layers)])
        self.decoder = nn.ModuleList([Block(d, heads, ff, dropout, cross=True) for _ in range(layers)])
        self.enc_norm, self.dec_norm = nn.LayerNorm(d), nn.LayerNorm(d)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(d, tgt_vocab)
        for emb in (self.src_embed, self.tgt_embed):  # scaled by sqrt(d) on the way in, so unit variance there
            nn.init.normal_(emb.weight, std=d**-0.5)  # and logits of unit scale when the output shares it
            with torch.no_grad():
                emb.weight[PAD].zero_()
        if tie_embeddings:
            self.out.weight = self.tgt_embed.weight

    def _embed(self, emb: nn.Embedding, ids: Tensor, start: int = 0) -> Tensor:
        return self.drop(emb(ids) * math.sqrt(self.d) + self.pe[start:start + ids.shape[1]])

    def encode(self, src: Tensor, src_len: Tensor) -> TransformerState:
        mask = inside(src_len, src.shape[1], src.device)[:, None, None]  # (B, 1, 1, S)
        x = self._embed(self.src_embed, src)
        for block in self.encoder:
            x = block(x, mask=mask)
        memory = self.enc_norm(x)
        kv = [(b.cross_attn.split(b.cross_attn.k(memory)), b.cross_attn.split(b.cross_attn.v(memory)))
              for b in self.decoder]
        return TransformerState(kv, mask, [[None, None] for _ in self.decoder], 0)

    def _decode(self, y: Tensor, state: TransformerState, incremental: bool, out=None) -> Tensor:
        x = self._embed(self.tgt_embed, y, state.position)
        for block, kv, cache in zip(self.decoder, state.memory_kv, state.cache):
            x = block(x, causal=True, memory_kv=kv, memory_mask=state.mask, cache=cache if incremental else None)
        return (out or self.out)(self.dec_norm(x))

    def step(self, tokens: Tensor, state: TransformerState, out=None) -> tuple[Tensor, TransformerState]:
        """One position with the key/value cache: tokens (N,) -> logits (N, V) (out: an output layer instead of
        self.out, search.restrict's shortlist: (N, C))."""
        state = TransformerState(state.memory_kv, state.mask, [list(c) for c in state.cache], state.position,
                                 state.beam)
        logits = self._decode(tokens[:, None], state, incremental=True, out=out)[:, 0]
        state.position += 1
        return logits, state

    def forward(self, src: Tensor, src_len: Tensor, tgt_in: Tensor) -> Tensor:
        return self._decode(tgt_in, self.encode(src, src_len), incremental=False)  # (B, T, V)


class CausalTransformer(nn.Module):
    """The Transformer as a sequence model: SequenceModel's interface, causal self-attention blocks.

    x (B, T) token ids or (B, T, D) values -> (B, T, out); the baseline of the language-model and
    memory experiments, where every position may attend to every earlier one.
    """

    def __init__(self, d: int, heads: int, layers: int, out: int, vocab: int = 0, input_dim: int = 1,
                 dropout: float = 0.0, max_len: int = 4096):
        super().__init__()
        if d % heads:
            raise ValueError(f"d={d} does not split into {heads} heads")
        self.args = dict(d=d, heads=heads, layers=layers, out=out, vocab=vocab, input_dim=input_dim,
                         dropout=dropout, max_len=max_len)
        self.embed = nn.Embedding(vocab, d) if vocab else nn.Linear(input_dim, d)
        self.register_buffer("pe", sinusoids(max_len, d), persistent=False)
        self.blocks = nn.ModuleList([Block(d, heads, 4 * d, dropout, cross=False) for _ in range(layers)])
        self.norm, self.drop, self.head = nn.LayerNorm(d), nn.Dropout(dropout), nn.Linear(d, out)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        h = self.drop(self.embed(x) + self.pe[: x.shape[1]])  # (B, T, d); causal: padding after a length is unseen
        for block in self.blocks:
            h = block(h, causal=True)
        return self.head(self.norm(h))


__all__ = ["Transformer", "CausalTransformer"]
