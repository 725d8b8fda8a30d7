"""`rot90 translate` and `rot90 eval`: a trained seq2seq model on new text.

    rot90 translate --model DIR [--beam K] [--nbest N] [--input FILE]    one line in, one line out
    rot90 eval --model DIR --split test                                 BLEU, chrF, perplexity, speed

Input is read as UTF-8 (a line that is not gets one error naming it); an empty line gives an
empty line; a source longer than the model was trained on (data.max_len tokens) is split at
sentence ends (then clause marks, then words) into pieces that fit, each translated, joined in
order, with a warning naming the line: the whole line is translated, none of it lost. Lines are
read ahead (16 batches), decoded in batches of like lengths and written back in their original
order; at a terminal, each line as soon as it is typed.
"""

from __future__ import annotations

import logging
import math
import re
import sys
import time
from pathlib import Path

import torch
from torch import Tensor

from .data.io import DataError, corpus_files, corpus_split
from .data.shortlist import BEST, FREQUENT, build, candidates
from .data.tokenize import SentencePiece, check_hash
from .devices import autocast_dtype, resolve_device, tune_allocator
from .errors import ArgumentError
from .export import load_export, record
from .extras import need
from .files import atomic_write
from .models.search import STOPS, beam_search
from .runs import RunFolder
from .tasks.translation import teacher_forced_nll
from .tokens import EOS, PAD

log = logging.getLogger("rot90")
SHORTLIST_FILE = "shortlist.safetensors"
DEFAULT_ALPHA = 0.6  # GNMT's length penalty, for an export that carries no α chosen on its dev split
ALPHAS = (0.6, 1.0, 1.5, 2.0)  # the α that choose_alpha tries
STOP = "k-ended"  # beam search's stopping rule unless told
SHORTLIST = True  # a model's lexical shortlist (rot90 shortlist; training makes it) restricts its output layer
# unless told otherwise: adopted 2026-12-05 by its rule in docs/protocols.md (no worse by 0.2 BLEU or chrF, faster)


class Translator:
    """A trained translation model, from Python:

        tr = rot90.Translator.load("runs/my-model")          # a run folder of rot90 train, or its export/
        tr.translate("Open the file")                        # -> "Ouvrez le fichier"
        tr.translate(["Open", "Save as"], beam=5)            # -> a list, in the same order
        tr.translate("Open", nbest=3)                        # -> [(text, score), ...], best first
    """

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device | None = None, precision: str = "fp32") -> Translator:
        """The model exported in path, on device (None: a GPU when there is one, else the CPU); precision bf16 or
        fp16 (a GPU) decodes under autocast."""
        return cls(path, "auto" if device is None else device, precision)

    def __init__(self, folder: str | Path, device: str | torch.device = "auto", precision: str = "fp32"):
        self.device = resolve_device(device, "--device")
        if self.device.type == "cpu":  # each step's (rows, V) logits reuse freed blocks, not fresh pages
            tune_allocator()
        self.amp = autocast_dtype(precision, self.device)
        self.model, self.info = load_export(folder)
        self.model.to(self.device)
        export = RunFolder.exported(folder)
        self.alpha = float(self.info.get("decoding", {}).get("alpha", DEFAULT_ALPHA))  # (choose_alpha's)
        if self.info.get("model_class") not in ("RecurrentSeq2Seq", "Transformer"):
            raise DataError(f"{folder}: not a translation model ({self.info.get('model_class')})")
        try:
            self.tokenizer = SentencePiece.load(export / "sentencepiece.model")
        except (OSError, RuntimeError) as e:
            raise DataError(f"{export / 'sentencepiece.model'}: not a SentencePiece model "
                            f"({str(e).splitlines()[0][:120] if str(e) else type(e).__name__})") from None
        try:
            check_hash(self.info["vocab_hash"], self.tokenizer)
            self.max_len = self.info["config"]["data"]["max_len"]
        except (KeyError, TypeError) as e:
            raise DataError(f"{export / 'config.json'}: not a rot90 translation export (no {e})") from None
        self.split = 0  # lines longer than max_len, translated in pieces so far
        self.shortlist = load_shortlist(export, self.device)  # (table (V, best), frequent (F,)), or None

    def pieces(self, line: str, where: str = "", warn: bool = True) -> list[list[int]]:
        """Token ids of line in pieces of at most max_len tokens: split at sentence ends, then clause marks,
        then words, so that a long line is translated whole instead of cut (its tail lost)."""
        ids = self.tokenizer.encode(line)
        if len(ids) <= self.max_len:
            return [ids]
        self.split += 1
        parts = split_text(line, lambda t: len(self.tokenizer.encode(t)), self.max_len)
        if warn:
            log.warning(f"warning: {where}: {len(ids)} tokens, over the {self.max_len} the model was trained on: "
                        f"translated in {len(parts)} pieces")
        out = []
        for part in parts:  # a single word over max_len tokens: in windows of its tokens
            p = self.tokenizer.encode(part)
            out += [p[i:i + self.max_len] for i in range(0, len(p), self.max_len)]
        return out

    def translate_lines(self, lines: list[str], where: list[str] | None = None, warn: bool = True,
                        **kw) -> list[list[tuple[str, float]]]:
        """Lines in, n-best (text, score) lists out; a long line's pieces are translated and joined in order
        (the k-th hypotheses of its pieces joined, scores summed)."""
        pieces = [self.pieces(line, where[i] if where else "", warn) for i, line in enumerate(lines)]
        flat = self.translate_ids([p for ps in pieces for p in ps], **kw)
        out, k = [], 0
        for ps in pieces:
            hyps, k = flat[k:k + len(ps)], k + len(ps)
            n = max(len(h) for h in hyps)
            out.append([(" ".join(h[min(j, len(h) - 1)][0] for h in hyps if h[min(j, len(h) - 1)][0]),
                         sum(h[min(j, len(h) - 1)][1] for h in hyps)) for j in range(n)])
        return out

    def translate(self, text: str | list[str], beam: int = 5, nbest: int = 1, alpha: float | None = None,
                  max_ratio: float = 2.0, stop: str = STOP, shortlist: bool = SHORTLIST):
        """A line -> its translation; a list of lines -> a list of translations. With nbest > 1, each line's
        n best (text, score) pairs instead, best first (score: log-probability with the GNMT length penalty).
        alpha: the length penalty; None: the one chosen on the dev split when the model was trained (self.alpha).
        stop: when a line's search is done, "k-ended" or "best-ended" (rot90.models.search).
        shortlist: score only the target tokens the model's lexical shortlist gives the sources (`rot90 shortlist`
        made one; rot90.data.shortlist), faster; without one, every token."""
        lines = [text] if isinstance(text, str) else list(text)
        if not all(isinstance(line, str) for line in lines):
            raise ArgumentError(f"translate: a string or a list of strings, got {type(text).__name__}")
        hyps = self.translate_lines([line.strip() for line in lines], warn=False, beam=beam, nbest=nbest,
                                    alpha=alpha, max_ratio=max_ratio, stop=stop, shortlist=shortlist)
        out = [h[0][0] for h in hyps] if nbest == 1 else hyps
        return out[0] if isinstance(text, str) else out

    @torch.no_grad()
    def translate_ids(self, ids: list[list[int]], beam: int = 5, nbest: int = 1, alpha: float | None = None,
                      max_ratio: float = 2.0, stop: str = STOP,
                      shortlist: bool = SHORTLIST) -> list[list[tuple[str, float]]]:
        """Token lists in, n-best (text, score) lists out, in the same order; empty input -> [("", 0)]."""
        alpha = self.alpha if alpha is None else alpha
        if not (beam >= 1 and 1 <= nbest <= beam and math.isfinite(alpha) and alpha >= 0
                and math.isfinite(max_ratio) and max_ratio > 0 and stop in STOPS):
            raise ArgumentError(f"translate: need beam >= 1, 1 <= nbest <= beam, finite alpha >= 0, max_ratio > 0 "
                                f"and stop one of {', '.join(STOPS)}; got beam={beam}, nbest={nbest}, alpha={alpha}, "
                                f"max_ratio={max_ratio}, stop={stop!r}")
        out: list = [[("", 0.0)] for _ in ids]
        todo = sorted((i for i, x in enumerate(ids) if x), key=lambda i: len(ids[i]))
        if not todo:
            return out
        src = torch.zeros(len(todo), max(len(ids[i]) for i in todo), dtype=torch.long)
        for row, i in enumerate(todo):
            src[row, : len(ids[i])] = torch.tensor(ids[i])
        src, src_len = src.to(self.device), torch.tensor([len(ids[i]) for i in todo], device=self.device)
        vocab = None
        if shortlist and self.shortlist is not None:
            vocab = candidates(*self.shortlist, src[src != PAD], always=(EOS,))
        with torch.autocast(self.device.type, dtype=self.amp or torch.float32, enabled=self.amp is not None):
            hyps = beam_search(self.model, src, src_len, beam=beam, alpha=alpha, max_ratio=max_ratio, nbest=nbest,
                               stop=stop, vocab=vocab)
        for row, i in enumerate(todo):
            out[i] = [(self.tokenizer.decode(seq), score) for seq, score in hyps[row]]
        return out


def load_shortlist(export: Path, device: torch.device) -> tuple[Tensor, Tensor] | None:
    """export/shortlist.safetensors (rot90 shortlist wrote it): (table, frequent) on device; None if absent."""
    path = export / SHORTLIST_FILE
    if not path.exists():
        return None
    try:
        got = need("safetensors.torch", "train").load_file(path, device=str(device))
        return got["table"].long(), got["frequent"].long()
    except Exception as e:  # noqa: BLE001 - safetensors raises its own error type for a damaged file
        raise DataError(f"{path}: not a rot90 shortlist ({str(e).splitlines()[0][:120] if str(e) else e!r}); "
                        f"make it again with rot90 shortlist") from None


def make_shortlist(folder: str | Path, data: str | None = None, best: int = BEST,
                   frequent: int = FREQUENT) -> dict:
    """Build the model's lexical shortlist from its training pairs (rot90.data.shortlist) into
    export/shortlist.safetensors, atomically; what it holds."""
    tr = Translator(folder, "cpu")
    pairs = [(tr.tokenizer.encode(a), tr.tokenizer.encode(b)) for a, b in split_pairs(tr, "train", data)]
    table, top = build(pairs, tr.model.out.out_features, best, frequent)
    save = need("safetensors.torch", "train").save_file
    path = RunFolder.exported(folder) / SHORTLIST_FILE
    atomic_write(path, lambda f: save({"table": table.to(torch.int32), "frequent": top.to(torch.int32)}, f.name))
    return {"path": path, "pairs": len(pairs), "best": best, "frequent": frequent}


MAX_LINE = 1 << 20  # bytes: a line longer than this is refused, not read into memory without end (/dev/zero)


def read_utf8_lines(stream, name: str):
    """Lines of a binary stream as text; DataError naming the line that is not UTF-8, or too long."""
    # binary lines end at b"\n" only, never at U+2028 and the like
    for n, raw in enumerate(iter(lambda: stream.readline(MAX_LINE + 1), b""), 1):
        if len(raw) > MAX_LINE:
            raise DataError(f"{name}:{n}: a line of more than {MAX_LINE >> 20} MiB")
        try:
            yield raw.decode("utf-8-sig" if n == 1 else "utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            raise DataError(f"{name}:{n}: not UTF-8") from None


def in_length_order(tr: Translator, lines: list[str], batch: int, where: list[str] | None = None, warn: bool = True,
                    done=lambda n: None, **kw) -> list:
    """Every line's n best (text, score) pairs, in order, decoded `batch` at a time in order of length (lines of
    like lengths pad least, and a batch's step count is its longest line's); done(n) after each batch."""
    best: list = [None] * len(lines)
    order = sorted(range(len(lines)), key=lambda i: len(lines[i]))
    for i in range(0, len(order), batch):
        chunk = order[i:i + batch]
        for j, h in zip(chunk, tr.translate_lines([lines[j] for j in chunk], [where[j] for j in chunk]
                                                  if where else None, warn=warn, **kw)):
            best[j] = h
        done(len(chunk))
    return best


def translate_stream(tr: Translator, stream, name: str, out=sys.stdout, batch: int = 64, buffer: int = 0,
                     **kw) -> int:
    """Translate a stream's lines into out, in order. `buffer` lines (default: 16 batches) are read ahead and
    decoded in order of length, as Marian's maxi-batches and OpenNMT-py's buckets are; buffer=1 writes each line's
    translation as soon as it is read (a person at a terminal)."""
    lines, count, buffer = [], 0, buffer or 16 * batch

    def flush():
        if not lines:
            return
        for hyps in in_length_order(tr, [text for _, text in lines], batch, [f"{name}:{n}" for n, _ in lines], **kw):
            out.write("\n".join(h for h, _ in hyps) + "\n" if kw.get("nbest", 1) == 1 else
                      "".join(f"{h}\t{s:.4f}\n" for h, s in hyps) + "\n")
        out.flush()

    try:
        for n, text in enumerate(read_utf8_lines(stream, name), 1):
            lines.append((n, text.strip()))
            count += 1
            if len(lines) == buffer:
                flush()
                lines = []
    except DataError:
        flush()  # every line read before the bad one is translated and written, then the error
        raise
    if lines:
        flush()
    return count


def split_pairs(tr: Translator, split: str, data: str | None = None) -> list[tuple[str, str]]:
    """The (source, reference) pairs of a split: of data (a folder), else of the data the model was trained on."""
    from .data.synthetic import number_splits

    d = tr.info["config"]["data"]
    if d["task"] == "numbers" and data is None:
        return number_splits(d["lang"], low=0, high=d["numbers_high"], dev=200, test=200,
                             seed=tr.info["config"]["train"]["seed"])[split]
    src = d.get("src_lang", "en")
    if data is None and d.get(f"{split}_file"):  # the explicit files the model was trained with
        found = corpus_files(Path(d[f"{split}_file"]), src, d["lang"])
    else:
        found = corpus_split(Path(data or d["path"]), split, src, d["lang"])
    if found is None:
        raise DataError(f"{data or d.get(f'{split}_file') or d['path']}: no {split} split ({split}.tsv, or "
                        f"{split}.{src} + {split}.{d['lang']}, or data.{split}_file)")
    return found[0]


def decode(tr: Translator, sources: list[str], batch: int = 64, progress: bool | None = False, **kw) -> list:
    """Every source's n best (text, score) pairs, in order (in_length_order, with a progress bar); kw:
    translate_ids' beam, nbest, alpha, max_ratio, stop, shortlist."""
    tqdm = need("tqdm", "train").tqdm
    with tqdm(total=len(sources), unit="sentence", disable=None if progress is None else not progress,
              dynamic_ncols=True, leave=False) as bar:
        return in_length_order(tr, sources, batch, warn=False, done=bar.update, **kw)


@torch.no_grad()
def evaluate(folder: str | Path, split: str = "test", data: str | None = None, beam: int = 5,
             alpha: float | None = None, batch: int = 64, limit: int = 0, device: str = "auto", nbest: int = 1,
             progress: bool | None = False, precision: str = "fp32", stop: str = STOP,
             shortlist: bool = SHORTLIST) -> dict:
    """BLEU and chrF (sacrebleu, with signatures) of the best hypotheses, their length against the references',
    perplexity, and decoding speed on a split. The result's "hypotheses" holds every line's n best (text,
    score) pairs, in the split's order. alpha: None, the model's (Translator.alpha). progress: a progress bar
    (None: on a terminal only)."""
    sacrebleu = need("sacrebleu", "nmt")
    tr = Translator(folder, device, precision)
    pairs = split_pairs(tr, split, data)
    pairs = pairs[:limit] if limit else pairs
    start = time.perf_counter()
    best = decode(tr, [s for s, _ in pairs], batch, progress, beam=beam, alpha=alpha, nbest=nbest, stop=stop,
                  shortlist=shortlist)
    seconds = time.perf_counter() - start
    hyps, refs = [h[0][0] for h in best], [t for _, t in pairs]
    bleu, chrf = sacrebleu.BLEU(), sacrebleu.CHRF()
    bleu_score = bleu.corpus_score(hyps, [refs])
    # Perplexity by teacher forcing, on sources and references cut to the training length.
    pairs_ids = [(tr.tokenizer.encode(s)[: tr.max_len], tr.tokenizer.encode(t)[: tr.max_len]) for s, t in pairs]
    nll, n = teacher_forced_nll(tr.model, pairs_ids, batch)
    return {"split": split, "sentences": len(pairs), "beam": beam, "alpha": tr.alpha if alpha is None else alpha,
            "stop": stop, "shortlist": shortlist and tr.shortlist is not None, "batch": batch,
            "device": str(tr.device), "sources_split": tr.split,
            "bleu": bleu_score.score, "bleu_signature": str(bleu.get_signature()),
            "length_ratio": bleu_score.sys_len / max(bleu_score.ref_len, 1),  # hypothesis / reference words
            "chrf": chrf.corpus_score(hyps, [refs]).score, "chrf_signature": str(chrf.get_signature()),
            "perplexity": math.exp(nll / max(n, 1)), "sentences_per_s": len(pairs) / seconds,
            "examples": [{"source": s, "reference": r, "hypothesis": h}
                         for (s, r), h in list(zip(pairs, hyps))[:5]],
            "hypotheses": best}


@torch.no_grad()
def choose_alpha(folder: str | Path, sentences: int = -1, grid: tuple[float, ...] = ALPHAS, beam: int = 5,
                 device: str = "auto", precision: str = "fp32") -> dict:
    """The length penalty α of grid whose beam search gives the best BLEU on the dev split (its first `sentences`
    pairs; -1: all of them, as the default, since 300 chose an α that did not carry to the test split on two
    seeds of three; ties: the smaller α), recorded in the export as "decoding"; translate and eval use it unless told
    an α. Why: with GNMT's 0.6, beam search returned translations 13-18 % shorter than the references on the
    Debian corpus while greedy decoding's were 4 % short (the model gives short endings more probability than the
    search should take from it), and the α that corrects that depends on the model (docs/translation.md)."""
    sacrebleu = need("sacrebleu", "nmt")
    tr = Translator(folder, device, precision)
    pairs = split_pairs(tr, "dev")
    pairs = pairs if sentences < 0 else pairs[:sentences]
    refs, rows = [t for _, t in pairs], {}
    for alpha in grid:
        hyps = [h[0][0] for h in decode(tr, [s for s, _ in pairs], beam=beam, alpha=alpha)]
        score = sacrebleu.BLEU().corpus_score(hyps, [refs])
        rows[f"{alpha:g}"] = {"bleu": round(score.score, 3), "length_ratio": round(score.sys_len / max(score.ref_len,
                                                                                                         1), 4)}
    best = max(grid, key=lambda a: (rows[f"{a:g}"]["bleu"], -a))
    choice = {"alpha": best, "beam": beam, "dev_sentences": len(pairs), "grid": rows}
    record(folder, decoding=choice)
    return choice


def split_text(text: str, count, limit: int) -> list[str]:
    """text in consecutive parts of at most `limit` tokens by count(part), packed greedily: at sentence ends
    first, then clause marks, then spaces; a part with no place left to split is returned as it is."""
    if count(text) <= limit:
        return [text]
    for boundary in (r"(?<=[.!?])\s+", r"(?<=[;:,])\s+", r"\s+"):
        parts = [p for p in re.split(boundary, text.strip()) if p]
        if len(parts) < 2:
            continue
        chunks, current = [], ""
        for p in parts:
            joined = f"{current} {p}" if current else p
            if current and count(joined) > limit:
                chunks.append(current)
                current = p
            else:
                current = joined
        chunks.append(current)
        return [q for c in chunks for q in split_text(c, count, limit)]
    return [text]


__all__ = ["Translator", "translate_stream", "evaluate", "split_text"]
