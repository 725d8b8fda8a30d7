"""Tasks: what the trainer trains on, without the trainer knowing which.

A task builds its model, plans each epoch as a list of batch specs (a pure function of the
seed and the epoch, so a resumed run sees the same batches), makes one rank's share of a
batch, and scores a model:

    plan(epoch) -> [spec]                     make_batch(spec, rank, world) -> dict of tensors
    loss(model, batch) -> (sum, count)        evaluate(model, batches) -> {metric: value}

The loss comes as a sum and a count so that the trainer can divide by the global count and
the result does not depend on how a batch is split over ranks.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .data.io import DataError
from .data.tasks import adding_task, copy_task, selective_copy
from .data.tokenize import CharTokenizer
from .extras import need
from .models import CausalTransformer, DepthModel, SequenceModel
from .residual import chrono_init
from .train.config import Config, ConfigError


def warn(message: str):
    print(message, file=sys.stderr, flush=True)


class Task:
    vocab_hash: str = ""
    tokenizer_file: str | None = None  # saved beside the run and the export when set

    def __init__(self, cfg: Config):
        self.cfg = cfg

    def build_model(self) -> nn.Module:
        raise NotImplementedError

    def plan(self, epoch: int) -> list:
        raise NotImplementedError

    def make_batch(self, spec, rank: int = 0, world: int = 1) -> dict[str, Tensor]:
        raise NotImplementedError

    def loss(self, model: nn.Module, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def evaluate(self, model: nn.Module, batches: int) -> dict[str, float]:
        raise NotImplementedError

    def save_assets(self, folder: Path):
        """Write what the model needs besides its weights (a tokenizer) into folder."""

    def _model(self, out: int, vocab: int = 0, input_dim: int = 1) -> nn.Module:
        m = self.cfg.model
        if m.arch == "transformer":
            return CausalTransformer(m.hidden, m.heads, m.layers, out, vocab=vocab, input_dim=input_dim,
                                     dropout=m.dropout, max_len=max(self.cfg.data.length * 2 + 64, 1024))
        if m.arch != "rnn":
            raise ConfigError(f"model.arch: unknown {m.arch!r}; choose rnn or transformer")
        model = SequenceModel(m.rule, m.hidden, m.layers, out, vocab=vocab, input_dim=input_dim,
                              residual=m.residual, dropout=m.dropout)
        if m.chrono:
            if m.rule != "lstm":
                raise ConfigError(f"model.chrono: an LSTM initialisation; model.rule is {m.rule}")
            for layer in model.layers:
                chrono_init(layer, m.chrono)
        return model


def _share(x: Tensor, rank: int, world: int) -> Tensor:
    """Rows rank, rank + world, ...: this rank's part of a global batch."""
    return x[rank::world]


class MemoryTask(Task):
    """copy, adding or selective_copy with delay data.length (rot90.data.tasks)."""

    def __init__(self, cfg: Config):
        super().__init__(cfg)
        self.kind = cfg.data.task

    def _generate(self, seed: int, batch: int):
        d = self.cfg.data
        if self.kind == "adding":
            return adding_task(batch, d.length, seed=seed)
        gen = copy_task if self.kind == "copy" else selective_copy
        return gen(batch, d.length, k=d.k, vocab=d.symbols, seed=seed)

    def build_model(self) -> nn.Module:
        if self.kind == "adding":
            return self._model(out=1, input_dim=2)
        return self._model(out=self.cfg.data.symbols + 2, vocab=self.cfg.data.symbols + 2)

    def plan(self, epoch: int) -> list[int]:
        n = self.cfg.data.epoch_batches
        return [self.cfg.train.seed * 1_000_003 + epoch * n + i for i in range(n)]

    def make_batch(self, spec: int, rank: int = 0, world: int = 1) -> dict[str, Tensor]:
        b = self._generate(spec, self.cfg.data.batch_size)
        return {"x": _share(b.x, rank, world), "y": _share(b.y, rank, world),
                "answer_from": torch.tensor(b.answer_from)}

    def _outputs(self, model, batch):
        out = model(batch["x"])  # (B, L, out)
        start = int(batch["answer_from"])
        if self.kind == "adding":
            return out[:, -1, 0], batch["y"]
        k = batch["y"].shape[1]
        return out[:, start:start + k], batch["y"]

    def loss(self, model, batch):
        pred, y = self._outputs(model, batch)
        if self.kind == "adding":
            return F.mse_loss(pred, y, reduction="sum"), torch.tensor(y.numel())
        return F.cross_entropy(pred.flatten(0, 1), y.flatten(), reduction="sum"), torch.tensor(y.numel())

    @torch.no_grad()
    def evaluate(self, model, batches: int) -> dict[str, float]:
        total, right, loss = 0, 0.0, 0.0
        for i in range(batches):  # a held-out stream: seeds no training batch uses
            b = self._generate(10**12 + self.cfg.train.seed * 1_000_003 + i, self.cfg.data.batch_size)
            batch = {"x": b.x, "y": b.y, "answer_from": torch.tensor(b.answer_from)}
            pred, y = self._outputs(model, batch)
            if self.kind == "adding":
                loss += F.mse_loss(pred, y, reduction="sum").item()
            else:
                right += (pred.argmax(-1) == y).sum().item()
                loss += F.cross_entropy(pred.flatten(0, 1), y.flatten(), reduction="sum").item()
            total += y.numel()
        out = {"loss": loss / total}
        if self.kind != "adding":
            out["accuracy"] = right / total
        return out


class CharLMTask(Task):
    """Character-level language model on data.path/train.txt, evaluated on dev.txt (bits per char)."""

    tokenizer_file = "chars.txt"

    def __init__(self, cfg: Config):
        super().__init__(cfg)
        folder = Path(cfg.data.path)
        if not cfg.data.path or not (folder / "train.txt").exists():
            raise DataError(f"data.path {cfg.data.path!r}: expected a folder with train.txt and dev.txt "
                            "(rot90 data build text --corpus shakespeare)")
        train = (folder / "train.txt").read_text(encoding="utf-8")
        dev = (folder / "dev.txt").read_text(encoding="utf-8") if (folder / "dev.txt").exists() else train[-100_000:]
        self.tokenizer = CharTokenizer.train(train)
        self.vocab_hash = self.tokenizer.hash
        self.train_ids = torch.tensor(self.tokenizer.encode(train), dtype=torch.long)
        self.dev_ids = torch.tensor(self.tokenizer.encode(dev), dtype=torch.long)
        if len(self.dev_ids) <= cfg.data.length + 1:
            raise DataError(f"dev text shorter than one window of {cfg.data.length} characters")

    def build_model(self):
        return self._model(out=len(self.tokenizer), vocab=len(self.tokenizer))

    def plan(self, epoch: int) -> list[Tensor]:
        g = torch.Generator().manual_seed(self.cfg.train.seed * 1_000_003 + epoch)
        d = self.cfg.data
        starts = torch.randint(0, len(self.train_ids) - d.length - 1, (d.epoch_batches, d.batch_size), generator=g)
        return list(starts)

    def _windows(self, ids: Tensor, starts: Tensor) -> dict[str, Tensor]:
        idx = starts[:, None] + torch.arange(self.cfg.data.length + 1)
        w = ids[idx]  # (B, L + 1)
        return {"x": w[:, :-1], "y": w[:, 1:]}

    def make_batch(self, spec: Tensor, rank: int = 0, world: int = 1):
        return self._windows(self.train_ids, _share(spec, rank, world))

    def loss(self, model, batch):
        logits = model(batch["x"])
        return F.cross_entropy(logits.flatten(0, 1), batch["y"].flatten(), reduction="sum"), \
            torch.tensor(batch["y"].numel())

    @torch.no_grad()
    def evaluate(self, model, batches: int):
        d = self.cfg.data
        stride = max((len(self.dev_ids) - d.length - 1) // max(batches * d.batch_size, 1), 1)
        starts = torch.arange(0, len(self.dev_ids) - d.length - 1, stride)[: batches * d.batch_size]
        total, n = 0.0, 0
        for chunk in starts.split(d.batch_size):
            s, c = self.loss(model, self._windows(self.dev_ids, chunk))
            total, n = total + s.item(), n + int(c)
        return {"loss": total / n, "bits_per_char": total / n / math.log(2)}

    def save_assets(self, folder: Path):
        self.tokenizer.save(folder / self.tokenizer_file)


class ImageTask(Task):
    """Images classified along time or along depth: the rotation, on data.

    data.task: digits (scikit-learn's 8x8, 64 pixels) | fashion (Debian's Fashion-MNIST, 28x28, 784).
    model.axis: time (pixel by pixel, the class predicted at the last step) | depth (the image as a
    vector that starts the stream, model.layers blocks of model.rule update it).
    """

    def __init__(self, cfg: Config):
        super().__init__(cfg)
        from .data.images import as_sequence, as_vectors, digits, fashion_mnist

        if cfg.model.axis not in ("time", "depth"):
            raise ConfigError(f"model.axis: unknown {cfg.model.axis!r}; choose time or depth")
        d = digits(seed=cfg.train.seed) if cfg.data.task == "digits" else fashion_mnist()
        view = as_sequence if cfg.model.axis == "time" else as_vectors
        self.x, self.y = view(d.train_x), d.train_y
        self.test_x, self.test_y = view(d.test_x), d.test_y

    def build_model(self):
        m = self.cfg.model
        if m.axis == "depth":
            return DepthModel(m.rule, m.hidden, m.layers, out=10, inputs=self.x.shape[1])
        return self._model(out=10, input_dim=1)

    def plan(self, epoch: int) -> list[Tensor]:
        g = torch.Generator().manual_seed(self.cfg.train.seed * 1_000_003 + epoch)
        perm = torch.randperm(len(self.y), generator=g)
        b = self.cfg.data.batch_size
        return [perm[i:i + b] for i in range(0, len(perm) - b + 1, b)]

    def make_batch(self, spec, rank=0, world=1):
        idx = _share(spec, rank, world)
        return {"x": self.x[idx], "y": self.y[idx]}

    def _logits(self, model, x):
        out = model(x)
        return out[:, -1] if self.cfg.model.axis == "time" else out  # (B, 10)

    def loss(self, model, batch):
        return F.cross_entropy(self._logits(model, batch["x"]), batch["y"], reduction="sum"), \
            torch.tensor(len(batch["y"]))

    @torch.no_grad()
    def evaluate(self, model, batches: int):
        """The first batches * batch_size test images (all of digits' 360 by default), in batches."""
        n = min(len(self.test_y), batches * self.cfg.data.batch_size)
        logits = torch.cat([self._logits(model, x) for x in self.test_x[:n].split(self.cfg.data.batch_size)])
        y = self.test_y[:n]
        return {"loss": F.cross_entropy(logits, y).item(), "accuracy": (logits.argmax(-1) == y).float().mean().item()}


class TranslationTask(Task):
    """Sentence pairs from a corpus folder (train/dev/test.tsv) or generated numbers in words.

    One SentencePiece vocabulary for both sides, trained on the train split only; batches by
    token count with length bucketing (rot90.data.tokenize.TokenBatches).
    """

    tokenizer_file = "sentencepiece.model"

    def __init__(self, cfg: Config):
        super().__init__(cfg)
        from .data.io import corpus_split
        from .data.tasks import number_splits
        from .data.tokenize import SentencePiece, TokenBatches

        d = cfg.data
        if d.task == "numbers":
            splits = number_splits(d.lang, low=0, high=d.numbers_high, dev=200, test=200, seed=cfg.train.seed)
        else:
            found = {s: corpus_split(Path(d.path), s, d.src_lang, d.lang) for s in ("train", "dev", "test")} \
                if d.path and Path(d.path).is_dir() else {}
            if not found.get("train"):
                raise DataError(f"data.path {d.path!r}: expected a folder with train.tsv (rot90 data build "
                                f"translation) or train.{d.src_lang} + train.{d.lang} (data.src_lang, data.lang)")
            splits = {s: pairs for s, (pairs, _) in ((s, f) for s, f in found.items() if f)}
            if "dev" not in splits:
                warn(f"warning: {d.path} has no dev split: no dev metrics, and the export holds the last step")
        self.splits = splits
        if d.tokenizer:
            self.tokenizer = SentencePiece.load_checked(Path(d.tokenizer))
        else:
            self.tokenizer = SentencePiece.cached(splits["train"], vocab_size=d.vocab_size)
        self.vocab_hash = self.tokenizer.hash
        self.data = {s: self._encode(pairs) for s, pairs in splits.items()}
        self.batches = TokenBatches([max(len(a), len(b)) + 1 for a, b in self.data["train"]], d.batch_tokens,
                                    seed=cfg.train.seed)

    def _encode(self, pairs):
        keep = []
        for src, tgt in pairs:
            a, b = self.tokenizer.encode(src), self.tokenizer.encode(tgt)
            if 0 < len(a) <= self.cfg.data.max_len and 0 < len(b) <= self.cfg.data.max_len:
                keep.append((a, b))
        return keep

    def build_model(self):
        from .models import RecurrentSeq2Seq, Transformer

        m, v = self.cfg.model, len(self.tokenizer)
        if m.arch == "transformer":
            return Transformer(v, v, d=m.hidden, heads=m.heads, layers=m.layers, ff=4 * m.hidden, dropout=m.dropout,
                               tie_embeddings=True, max_len=max(2 * self.cfg.data.max_len + 20, 256))
        if m.arch != "rnn":
            raise ConfigError(f"model.arch: unknown {m.arch!r}; choose rnn or transformer")
        model = RecurrentSeq2Seq(v, v, rule=m.rule, hidden=m.hidden, layers=m.layers, embed=m.embed,
                                 attention=m.attention, input_feeding=m.input_feeding, residual=m.residual,
                                 residual_from=m.residual_from, bidirectional=m.bidirectional,
                                 reverse_source=m.reverse_source, dropout=m.dropout, tie_embeddings=m.tie_embeddings)
        if m.init_range > 0:
            for p in model.parameters():
                nn.init.uniform_(p, -m.init_range, m.init_range)
        return model

    def plan(self, epoch: int) -> list[list[int]]:
        return self.batches.batches(epoch)

    def collate(self, pairs) -> dict[str, Tensor]:
        from .data.tokenize import collate_pairs

        return collate_pairs(pairs)

    def make_batch(self, spec, rank=0, world=1):
        return self.collate([self.data["train"][i] for i in spec[rank::world]])

    def loss(self, model, batch):
        logits = model(batch["src"], batch["src_len"], batch["tgt_in"])
        total = F.cross_entropy(logits.flatten(0, 1).float(), batch["tgt_out"].flatten(), ignore_index=0,
                                reduction="sum", label_smoothing=self.cfg.optim.label_smoothing)
        return total, (batch["tgt_out"] != 0).sum()

    @torch.no_grad()
    def evaluate(self, model, batches: int):
        sacrebleu = need("sacrebleu", "nmt")

        from .models.search import greedy

        if not self.data.get("dev"):
            return {}  # no dev split: nothing to measure (said once, when the data was read)
        dev = self.data["dev"][: batches * 32]
        nll, n, hyps = 0.0, 0, []
        for i in range(0, len(dev), 32):
            b = self.collate(dev[i:i + 32])
            logits = model(b["src"], b["src_len"], b["tgt_in"])
            nll += F.cross_entropy(logits.flatten(0, 1), b["tgt_out"].flatten(), ignore_index=0,
                                   reduction="sum").item()
            n += int((b["tgt_out"] != 0).sum())
            hyps += [self.tokenizer.decode(h) for h in greedy(model, b["src"], b["src_len"])]
        refs = [self.tokenizer.decode(b) for _, b in dev]
        return {"loss": nll / n, "perplexity": math.exp(nll / n),
                "bleu": sacrebleu.corpus_bleu(hyps, [refs]).score, "chrf": sacrebleu.corpus_chrf(hyps, [refs]).score}

    def save_assets(self, folder: Path):
        self.tokenizer.save(folder / self.tokenizer_file)


TASKS = {"copy": MemoryTask, "adding": MemoryTask, "selective_copy": MemoryTask, "lm": CharLMTask,
         "digits": ImageTask, "fashion": ImageTask, "translate": TranslationTask, "numbers": TranslationTask}


def make_task(cfg: Config) -> Task:
    if cfg.data.task not in TASKS:
        raise ConfigError(f"data.task: unknown task {cfg.data.task!r}; choose one of {', '.join(TASKS)}")
    return TASKS[cfg.data.task](cfg)
