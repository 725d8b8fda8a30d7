"""Run configuration: one typed dataclass per part, read from TOML, overridden by --set.

    [data]  what batches are made of          [optim] how parameters move
    [model] what is trained                   [train] how long, how often, and the guard rails

Unknown keys are refused with the nearest valid key; values are checked against the field's
type. The resolved config is written into the run folder and compared on resume.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import inspect
import itertools
import json
import math
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

RECIPES = Path(__file__).with_name("configs")  # the shipped configs: `rot90 train recurrent-nmt` takes one by name


MAX_CONFIG = 1 << 20  # bytes: a config is a page of keys; /dev/zero or a FIFO is refused, not read for ever


class ConfigError(ValueError):
    """A config the user can fix: the message names the key and what is wrong."""


@dataclass
class DataConfig:
    task: str = "copy"  # copy | adding | selective_copy | lm | digits | fashion | translate | numbers
    length: int = 50  # memory tasks: the delay T; lm: context length in characters
    path: str = ""  # lm: train.txt, dev.txt; translate: {train,dev,test}.tsv or .{src_lang} + .{lang} files
    batch_size: int = 32  # global batch, split evenly over ranks
    symbols: int = 8  # memory tasks: how many distinct symbols
    k: int = 8  # copy / selective_copy: how many symbols to remember
    epoch_batches: int = 1000  # generated tasks: batches per epoch (an epoch is a resumable unit)
    workers: int = 0  # data-loader worker processes
    lang: str = "fr"  # numbers, translate: target language (code of the parallel files' target side)
    src_lang: str = "en"  # translate: source language code of parallel files (train.en + train.fr)
    tokenizer: str = ""  # translate/numbers: an existing SentencePiece model to use instead of training one
    train_file: str = ""  # translate: explicit paths instead of data.path: a .tsv file, or a prefix P read as
    dev_file: str = ""  # P.tsv, or P.{src_lang} + P.{lang} (fairseq's --trainpref); dev and test optional
    test_file: str = ""  # translate: the test split's file or prefix, as train_file (rot90 eval reads it)
    numbers_high: int = 9999  # numbers: the largest number in words
    vocab_size: int = 8000  # translate/numbers: joint SentencePiece vocabulary, trained on train only
    batch_tokens: int = 4096  # translate/numbers: tokens per global batch (padded), length-bucketed
    max_len: int = 100  # translate/numbers: longer pairs (in tokens) are left out of training
    image_size: int = 0  # digits/fashion: images resized to this many pixels a side (area averages); 0: native


@dataclass
class ModelConfig:
    rule: str = "lstm"  # any time-axis rule of rot90.RULES
    hidden: int = 64  # units per layer (the Transformer's d_model)
    layers: int = 1  # recurrent layers (seq2seq: in the encoder and in the decoder), blocks at depth
    residual: bool = False  # add each layer's input to its output (GNMT) from layer 1 up
    dropout: float = 0.0  # between layers and on embeddings and outputs
    attention: str = "none"  # seq2seq: none (the 2014 model) | dot | general (Luong 2015)
    input_feeding: bool = False  # seq2seq: feed the attentional vector back (sequential decoder)
    bidirectional: bool = False  # seq2seq: bidirectional bottom encoder layer
    bidirectional_layers: int = 1  # seq2seq with bidirectional: encoder layers that read both ways, from the bottom
    reverse_source: bool = False  # seq2seq: read the source backwards (Sutskever et al. 2014)
    embed: int = 0  # seq2seq: embedding size; 0 = hidden
    tie_embeddings: bool = False  # seq2seq (recurrent or Transformer): the output layer shares the target embedding
    residual_from: int = 1  # residual connections from this layer index up
    layer_norm: bool = False  # recurrent seq2seq: LayerNorm over each layer's input (pre-norm, outside the cell)
    arch: str = "rnn"  # translate/numbers: rnn (the rule above) | transformer (pre-LN, hidden = d_model)
    heads: int = 4  # transformer only
    axis: str = "time"  # digits/fashion: time (pixel by pixel) | depth (the image starts the stream)
    init_range: float = 0.0  # seq2seq: every weight uniform in [-r, r] (Sutskever et al.: 0.08); 0: modules' own
    chrono: int = 0  # gated rules: carries with time scales up to this many steps (Tallec & Ollivier 2018); 0: off
    carry: float = 0.0  # gated rules: every unit starts with carry f = carry, input gate 1 - carry; 0: the rule's own
    write: float = 0.0  # resnet: every block writes write * u (f = 1, i = write; rules.get_rule("resnet@C")); 0: i = 1
    gates: str = "state"  # lstm: "input" makes its gates i, f, o read only the input, as minLSTM's do, while the
    # candidate still reads the state (rules.LSTM_INPUT_GATES): what minLSTM loses by its gates alone
    init: str = "default"  # stream matrices U: default | orthogonal (gain 1) | identity (IRNN); state-reading rules;
    # at depth also scaled (U / sqrt(layers): the layers' writes sum to one's scale) | zero (resnet: blocks start as
    # the identity)
    tied: bool = False  # depth: one block's weights for every block, as one cell serves every step along time
    inject: bool = False  # depth: block k reads pixel k, as step k does along time; the stream starts at zero


@dataclass
class OptimConfig:
    name: str = "adamw"  # adamw | sgd
    lr: float = 1e-3  # the peak learning rate (after warm-up); rot90 lr-find suggests one
    weight_decay: float = 0.0  # decoupled (AdamW), or L2 for sgd
    momentum: float = 0.0  # sgd only
    clip: float = 1.0  # max gradient norm; 0 turns clipping off
    warmup: int = 0  # steps of linear warm-up
    schedule: str = "constant"  # constant | cosine (to 0 at train.steps or train.time_budget) | rsqrt | halving
    # | wsd: warm-up, stable, then linear to 0 over the last optim.decay of the run (at train.steps or the budget)
    # | range: the range test (rot90 lr-find), geometric from range_from at step 0 to lr at train.steps
    halve_after: int = 0  # halving: steps at full rate after warm-up (the 2014 paper: 5 epochs)
    halve_every: int = 0  # halving: the rate halves every this many steps from then on (0.5 epoch)
    range_from: float = 1e-6  # range: the learning rate the test starts from
    decay: float = 0.2  # wsd: the fraction of the run (after warm-up) over which the rate falls to 0
    beta2: float = 0.999  # adamw: the second moment's decay (Transformers often use 0.98)
    label_smoothing: float = 0.0  # translate/numbers


@dataclass
class TrainConfig:
    steps: int = 1000  # absolute: a resumed run stops at the same step
    seed: int = 0  # every random stream of the run (weights, batches, dropout) is derived from it
    log_every: int = 10  # updates between log lines when no terminal shows the progress bar
    eval_every: int = 200  # 0: never
    eval_batches: int = 10  # dev batches per evaluation (translation: 32 sentences each)
    checkpoint_every: int = 200  # updates between checkpoints (also written at each better dev metric and the end)
    keep: int = 3  # step checkpoints kept, besides best.pt (the best dev loss so far)
    patience: int = 0  # stop after this many evaluations without a better dev metric (select); 0: never
    select: str = "loss"  # the dev metric that picks the best checkpoint and the export: loss | bleu | chrf
    average_last: int = 0  # > 0: the export holds the mean weights of the last N checkpoints (keep >= N)
    choose_alpha: int = -1  # translate/numbers: dev sentences the export's length penalty is chosen on (the first N;
    # -1: the whole dev split; 0: none, alpha 0.6)
    time_budget: float = 0.0  # seconds of training (evaluation excluded), summed over sessions, then stop; 0: none
    max_nonfinite: int = 5  # consecutive skipped steps (non-finite loss or gradient) before aborting
    precision: str = "fp32"  # fp32 | bf16 (autocast, CPU or GPU) | fp16 (autocast + loss scaling, CUDA only)
    # | auto: bf16 where the device multiplies it natively (a GPU with bf16; a CPU with AMX or AVX512-BF16), else fp32
    device: str = "auto"  # auto (cuda when available) | cpu | cuda | cuda:N
    compile: bool = False  # torch.compile the model
    deterministic: bool = False  # torch.use_deterministic_algorithms
    nonfinite_at: list[int] = field(default_factory=list)  # fault injection: steps whose loss is made NaN


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


_CLASSES = {"data": DataConfig, "model": ModelConfig, "optim": OptimConfig, "train": TrainConfig}


def _check(value, tp, key: str):
    """value converted to type tp, or ConfigError naming key."""
    origin = typing.get_origin(tp)
    if origin is list:
        (item,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return [_check(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(tp):
            try:
                return _check(value, option, key)
            except ConfigError:
                continue
        raise ConfigError(f"{key}: {value!r} is not a {tp}")
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is type(None) and value is None:
        return None
    if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        raise ConfigError(f"{key}: expected {tp.__name__}, got {type(value).__name__} {value!r}")
    return value


def _unknown(key: str, valid: list[str]) -> ConfigError:
    near = difflib.get_close_matches(key, valid, n=1)
    return ConfigError(f"unknown key {key!r}" + (f" (did you mean {near[0]!r}?)" if near else
                                                 f"; valid keys: {', '.join(valid)}"))


def from_dict(raw: dict) -> Config:
    cfg = Config()
    for section, values in raw.items():
        if section not in _CLASSES:
            raise _unknown(section, list(_CLASSES))
        if not isinstance(values, dict):
            raise ConfigError(f"[{section}] must be a table of keys")
        part = getattr(cfg, section)
        hints = typing.get_type_hints(_CLASSES[section])
        for key, value in values.items():
            if key not in hints:
                raise _unknown(f"{section}.{key}", [f"{section}.{k}" for k in hints])
            setattr(part, key, _check(value, hints[key], f"{section}.{key}"))
    return validate(cfg)


# Ranges and choices, checked before anything is written: key -> (test, what it must be).
_finite = math.isfinite
RANGES = {
    **{f"data.{k}": (lambda v: v >= 1, ">= 1") for k in ("length", "batch_size", "symbols", "k", "vocab_size",
                                                          "batch_tokens", "max_len", "numbers_high")},
    "data.epoch_batches": (lambda v: 1 <= v <= 10**7, "in [1, 10^7] (an epoch's plan is a list of that length)"),
    "data.workers": (lambda v: v >= 0, ">= 0"),
    **{f"model.{k}": (lambda v: v >= 1, ">= 1") for k in ("hidden", "heads", "bidirectional_layers")},
    "model.layers": (lambda v: 0 <= v <= 10**4, "in [0, 10^4] (0: a depth stack of no blocks, the linear classifier)"),
    "model.carry": (lambda v: 0 <= v < 1, "in [0, 1) (0: the rule's own; a carry of 1 is model.rule=resnet)"),
    "model.write": (lambda v: 0 <= v <= 1, "in [0, 1] (0: the rule's own write scale, 1)"),
    "model.gates": (lambda v: v in ("state", "input"), "state or input"),
    "model.init": (lambda v: v in ("default", "orthogonal", "identity", "scaled", "zero"),
                   "default, orthogonal, identity, scaled or zero"),
    "data.image_size": (lambda v: 0 <= v <= 256, "in [0, 256] (0: native; the images are 8 or 28 pixels a side)"),
    "train.seed": (lambda v: 0 <= v < 2**40, "in [0, 2^40) (each random stream's seed is derived from it)"),
    **{f"model.{k}": (lambda v: v >= 0, ">= 0") for k in ("embed", "residual_from", "chrono")},
    "model.dropout": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "model.init_range": (lambda v: _finite(v) and v >= 0, "finite and >= 0"),
    "model.attention": (lambda v: v in ("none", "dot", "general"), "none, dot or general"),
    "model.arch": (lambda v: v in ("rnn", "transformer"), "rnn or transformer"),
    "model.axis": (lambda v: v in ("time", "depth"), "time or depth"),
    "optim.name": (lambda v: v in ("adamw", "sgd"), "adamw or sgd"),
    "optim.schedule": (lambda v: v in ("constant", "cosine", "rsqrt", "halving", "range", "wsd"),
                       "constant, cosine, rsqrt, halving, range or wsd"),
    "optim.decay": (lambda v: 0 <= v <= 1, "in [0, 1]"),
    "optim.beta2": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "optim.range_from": (lambda v: _finite(v) and v > 0, "finite and > 0"),
    "optim.lr": (lambda v: _finite(v) and v >= 0, "finite and >= 0"),
    **{f"optim.{k}": (lambda v: _finite(v) and v >= 0, "finite and >= 0") for k in ("weight_decay", "clip")},
    "optim.momentum": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "optim.label_smoothing": (lambda v: 0 <= v < 1, "in [0, 1)"),
    **{f"optim.{k}": (lambda v: v >= 0, ">= 0") for k in ("warmup", "halve_after", "halve_every")},
    **{f"train.{k}": (lambda v: v >= 1, ">= 1") for k in ("steps", "log_every", "eval_batches", "checkpoint_every",
                                                           "keep", "max_nonfinite")},
    **{f"train.{k}": (lambda v: v >= 0, ">= 0") for k in ("eval_every", "patience", "average_last")},
    "train.choose_alpha": (lambda v: v >= -1, ">= -1 (-1: the whole dev split)"),
    "train.time_budget": (lambda v: _finite(v) and v >= 0, "finite and >= 0"),
    "train.precision": (lambda v: v in ("fp32", "bf16", "fp16", "auto"), "fp32, bf16, fp16 or auto"),
    "train.select": (lambda v: v in ("loss", "bleu", "chrf"), "loss, bleu or chrf"),
}
TASKS = ("copy", "adding", "selective_copy", "lm", "digits", "fashion", "translate", "numbers")
TRANSLATION_TASKS = ("translate", "numbers")
MEMORY_TASKS = ("copy", "adding", "selective_copy")
IMAGE_TASKS = ("digits", "fashion")


def _where(c: Config) -> dict[str, bool]:
    """Which model family and task a config builds: what decides whether a key has an effect."""
    depth = c.data.task in IMAGE_TASKS and c.model.axis == "depth"
    return {"seq2seq": c.data.task in TRANSLATION_TASKS, "image": c.data.task in IMAGE_TASKS, "depth": depth,
            "rnn": c.model.arch == "rnn" and not depth, "transformer": c.model.arch == "transformer" and not depth,
            "memory": c.data.task in MEMORY_TASKS, "lm": c.data.task == "lm"}


# Keys that only some families read: key -> (reads it?, who does). A value other than the default on a config
# that does not read it is an error, not a silence.
EFFECT = {
    "model.heads": (lambda w, c: w["transformer"], "a Transformer (model.arch=transformer)"),
    "model.rule": (lambda w, c: not w["transformer"], "recurrent and depth models, not a Transformer"),
    "model.residual": (lambda w, c: w["rnn"], "recurrent models (model.arch=rnn, not at depth)"),
    "model.residual_from": (lambda w, c: w["seq2seq"] and w["rnn"] and c.model.residual,
                            "a recurrent seq2seq model with model.residual=true"),
    "model.bidirectional_layers": (lambda w, c: w["seq2seq"] and w["rnn"] and c.model.bidirectional,
                                   "a recurrent seq2seq model with model.bidirectional=true"),
    **{f"model.{k}": (lambda w, c: w["seq2seq"] and w["rnn"], "a recurrent seq2seq model (data.task=translate "
                      "or numbers, model.arch=rnn)")
       for k in ("attention", "input_feeding", "bidirectional", "reverse_source", "embed", "init_range",
                 "layer_norm")},
    "model.tie_embeddings": (lambda w, c: w["seq2seq"], "seq2seq models (data.task=translate or numbers)"),
    "model.arch": (lambda w, c: not w["depth"], "sequence models, not a depth stack (model.axis=depth)"),
    "model.axis": (lambda w, c: w["image"], "the image tasks (data.task=digits or fashion)"),
    **{f"model.{k}": (lambda w, c: (w["rnn"] and not w["seq2seq"]) or w["depth"],
                      "a recurrent model along time (not seq2seq) or a depth stack")
       for k in ("chrono", "carry", "init", "write")},
    **{f"model.{k}": (lambda w, c: w["depth"], "a depth stack (data.task=digits or fashion, model.axis=depth)")
       for k in ("tied", "inject")},
    "data.image_size": (lambda w, c: w["image"], "the image tasks (data.task=digits or fashion)"),
    "data.length": (lambda w, c: w["memory"] or w["lm"], "the memory tasks and lm"),
    **{f"data.{k}": (lambda w, c: c.data.task in ("copy", "selective_copy"), "copy and selective_copy")
       for k in ("k", "symbols")},
    "data.epoch_batches": (lambda w, c: w["memory"] or w["lm"], "the memory tasks and lm"),
    "data.path": (lambda w, c: c.data.task in ("lm", "translate"), "lm and translate"),
    "data.batch_size": (lambda w, c: not w["seq2seq"], "every task but translate and numbers (data.batch_tokens)"),
    **{f"data.{k}": (lambda w, c: w["seq2seq"], "translate and numbers")
       for k in ("lang", "vocab_size", "batch_tokens", "max_len", "tokenizer")},
    **{f"data.{k}": (lambda w, c: c.data.task == "translate", "translate")
       for k in ("src_lang", "train_file", "dev_file", "test_file")},
    "data.numbers_high": (lambda w, c: c.data.task == "numbers", "numbers"),
    "train.choose_alpha": (lambda w, c: w["seq2seq"], "translate and numbers"),
    "optim.momentum": (lambda w, c: c.optim.name == "sgd", "optim.name=sgd"),
    **{f"optim.{k}": (lambda w, c: c.optim.schedule == "halving", "optim.schedule=halving")
       for k in ("halve_after", "halve_every")},
    "optim.label_smoothing": (lambda w, c: w["seq2seq"], "translate and numbers"),
    "optim.range_from": (lambda w, c: c.optim.schedule == "range", "optim.schedule=range"),
    "optim.decay": (lambda w, c: c.optim.schedule == "wsd", "optim.schedule=wsd"),
    "optim.beta2": (lambda w, c: c.optim.name == "adamw", "optim.name=adamw"),
}


def validate(cfg: Config) -> Config:
    """Every value in its range and every choice among its options, or ConfigError naming the key."""
    if cfg.data.task not in TASKS:
        raise ConfigError(f"data.task: unknown task {cfg.data.task!r}; choose one of {', '.join(TASKS)}")
    for name, (ok, what) in RANGES.items():
        section, key = name.split(".")
        value = getattr(getattr(cfg, section), key)
        if not ok(value):
            raise ConfigError(f"{name}={value!r}: must be {what}")
    where, default = _where(cfg), Config()
    for name, (reads, who) in EFFECT.items():
        section, key = name.split(".")
        value = getattr(getattr(cfg, section), key)
        if value != getattr(getattr(default, section), key) and not reads(where, cfg):
            raise ConfigError(f"{name}={value!r} has no effect here: only {who} read it "
                              f"(data.task={cfg.data.task}, model.arch={cfg.model.arch})")
    from .init import CARRY_RULES
    from .rules import RULES

    if cfg.model.rule not in RULES:
        raise ConfigError(f"model.rule: unknown rule {cfg.model.rule!r}; choose one of {', '.join(RULES)}")

    for key in ("chrono", "carry"):
        if getattr(cfg.model, key) and cfg.model.rule not in CARRY_RULES:
            raise ConfigError(f"model.{key}: sets the initial carry of a gated rule ({', '.join(CARRY_RULES)}); "
                              f"model.rule is {cfg.model.rule}")
    if cfg.optim.schedule == "range" and not cfg.optim.lr > cfg.optim.range_from:
        raise ConfigError(f"optim.schedule=range rises from optim.range_from={cfg.optim.range_from:g} to optim.lr="
                          f"{cfg.optim.lr:g}: optim.lr must be the larger")
    if cfg.model.chrono and cfg.model.carry:
        raise ConfigError("model.chrono and model.carry both set the initial carry: choose one")
    if cfg.model.init != "default" and cfg.model.rule in RULES and not RULES[cfg.model.rule].reads_state:
        raise ConfigError(f"model.init={cfg.model.init}: {cfg.model.rule} has no stream matrix (its gates read "
                          "only the input)")
    if cfg.model.init in ("scaled", "zero") and not _where(cfg)["depth"]:
        raise ConfigError(f"model.init={cfg.model.init}: a depth stack's initialisation (model.axis=depth)")
    if cfg.model.write and cfg.model.rule != "resnet":
        raise ConfigError(f"model.write={cfg.model.write:g}: the resnet rule's write scale (model.rule is "
                          f"{cfg.model.rule}; a gated rule's starts at 1 - model.carry)")
    if cfg.model.gates != "state" and cfg.model.rule != "lstm":
        raise ConfigError(f"model.gates={cfg.model.gates}: where the LSTM's gates read from (model.rule is "
                          f"{cfg.model.rule}; minlstm and mingru read only the input already)")
    if cfg.model.gates == "input" and (cfg.model.carry or cfg.model.chrono):
        raise ConfigError("model.gates=input with model.carry / model.chrono: the initial carry is set for the LSTM's "
                          "own gates only")
    if cfg.model.gates == "input" and _where(cfg)["depth"] and not cfg.model.inject:
        raise ConfigError("model.gates=input at depth needs model.inject=true: gates that read only the input need "
                          "an input at every block")
    if cfg.model.init == "zero" and cfg.model.rule != "resnet":
        raise ConfigError(f"model.init=zero starts every block as the identity: the resnet rule's (model.rule is "
                          f"{cfg.model.rule}; a gated rule starts near it with model.carry)")
    if (cfg.model.tied or cfg.model.inject) and cfg.model.layers == 0:
        raise ConfigError("model.tied / model.inject: the linear classifier (model.layers=0) has no blocks")
    if cfg.model.layers == 0 and not _where(cfg)["depth"]:
        raise ConfigError("model.layers=0: only a depth stack (model.axis=depth) can have no blocks")
    if cfg.train.average_last > cfg.train.keep:
        raise ConfigError(f"train.average_last={cfg.train.average_last}: more than the train.keep="
                          f"{cfg.train.keep} checkpoints that are kept")
    if cfg.train.average_last > -(-cfg.train.steps // cfg.train.checkpoint_every) and not cfg.train.time_budget:
        raise ConfigError(f"train.average_last={cfg.train.average_last}: a run of train.steps={cfg.train.steps} "
                          f"writes {-(-cfg.train.steps // cfg.train.checkpoint_every)} checkpoints "
                          f"(train.checkpoint_every={cfg.train.checkpoint_every})")
    if cfg.train.patience and not cfg.train.eval_every:
        raise ConfigError(f"train.patience={cfg.train.patience} has no effect without evaluations: set "
                          "train.eval_every")
    seq2seq_layers = cfg.model.layers if _where(cfg)["seq2seq"] and cfg.model.arch == "rnn" else None
    if cfg.model.residual and seq2seq_layers is not None and cfg.model.residual_from >= seq2seq_layers:
        raise ConfigError(f"model.residual_from={cfg.model.residual_from}: the stack has layers 0 .. "
                          f"{seq2seq_layers - 1}, so no residual connection would be made")
    if cfg.model.bidirectional and seq2seq_layers is not None and cfg.model.bidirectional_layers > seq2seq_layers:
        raise ConfigError(f"model.bidirectional_layers={cfg.model.bidirectional_layers}: the encoder has "
                          f"model.layers={seq2seq_layers}")
    if cfg.train.select != "loss" and cfg.data.task not in TRANSLATION_TASKS:
        raise ConfigError(f"train.select={cfg.train.select}: a translation metric; data.task={cfg.data.task} "
                          "is measured by its loss (train.select=loss)")
    return cfg


def parse_override(item: str) -> tuple[str, str, object]:
    """'model.hidden=128' -> ('model', 'hidden', 128); the value is read as TOML, else as a string."""
    if "\n" in item or "\r" in item:
        raise ConfigError(f"--set {item!r}: one assignment per --set, on one line")
    if "=" not in item or "." not in item.split("=", 1)[0]:
        raise ConfigError(f"--set {item!r}: expected section.key=value, e.g. model.hidden=128")
    path, text = item.split("=", 1)
    section, key = path.split(".", 1)
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text
    return section.strip(), key.strip(), value


def load(path: str | Path | None, overrides: list[str] = ()) -> Config:
    """The config in a TOML file (or the defaults when None), with section.key=value overrides applied."""
    raw: dict = {}
    if path is not None:
        path = Path(path)
        if not path.exists() and path.suffix == "" and (RECIPES / f"{path}.toml").exists():
            path = RECIPES / f"{path}.toml"  # a shipped recipe, by name
        if not path.exists():
            raise ConfigError(f"{path}: no such config file (nor a shipped recipe: {', '.join(recipes())})")
        if not path.is_file() or path.stat().st_size > MAX_CONFIG:
            raise ConfigError(f"{path}: not a config file (a regular file of at most {MAX_CONFIG >> 10} KiB)")
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"{path}: not valid TOML: {e}") from None
    for item in overrides:
        section, key, value = parse_override(item)
        if not isinstance(raw.setdefault(section, {}), dict):
            raise ConfigError(f"--set {item}: [{section}] in {path} is not a table of keys")
        raw[section][key] = value
    return from_dict(raw)


def recipes() -> list[str]:
    """The names of the shipped configs."""
    return sorted(p.stem for p in RECIPES.glob("*.toml"))


def recipe_summary(name: str, width: int = 100) -> str:
    """A shipped config's opening comment, what it is for, cut to one line of at most `width` characters."""
    lines = (RECIPES / f"{name}.toml").read_text(encoding="utf-8").split("\n")
    comment = " ".join(line.lstrip("# ").strip() for line in itertools.takewhile(lambda x: x.startswith("#"), lines))
    return comment if len(comment) <= width else comment[:width - 1].rsplit(" ", 1)[0] + " …"


PATHS = ("data.path", "data.train_file", "data.dev_file", "data.test_file", "data.tokenizer")


def absolute_paths(cfg: Config) -> Config:
    """A copy of cfg with its file and folder keys (PATHS) made absolute, against the current folder."""
    cfg = copy.deepcopy(cfg)
    for name in PATHS:
        section, key = name.split(".")
        if value := getattr(getattr(cfg, section), key):
            setattr(getattr(cfg, section), key, str(Path(value).expanduser().absolute()))
    return cfg


def differences(a: dict, b: dict, ignore: tuple[str, ...] = ()) -> list[str]:
    """'section.key: a -> b' for every key that differs, except those in ignore.

    A key one side lacks counts as its default: a run saved before a key existed still resumes. A path
    (PATHS) recorded relative by an earlier version equals its absolute form, from the current folder.
    """
    defaults, out = Config().to_dict(), []
    for section in a.keys() | b.keys():
        for key in (a.get(section, {}).keys() | b.get(section, {}).keys()):
            name, default = f"{section}.{key}", defaults.get(section, {}).get(key)
            va, vb = a.get(section, {}).get(key, default), b.get(section, {}).get(key, default)
            if name in PATHS and va and vb and Path(va).expanduser().absolute() == Path(vb).expanduser().absolute():
                continue
            if name not in ignore and va != vb:
                out.append(f"{name}: {va!r} -> {vb!r}")
    return sorted(out)


def to_toml(cfg: Config) -> str:
    """The config as TOML that `load` reads back to an equal config (every key, defaults included)."""
    def value(v) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v, ensure_ascii=False)  # a JSON string is a TOML basic string
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return repr(v)  # int, float (inf and nan as TOML writes them)

    out = []
    for section, values in cfg.to_dict().items():
        out += [f"[{section}]", *(f"{k} = {value(v)}" for k, v in values.items()), ""]
    return "\n".join(out)


def reference() -> list[dict]:
    """Every config key: its type, default, allowed values, which models and tasks read it, and what it does (the
    comment beside its field above): the rows of `rot90 configs --keys` and docs/reference/config.md."""
    rows = []
    for section, cls in _CLASSES.items():
        comments = {}
        for line in inspect.getsource(cls).splitlines():
            m = re.match(r"\s+(\w+): [^=]+= .*?(?:#\s*(.*))?$", line)
            if m:
                comments[m.group(1)] = m.group(2) or ""
        hints, default = typing.get_type_hints(cls), cls()
        for f in dataclasses.fields(cls):
            key = f"{section}.{f.name}"
            tp = hints[f.name]
            rows.append({"key": key, "type": getattr(tp, "__name__", str(tp)), "default": getattr(default, f.name),
                         "allowed": RANGES[key][1] if key in RANGES else ("a task name: " + ", ".join(TASKS)
                                                                          if key == "data.task" else ""),
                         "read by": EFFECT[key][1] if key in EFFECT else "every config",
                         "about": comments.get(f.name, "")})
    return rows
