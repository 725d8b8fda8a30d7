"""`rot90 translate` and `rot90 eval`: a trained seq2seq model on new text.

    rot90 translate --model DIR [--beam K] [--nbest N] [--input FILE]    one line in, one line out
    rot90 eval --model DIR --split test                                 BLEU, chrF, perplexity, speed

Input is read as UTF-8 (a line that is not gets one error naming it); an empty line gives an
empty line; a source longer than the model was trained on (data.max_len tokens) is cut to
that length with a warning naming the line: the stated policy, never a crash. Lines are
decoded in batches sorted by length and written back in their original order, a batch at a
time, so output streams.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import torch

from .data.io import DataError, corpus_files, corpus_split
from .data.tokenize import SentencePiece, check_hash
from .extras import need
from .models.search import beam_search
from .tasks.translation import teacher_forced_nll


def pick_device(name: str = "auto") -> torch.device:
    """auto: CUDA when available, else the CPU; a device that is not here is one error naming it."""
    device = torch.device("cuda" if name == "auto" and torch.cuda.is_available() else "cpu" if name == "auto" else name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DataError(f"--device {name}: no CUDA device is available")
    return device


class Translator:
    def __init__(self, folder: str | Path, device: str | torch.device = "auto"):
        from . import load

        self.device = device if isinstance(device, torch.device) else pick_device(device)
        self.model, self.info = load(folder)
        self.model.to(self.device)
        export = Path(folder) / "export" if (Path(folder) / "export").is_dir() else Path(folder)
        if self.info.get("model_class") not in ("RecurrentSeq2Seq", "Transformer"):
            raise DataError(f"{folder}: not a translation model ({self.info.get('model_class')})")
        try:
            self.tokenizer = SentencePiece.load(export / "sentencepiece.model")
        except (OSError, RuntimeError) as e:
            raise DataError(f"{export / 'sentencepiece.model'}: not a SentencePiece model "
                            f"({str(e).splitlines()[0][:120] if str(e) else type(e).__name__})") from None
        check_hash(self.info["vocab_hash"], self.tokenizer)
        self.max_len = self.info["config"]["data"]["max_len"]
        self.cut = 0  # sources cut to max_len so far

    def encode(self, line: str, where: str = "", warn: bool = True) -> list[int]:
        ids = self.tokenizer.encode(line)
        if len(ids) > self.max_len:
            self.cut += 1
            if warn:
                print(f"warning: {where}: {len(ids)} tokens, cut to the {self.max_len} the model was trained on",
                      file=sys.stderr)
            ids = ids[: self.max_len]
        return ids

    @torch.no_grad()
    def translate(self, ids: list[list[int]], beam: int = 5, nbest: int = 1, alpha: float = 0.6,
                  max_ratio: float = 2.0) -> list[list[tuple[str, float]]]:
        """Token lists in, n-best (text, score) lists out, in the same order; empty input -> [("", 0)]."""
        out: list = [[("", 0.0)] for _ in ids]
        todo = sorted((i for i, x in enumerate(ids) if x), key=lambda i: len(ids[i]))
        if not todo:
            return out
        src = torch.zeros(len(todo), max(len(ids[i]) for i in todo), dtype=torch.long)
        for row, i in enumerate(todo):
            src[row, : len(ids[i])] = torch.tensor(ids[i])
        src, src_len = src.to(self.device), torch.tensor([len(ids[i]) for i in todo], device=self.device)
        hyps = beam_search(self.model, src, src_len, beam=beam, alpha=alpha, max_ratio=max_ratio, nbest=nbest)
        for row, i in enumerate(todo):
            out[i] = [(self.tokenizer.decode(seq), score) for seq, score in hyps[row]]
        return out


def read_utf8_lines(stream, name: str):
    """Lines of a binary stream as text; DataError naming the line that is not UTF-8."""
    for n, raw in enumerate(stream, 1):
        try:
            yield raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            raise DataError(f"{name}:{n}: not UTF-8") from None


def translate_stream(tr: Translator, stream, name: str, out=sys.stdout, batch: int = 64, **kw) -> int:
    lines, count = [], 0

    def flush():
        if not lines:
            return
        for hyps in tr.translate([tr.encode(text, f"{name}:{n}") for n, text in lines], **kw):
            out.write("\n".join(h for h, _ in hyps) + "\n" if kw.get("nbest", 1) == 1 else
                      "".join(f"{h}\t{s:.4f}\n" for h, s in hyps) + "\n")
        out.flush()

    try:
        for n, text in enumerate(read_utf8_lines(stream, name), 1):
            lines.append((n, text.strip()))
            count += 1
            if len(lines) == batch:
                flush()
                lines = []
    except DataError:
        flush()  # every line read before the bad one is translated and written, then the error
        raise
    if lines:
        flush()
    return count


@torch.no_grad()
def evaluate(folder: str | Path, split: str = "test", data: str | None = None, beam: int = 5,
             alpha: float = 0.6, batch: int = 64, limit: int = 0, device: str = "auto") -> dict:
    """BLEU and chrF (sacrebleu, with signatures), perplexity, and decoding speed on a split."""
    sacrebleu = need("sacrebleu", "nmt")

    from .data.synthetic import number_splits

    tr = Translator(folder, device)
    d = tr.info["config"]["data"]
    if d["task"] == "numbers" and data is None:
        pairs = number_splits(d["lang"], low=0, high=d["numbers_high"], dev=200, test=200,
                              seed=tr.info["config"]["train"]["seed"])[split]
    else:
        src = d.get("src_lang", "en")
        if data is None and d.get(f"{split}_file"):  # the explicit files the model was trained with
            found = corpus_files(Path(d[f"{split}_file"]), src, d["lang"])
        else:
            found = corpus_split(Path(data or d["path"]), split, src, d["lang"])
        if found is None:
            raise DataError(f"{data or d.get(f'{split}_file') or d['path']}: no {split} split ({split}.tsv, or "
                            f"{split}.{src} + {split}.{d['lang']}, or data.{split}_file)")
        pairs = found[0]
    pairs = pairs[:limit] if limit else pairs
    srcs = [tr.encode(s, warn=False) for s, _ in pairs]
    start = time.perf_counter()
    hyps = [""] * len(srcs)
    order = sorted(range(len(srcs)), key=lambda i: len(srcs[i]))  # batches of like lengths pad and wait least
    for i in range(0, len(order), batch):
        chunk = order[i:i + batch]
        for j, h in zip(chunk, tr.translate([srcs[j] for j in chunk], beam=beam, alpha=alpha)):
            hyps[j] = h[0][0]
    seconds = time.perf_counter() - start
    refs = [t for _, t in pairs]
    bleu, chrf = sacrebleu.BLEU(), sacrebleu.CHRF()
    targets = [tr.tokenizer.encode(t)[: tr.max_len] for _, t in pairs]
    nll, n = teacher_forced_nll(tr.model, list(zip(srcs, targets)), batch, tr.device)  # perplexity
    return {"split": split, "sentences": len(pairs), "beam": beam, "batch": batch, "device": str(tr.device),
            "sources_cut_to_max_len": tr.cut,
            "bleu": bleu.corpus_score(hyps, [refs]).score, "bleu_signature": str(bleu.get_signature()),
            "chrf": chrf.corpus_score(hyps, [refs]).score, "chrf_signature": str(chrf.get_signature()),
            "perplexity": math.exp(nll / max(n, 1)), "sentences_per_s": len(pairs) / seconds,
            "examples": [{"source": s, "reference": r, "hypothesis": h}
                         for (s, r), h in list(zip(pairs, hyps))[:5]]}


__all__ = ["Translator", "translate_stream", "evaluate"]
