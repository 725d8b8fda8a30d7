"""The experiments of `rot90 experiment NAME`: their groups, each group's question, and its runs.

A run is a shipped config (rot90/configs/CONFIG.toml) plus overrides; a group is runs that answer one question
together (one table, one figure). What is here is data: rot90.experiments trains the runs and reports them.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, replace

from ..config import RECIPES
from ..rules import RULES
from . import ownrate

CONFIGS = RECIPES  # the shipped configs, inside the package


@dataclass(frozen=True)
class Run:
    name: str  # folder under OUT/NAME, label in tables and figures
    config: str  # a shipped config, configs/CONFIG.toml; "" for the defaults (the demo's runs, from a wheel too)
    overrides: tuple[str, ...] = ()
    params: int = 0  # when set (and not --quick): model.hidden chosen for about this many parameters
    match: tuple[str, ...] = ()  # or: model.hidden chosen for the parameters of the run with these overrides
    match_config: str = ""  # ... of this config with match's overrides alone (another model family); "": this run's
    body: bool = False  # match the parameters outside the embeddings (which grow with the width too), not all


@dataclass(frozen=True)
class Group:
    title: str
    about: str  # the question and the setting, for the report
    metric: str  # the dev metric reported and plotted: accuracy | loss | bits_per_char | bleu | perplexity
    runs: tuple[Run, ...]
    quick: tuple[str, ...] = ()  # overrides that shrink every run to seconds (the test suite)
    x: str = "step"  # learning curves against "step" or "seconds" (equal wall-clock comparisons)
    test: bool = False  # translation: also BLEU/chrF/speed on the test split, beam 5
    curve: str = ""  # the metrics.jsonl key plotted; default dev_METRIC ("loss": the training loss)
    gradients: bool = False  # images: also |d loss / d stream| against distance, at initialisation and trained
    kind: str = ""  # "rotation" | "carry" | "arms": the controlled experiments' tables and figures (rot90.controlled)
    reach: float = 0.0  # > 0: the table also gives the updates until the dev metric first reaches this value
    baseline: str = ""  # a run's name: every other run is compared with it seed by seed (test BLEU and chrF)
    flops: bool = False  # translation: FLOPs per target token (counted), achieved FLOP/s, curves against tokens too
    paired_dev: str = ""  # ... and on this dev metric of the last evaluation ("loss": better low); a group whose
    # train.eval_batches covers the dev split decides on the whole of it (docs/protocols.md)


def _grid(config: str, base: tuple[str, ...], prefix: str = "", **axes: list) -> tuple[Run, ...]:
    """Runs over the product of override axes, named by what varies: "copy,rule=minlstm,layers=2"."""
    runs = [Run(prefix, config, base)]
    for key, values in axes.items():
        section = "data" if key == "length" else "model"
        runs = [Run(f"{r.name},{key}={str(v).lower()}".lstrip(","), config,
                    r.overrides + (f"{section}.{key}={str(v).lower()}",)) for r in runs for v in values]
    return tuple(runs)


_MEMORY_QUICK = ("data.length=12", "data.k=3", "data.batch_size=8", "model.hidden=16", "train.steps=6",
                 "train.eval_every=3", "train.eval_batches=1", "train.checkpoint_every=3")
_LM_QUICK = ("data.length=16", "data.batch_size=4", "model.hidden=16", "model.layers=1", "train.time_budget=0",
             "train.steps=4", "train.eval_every=2", "train.eval_batches=1", "data.workers=0")
_MT_QUICK = ("data.task=numbers", "data.path=", "data.numbers_high=999", "data.vocab_size=100", "data.batch_tokens=256",
             "model.hidden=16", "train.time_budget=0", "train.steps=4", "train.eval_every=2", "train.eval_batches=1")
_IMAGES_QUICK = ("data.task=digits", "data.batch_size=8", "model.hidden=16", "train.time_budget=0", "train.steps=4",
                 "train.eval_every=2", "train.eval_batches=1")
# Equal wall-clock: evaluation only at the end, so that no model's budget goes to evaluating.
_BUDGET = ("train.time_budget=1200", "train.steps=1000000", "train.eval_every=0", "train.eval_batches=10")
_STEPS = ("train.time_budget=0", "train.steps=1000", "train.eval_every=250", "train.eval_batches=20")
PROBE = 128  # images the gradient-flow curves are measured on
_PIXELS = ("model.axis=time", "model.layers=1", "model.hidden=64", *_STEPS)  # gradient-flow along time
_LM_BUDGET = ("train.time_budget=600", "train.steps=1000000", "train.eval_every=250", "train.eval_batches=10")
# The recipe search: a budget in updates (so that rows may share a machine), each row one change.
_RECIPE_ROWS = (("lr=1e-3", "optim.lr=1e-3"), ("lr=3e-3", "optim.lr=3e-3"), ("lr=1.6e-2", "optim.lr=1.6e-2"),
                ("schedule=constant", "optim.schedule=constant"),
                ("batch=2048,updates=1200", "data.batch_tokens=2048", "train.steps=1200", "train.eval_every=300",
                 "train.checkpoint_every=300"),
                ("input_feeding=true", "model.input_feeding=true"),
                ("tie_embeddings=false", "model.tie_embeddings=false"),
                ("label_smoothing=0", "optim.label_smoothing=0"), ("dropout=0.3", "model.dropout=0.3"),
                ("attention=dot", "model.attention=dot"), ("layer_norm=true", "model.layer_norm=true"),
                ("rule=minlstm", "model.rule=minlstm"))
# Why OpenNMT-py's attention LSTM learned more per token (issue 34; scripts/peer-opennmt): its recipe differs from
# rot90's in a few places, each a row here, at the tokens both made in 20 minutes on one thread (800-900 updates of
# 4096 target tokens), a budget in updates so that two rows may share the machine (one thread each).
_PEER_BUDGET = ("train.steps=800", "train.eval_every=200", "train.checkpoint_every=200", "train.eval_batches=10")
_PEER_ROWS = (("800,recipe",), ("800,bidirectional_layers=2", "model.bidirectional_layers=2"),
              ("800,schedule=rsqrt", "optim.schedule=rsqrt"), ("800,init_range=0.1", "model.init_range=0.1"),
              ("800,clip=5", "optim.clip=5"), ("800,precision=bf16", "train.precision=bf16"))
# The same differences on the recipe as the peer comparison trains it (--precision auto: bf16 on a CPU with AMX),
# paired with the bf16 row above (the same run, read back): a row trains in half the time of its fp32 twin.
_BF16_ROWS = (("800,precision=bf16", "train.precision=bf16"),
              *((f"800,bf16,{name[4:]}", "train.precision=bf16", *overrides)
                for name, *overrides in _PEER_ROWS[1:5]))
# The Transformer beside it gets a search too, at the LSTM's parameter count and the same 600 updates: the schedule
# it first shipped with (_RSQRT: 300 warm-up updates, then 1/sqrt(step)) against the recurrent recipe's warm-up and
# cosine, at rates up to the LSTM's. Without it a controlled table would compare a searched recipe with an unsearched
# one. configs/transformer.toml now ships the winner; _RSQRT stays pinned in the runs that measured the first recipe.
_RSQRT = ("optim.schedule=rsqrt", "optim.warmup=300", "optim.lr=1e-3")
_COSINE = ("optim.schedule=cosine", "optim.warmup=100")
_TRANSFORMER_ROWS = (("transformer", *_RSQRT), ("transformer,cosine", *_COSINE, "optim.lr=1e-3"),
                     *((f"transformer,cosine,lr={lr}", *_COSINE, f"optim.lr={lr}") for lr in ("2e-3", "4e-3", "8e-3")))

# The rotation, controlled: Fashion-MNIST at K = 100 (10x10 images: 100 pixels along time, 100 blocks along depth)
# and at K = 784 (28x28). Every run evaluated once, at its end, on all 10,000 test images (157 batches of 64).
_RULES = tuple(RULES)
_IMAGE = {100: ("data.image_size=10", "train.checkpoint_every=250"), 784: ("train.checkpoint_every=100",)}
_UPDATES = {"rotation": {100: 1000, 784: 200}, "carry": {100: 500, 784: 200}}
_FULL_TEST = ("train.time_budget=0", "train.eval_batches=157", "data.batch_size=64")


# configs/recurrent-nmt.toml trains in bf16 where the machine has it natively (train.precision = "auto") with both
# encoder layers bidirectional (model.bidirectional_layers = 2), both adopted 2026-12-04; every experiment below
# measured the recipe before them and keeps doing so, so that a rerun repeats its numbers.
_MEASURED = ("train.precision=fp32", "model.bidirectional_layers=1")
_LSTM_AS_MEASURED = ("model.rule=lstm", "model.bidirectional_layers=1")  # a Transformer's parameter budget


# Issue 33's isolated contrasts on the corpus: the recipe as shipped, 600 updates (a budget in updates, so that runs
# may share the machine), evaluated every 100 on the whole dev split (1,678 pairs: 53 batches of 32), test BLEU
# and chrF with beam 5; each row paired with the first by seed, on test scores and on whole-dev loss.
_ISOLATED = ("train.steps=600", "train.eval_every=100", "train.checkpoint_every=100", "train.eval_batches=53")
_CELL_ROWS = (("lstm",), ("minlstm", "model.rule=minlstm"),
              ("lstm,gates=input", "model.gates=input"))
_CONTRAST_RUNS = (
    *(Run(name, "recurrent-nmt", (*_ISOLATED, *overrides)) for name, *overrides in _CELL_ROWS),
    Run("minlstm,wider", "recurrent-nmt", (*_ISOLATED, "model.rule=minlstm"), match=("model.rule=lstm",), body=True),
    Run("minlstm,deeper", "recurrent-nmt", (*_ISOLATED, "model.rule=minlstm", "model.layers=5", "model.residual=true")))
# Sutskever et al.'s model (4 layers, no attention, one direction) with the recipe that trains it (AdamW 8e-3, a
# cosine, label smoothing, dropout): the 2014 recipe's SGD learned nothing in 600 s (docs/results.md section 4).
_MODEL_2014 = ("model.layers=4", "model.attention=none", "model.bidirectional=false",
               "model.bidirectional_layers=1")


# Issue 33, deliverable 1: the LSTM against the Transformer at 20 minutes (docs/protocols.md). Every run alone on the
# machine with 2 threads, bf16 where the CPU has it, 1,200 s of training; every 200 updates the whole dev split
# (loss, greedy BLEU: not counted in the budget), which decides sizes and recipes; test BLEU/chrF with beam 5.
_DUEL = ("train.time_budget=1200", "train.steps=1000000", "train.eval_every=200", "train.eval_batches=53",
         "train.checkpoint_every=200", "train.precision=auto")
_SIZES = {"transformer": {f"d={d},layers={n}": (f"model.hidden={d}", f"model.layers={n}")
                          for d in (192, 256, 320) for n in (2, 3)},
          "lstm": {f"width={w}": (f"model.hidden={w}",) for w in (256, 384)}}  # name -> overrides
_RATE = {"transformer": 2e-3, "lstm": 8e-3}  # each arm's current peak rate; stage B tries 1/2, 1 and 2 times it
_SHAPES = {"cosine": ("optim.schedule=cosine",), "wsd0.2": ("optim.schedule=wsd", "optim.decay=0.2"),
           "wsd0.5": ("optim.schedule=wsd", "optim.decay=0.5")}  # cosine to the budget; stable then a linear decay


def _recipe_name(arm: str, rate: float, warmup: int, shape: str, beta2: float) -> str:
    return f"lr={rate:g},warmup={warmup},{shape}" + (f",b2={beta2:g}" if arm == "transformer" else "")


def _trials(arm: str) -> tuple[tuple, ...]:
    """Stage B's 9 recipes of an arm: its current one, then the first 8 others of the grid (peak rate x warm-up x
    schedule shape, x beta2 for the Transformer, in that order) as random.Random(33).sample orders it."""
    rate = _RATE[arm]
    grid = list(itertools.product((rate / 2, rate, 2 * rate), (100, 400), tuple(_SHAPES),
                                  (0.98, 0.999) if arm == "transformer" else (0.999,)))
    current = (rate, 100, "cosine", 0.999)
    return (current, *[r for r in random.Random(33).sample(grid, len(grid)) if r != current][:8])


def _duel_run(arm: str, size: str, recipe: tuple) -> Run:
    rate, warmup, shape, beta2 = recipe
    return Run(f"{arm},{size},{_recipe_name(arm, *recipe)}", "recurrent-nmt" if arm == "lstm" else "transformer",
               (*_DUEL, *_SIZES[arm][size], f"optim.lr={rate:g}", f"optim.warmup={warmup}", *_SHAPES[shape],
                f"optim.beta2={beta2:g}"))


def _translation_cells(minutes: int) -> tuple[Run, ...]:
    """The controlled translation comparison: one recipe, four cells, and a Transformer of the LSTM's size."""
    budget = (f"train.time_budget={60 * minutes}", "train.steps=1000000", "train.eval_every=200",
              "train.eval_batches=10", "train.checkpoint_every=200")
    return (tuple(Run(f"{rule},{minutes}min", "recurrent-nmt", (*_MEASURED, f"model.rule={rule}", *budget))
                  for rule in ("lstm", "gru", "minlstm", "mingru"))
            + (Run(f"transformer,{minutes}min", "transformer", budget, match=_LSTM_AS_MEASURED,
                   match_config="recurrent-nmt"),))


def _matched(experiment: str, K: int, axis: str, name: str, *overrides: str) -> Run:
    """A run of K blocks or K steps whose width gives the parameters of the plain rule at width 64 on its axis."""
    steps = _UPDATES[experiment][K]
    return Run(f"k{K},{axis},{name}", "fashion",
               (*_IMAGE[K], *_FULL_TEST, f"train.steps={steps}", f"train.eval_every={steps}", f"model.axis={axis}",
                f"model.layers={K if axis == 'depth' else 1}", *overrides),
               match=("model.rule=plain", "model.init=default", "model.carry=0", "model.chrono=0", "model.write=0",
                      "model.hidden=64"))


def _rotation(K: int) -> tuple[Run, ...]:
    rules = tuple(_matched("rotation", K, a, f"rule={r}", f"model.rule={r}") for a in ("depth", "time")
                  for r in _RULES)
    baselines = tuple(_matched("rotation", K, a, f"rule=plain,init={i}", "model.rule=plain", f"model.init={i}")
                      for a in ("depth", "time") for i in ("orthogonal", "identity"))
    linear = _matched("rotation", K, "depth", "", "model.layers=0", "model.hidden=64")
    return (*rules, *baselines, replace(linear, name=f"k{K},linear", match=()))


# The carry as the variable: each unit starts with f = f0, i = 1 - f0; chrono draws f0 per unit with time scales
# up to K; f = 1 is the resnet rule (no gate) on either axis.
_CARRIES = ("0.5", "0.73", "0.88", "0.98", "chrono")
_CARRY_RULES = (("depth", "highway"), ("depth", "minlstm"), ("time", "lstm"), ("time", "minlstm"))


def _carry(K: int) -> tuple[Run, ...]:
    gated = tuple(_matched("carry", K, a, f"rule={r},f0={f}", f"model.rule={r}",
                           f"model.chrono={K}" if f == "chrono" else f"model.carry={f}")
                  for a, r in _CARRY_RULES for f in _CARRIES)
    # f = 1 at a gated rule's write scale (issue 33): i = 1 - 0.98, as the f0 = 0.98 column starts, and 1/sqrt(K)
    written = tuple(_matched("carry", K, a, f"rule=resnet,f0=1,i={i:.3g}", "model.rule=resnet", f"model.write={i:.3g}")
                    for a in ("depth", "time") for i in (0.02, K ** -0.5))
    return (*gated, *(_matched("carry", K, a, "rule=resnet,f0=1", "model.rule=resnet") for a in ("depth", "time")),
            *written)


# --quick: digits at 4x4 (16 pixels), width 8, 4 updates; depth stacks keep their K blocks
_CONTROLLED_QUICK = (*_IMAGES_QUICK, "model.hidden=8", "train.eval_every=4", "data.image_size=4")
_ROTATION_ABOUT = (
    "Fashion-MNIST {size} ({K} pixels): the image starts a residual stream that K = {K} blocks update (depth), or"
    " one layer reads it pixel by pixel, K = {K} steps (time). Every rule's width is chosen for the parameter "
    "count of the plain rule at width 64 on its axis; baselines: the linear classifier (0 blocks) and plain nets "
    "whose stream matrices start orthogonal or as the identity (IRNN, with tanh). {steps} updates of 64 images "
    "(AdamW 1e-3, clip 1), test accuracy on all 10,000 test images of the final weights; 3 seeds (rot90 "
    "experiment rotation --seeds 3). Chance: 10 %.")
_CARRY_ABOUT = (
    "Fashion-MNIST {size}, K = {K} blocks (depth) or steps (time), every unit starting with carry f0 and input gate "
    "1 - f0: Highway's transform bias and minLSTM's gate biases along depth, the LSTM's forget/input biases and "
    "minLSTM's along time; chrono draws f0 = τ/(1+τ), τ ~ U(1, K-1), per unit; f0 = 1 is the resnet rule (no gate) "
    "on either axis, writing 1 as it comes and, to separate carry from write scale, 0.02 (what f0 = 0.98 starts "
    "writing) and 1/sqrt(K) (model.write). Widths as in rot90 experiment rotation; {steps} updates; test "
    "accuracy on all 10,000 test images and |d loss / d stream| K - 1 steps back at initialisation.")


# The rotation disentangled (issue 33): besides its axis a depth stack differs from a time layer in two switches,
# each a model flag: tied (one block's weights for all K blocks) and inject (block k reads pixel k, the stream
# starting at zero). Tied and injected, the stack is the time layer itself (tests/test_rotate.py). Every arm has
# width 64, so that a switch changes the parameter count only as it must; the gated rules start with carry 0.98.
_ARMS = {"blocks=untied,input=once": (), "blocks=tied,input=once": ("model.tied=true",),
         "blocks=untied,input=every": ("model.inject=true",),
         "blocks=tied,input=every": ("model.tied=true", "model.inject=true")}
_ARM_RULES = {"plain": (), "resnet": (), "highway": ("model.carry=0.98",), "lstm": ("model.carry=0.98",)}


def _arm(K: int, name: str, *overrides: str, image: int = 0) -> Run:
    """A depth stack of K blocks, width 64, on Fashion-MNIST with image**2 pixels (default K), to the rotation's
    updates at that image size."""
    pixels = image * image or K
    steps = _UPDATES["rotation"][pixels]
    return Run(f"k{K},{name}", "fashion", (*_IMAGE[pixels], *_FULL_TEST, f"train.steps={steps}",
                                           f"train.eval_every={steps}", "model.axis=depth", f"model.layers={K}",
                                           "model.hidden=64", *overrides))


_ARMS_RUNS = (*(_arm(100, f"depth,rule={rule},{arm}", f"model.rule={rule}", *gate, *switches)
                for rule, gate in _ARM_RULES.items() for arm, switches in _ARMS.items()),
              _arm(100, "linear", "model.layers=0"))
_CONTROL_RUNS = (*(_arm(k, "depth,rule=resnet", "model.rule=resnet", image=10) for k in (1, 4, 16)),
                 *(_arm(K, f"depth,rule=resnet,init={i}", "model.rule=resnet", f"model.init={i}")
                   for K in (100, 784) for i in ("scaled", "zero")),
                 _arm(100, "depth,rule=lstm,f0=0.999", "model.rule=lstm", "model.carry=0.999"),
                 *(_arm(K, "linear", "model.layers=0") for K in (100, 784)))  # k100,linear: group 1's, read back
# --quick: digits resized to 10x10 (100 pixels, so that block k still reads pixel k), width 8, 4 updates
_ARMS_QUICK = (*_IMAGES_QUICK, "model.hidden=8", "train.eval_every=4")


def _controlled(kind: str, title: str, about: str, runs) -> tuple[Group, ...]:
    """The groups of `rot90 experiment rotation` or `carry`: one at K = 100, one at K = 784."""
    return tuple(Group(title.format(K=K), about.format(K=K, size="at 10x10" if K == 100 else "at 28x28",
                                                       steps=_UPDATES[kind][K]),
                       "accuracy", runs(K), _CONTROLLED_QUICK, gradients=True, kind=kind) for K in (100, 784))


EXPERIMENTS: dict[str, tuple[Group, ...]] = {
    "rotation": _controlled("rotation", "The rotation matrix at K = {K}: seven rules along depth and along time",
                            _ROTATION_ABOUT, _rotation),
    "carry": _controlled("carry", "The initial carry f0 at K = {K}, along depth and along time", _CARRY_ABOUT, _carry),
    "memory-tasks": (
        Group("Selective copying: the layer ablation of Feng et al. (2024)",
              "Feng et al. report selective-copying accuracy for 1/2/3 layers of minLSTM 37.6/85.7/96.0 % and "
              "minGRU 37.0/96.8/99.5 %: a gate that does not read the state cannot select on its own, a stack "
              "can. Here at T = 200 with 16 symbols to copy (configs/selective-copy-minlstm.toml), 4000 updates. "
              "Controls: one layer of LSTM and of GRU, whose gates read the state.",
              "accuracy",
              _grid("selective-copy-minlstm", (), "selective-copy", rule=["minlstm", "mingru"], layers=[1, 2, 3])
              + _grid("selective-copy-minlstm", (), "selective-copy", rule=["lstm", "gru"], layers=[1]),
              _MEMORY_QUICK),
        Group("The adding problem at T = 1000",
              "Sum the two marked numbers among 1000 (Hochreiter & Schmidhuber 1997); the mean predictor's error "
              "is 0.167. Two layers of width 64, 2000 updates (configs/adding.toml); the LSTM also with chrono "
              "initialisation for 1000 steps.",
              "loss", _grid("adding", ("data.length=1000",), "adding", rule=["plain", "lstm", "minlstm", "mingru"])
              + (Run("adding,rule=lstm,chrono=1000", "adding", ("data.length=1000", "model.rule=lstm",
                                                                  "model.chrono=1000")),),
              tuple(o for o in _MEMORY_QUICK if not o.startswith("data.k="))),  # the adding task has no k
        Group("The copy task at T = 100",
              "Remember 8 symbols over 100 blanks, then write them out (configs/copy.toml), 3000 updates; the LSTM "
              "also with chrono initialisation for the 116 steps of a sequence.",
              "accuracy", _grid("copy", (), "copy", rule=["plain", "lstm", "minlstm", "mingru"])
              + (Run("copy,rule=lstm,chrono=116", "copy", ("model.rule=lstm", "model.chrono=116")),), _MEMORY_QUICK),
    ),
    "rotation-arms": (
        Group("The rotation's 2x2 at K = 100: tied or untied blocks, the image once or a pixel at every block",
              "Fashion-MNIST at 10x10 (100 pixels), 100 blocks of width 64 along depth for plain, resnet, Highway "
              "and LSTM (the gated rules starting with carry 0.98): each block's own weights or one block's for "
              "all (blocks=), the image starting the stream or block k reading pixel k into a stream that starts "
              "at zero (input=). blocks=tied,input=every is the time layer itself, computed along depth (same "
              "weights, outputs and gradients: tests/test_rotate.py); blocks=untied,input=once is the depth arm "
              "of rot90 experiment rotation. 1000 updates of 64 images (AdamW 1e-3, clip 1), test accuracy on "
              "all 10,000 test images of the final weights; 3 seeds, paired by number; the linear classifier "
              "(0 blocks) is the baseline every stack must beat (docs/protocols.md).",
              "accuracy", _ARMS_RUNS, _ARMS_QUICK, kind="arms"),
        Group("Controls: shallow stacks, scaled and zero-initialised ResNets, an LSTM block that starts carrying",
              "The depth arm of the 2x2 (untied blocks, the image once, width 64): ResNets of 1, 4 and 16 blocks on "
              "the 10x10 images; ResNets of 100 and 784 blocks whose stream matrices start scaled by 1/sqrt(K) "
              "(the writes of K blocks add up to one's scale, Fixup's argument) or at zero (every block starts as "
              "the identity); an LSTM block with carry 0.999 at 100 blocks (f0 ~ 1: the slogan's most direct "
              "test); the linear classifier at 784 pixels. Updates as in rot90 experiment rotation (1000 at "
              "10x10, 200 at 28x28).",
              "accuracy", _CONTROL_RUNS, _ARMS_QUICK, kind="arms"),
    ),
    "depth-vs-time": (
        Group("Fashion-MNIST along depth and along time, equal wall-clock",
              "The same images as the start of a residual stream updated by 32 blocks of width 128 (plain, "
              "ResNet, Highway), or read pixel by pixel, 784 steps, by one layer of width 128 (LSTM, minLSTM, "
              "minGRU); 600 s of training each on one thread (configs/fashion.toml). Test accuracy on the first "
              "1,280 test images.",
              "accuracy", _grid("fashion", (), "depth", rule=["plain", "resnet", "highway"])
              + _grid("fashion", ("model.axis=time", "model.layers=1"), "time", rule=["lstm", "minlstm", "mingru"]),
              (*_IMAGES_QUICK, "model.layers=2"), x="seconds"),
    ),
    "gradient-flow": (
        Group("Gradient flow along depth and along time, at initialisation and after training",
              "Fashion-MNIST images as the start of a residual stream through 100 blocks of width 64 (plain, "
              "ResNet, Highway), or read pixel by pixel, 784 steps, by one layer of width 64 (plain RNN, LSTM, "
              "minLSTM, minGRU, and an LSTM with chrono initialisation for 784 steps); 1000 updates each "
              "(configs/fashion.toml). The figure shows ‖d loss / d stream‖ over the batch, divided by the batch "
              "size, at distance k from the "
              f"output, under each model's own cross-entropy on the first {PROBE} test images, at initialisation "
              "(solid) and after training (dashed); below 1e-30 (float32 underflow, exactly 0) drawn at 1e-30.",
              "accuracy", _grid("fashion", ("model.hidden=64", "model.layers=100", *_STEPS), "depth",
                                rule=["plain", "resnet", "highway"])
              + _grid("fashion", _PIXELS, "time", rule=["plain", "lstm", "minlstm", "mingru"])
              + (Run("time,rule=lstm,chrono=784", "fashion", (*_PIXELS, "model.rule=lstm", "model.chrono=784")),),
              _IMAGES_QUICK, gradients=True),
    ),
    "language-model": (
        Group("Shakespeare, character level, equal parameters and equal wall-clock",
              "Three layers of each rule with GNMT-style residual connections (the Transformer: three pre-LN "
              "blocks), the width of each chosen for about 1.2M parameters, each trained for 600 s on one thread "
              "of this machine (configs/shakespeare-char.toml), its cosine schedule reaching 0 when the 600 s are "
              "spent: an equal wall-clock comparison, throughput included. Dev bits per character.",
              "bits_per_char",
              tuple(Run(r, "shakespeare-char", (f"model.rule={r}", *_LM_BUDGET), params=1_200_000)
                    for r in ("plain", "lstm", "gru", "minlstm", "mingru"))
              + (Run("transformer", "shakespeare-char", ("model.arch=transformer", "model.rule=lstm",
                                                        "model.residual=false", *_LM_BUDGET), params=1_200_000),),
              _LM_QUICK, x="seconds"),
    ),
    "translation": (
        *(Group(f"English to French, {minutes} minutes each: four cells in one recipe, and a Transformer",
                "The models differ only in the sequence cell: configs/recurrent-nmt.toml with model.rule = lstm, "
                "gru, minlstm or mingru (the same attention, layers, width, optimiser and schedule, the cosine "
                "reaching 0 when the budget is spent), beside the Transformer of configs/transformer.toml with "
                f"its width chosen for the LSTM's parameter count; {60 * minutes} s of training each, alone on "
                "the machine (evaluation every 200 updates on 10 dev batches, not counted), on the Debian corpus "
                "(rot90 data build translation --lang fr); test BLEU/chrF with beam 5 on the whole test split. "
                "An equal wall-clock comparison: throughput is part of it.",
                "bleu", _translation_cells(minutes), _MT_QUICK, x="seconds", test=True, curve="loss")
          for minutes in (20, 60)),
        Group("English to French at equal wall-clock: attention-LSTM, attention-minLSTM, Transformer",
              "The shipped configs on the Debian corpus (rot90 data build translation --lang fr), 1200 s of "
              "training each; test BLEU/chrF with beam 5 on the whole test split.",
              "bleu", tuple(Run(c, c, (*_BUDGET, *(_RSQRT if c == "transformer" else ())))
                            for c in ("attention-lstm", "attention-minlstm", "transformer")),
              _MT_QUICK, x="seconds", test=True, curve="loss"),
        Group("The reversal effect (Sutskever et al. 2014) on the real corpus",
              "The 2014 model (configs/sutskever2014.toml: 4-layer LSTM, no attention, SGD) reading the source "
              "forward or reversed, 1200 s each.",
              "bleu", _grid("sutskever2014", _BUDGET, reverse_source=[True, False]), _MT_QUICK, x="seconds",
              test=True, curve="loss"),
    ),
    "lstm-vs-transformer": (
        Group("Stage A: each arm's size at its current recipe",
              "The attention LSTM (configs/recurrent-nmt.toml at width 256 or 384) and the Transformer "
              "(configs/transformer.toml at d 192, 256 or 320 with 2 + 2 or 3 + 3 layers, feed-forward 4d, shared "
              "embeddings), each at its current recipe, 1,200 s of training alone on the machine (2 threads, bf16 "
              "where the CPU has it), seed 0. Each arm keeps the size with the best whole-dev BLEU (ties: the "
              "smaller model) for stage B (docs/protocols.md).",
              "bleu", tuple(_duel_run(arm, size, _trials(arm)[0]) for arm in _SIZES for size in _SIZES[arm]),
              _MT_QUICK, x="seconds", test=True, flops=True),
        *(Group(f"Stage B: the {arm} recipe at {size}",
                "Nine recipes at the stage-A size, the same number for each arm: the current one and eight drawn "
                "from peak rate (1/2, 1, 2 times the current) x warm-up (100, 400 updates) x schedule shape (cosine "
                "to the budget; stable, then linear to 0 over the last 20 % or 50 %)"
                + (" x Adam's beta2 (0.98, 0.999)" if arm == "transformer" else "") + ", 1,200 s each, seed 0. "
                "The arm keeps the recipe with the best whole-dev BLEU; stage C runs it with --seeds 5.",
                "bleu", tuple(_duel_run(arm, size, t) for t in _trials(arm)), _MT_QUICK, x="seconds", test=True,
                flops=True)
          for arm in _SIZES for size in _SIZES[arm]),
    ),
    ownrate.EXPERIMENT: (
        Group("Each cell at a rate of its own",
              "The rows of translation-contrasts' first group but the gates=input LSTM (the LSTM, the minLSTM at its "
              "width, wider and deeper), each with the same six trials: the recipe's 8e-3 after 100 warm-up updates "
              "and peak rate 2e-3 or 4e-3 after 100 or 400, or 8e-3 after 400; 600 updates of 4096 target tokens, "
              "whole-dev loss every 100. Seed 0 chooses each row's trial (the lowest whole-dev loss at update 600), "
              "the chosen trials run seeds 1 and 2, each minLSTM row is paired by seed with the LSTM's chosen trial "
              "(rot90.lab.ownrate; docs/protocols.md).",
              "loss", tuple(replace(r, name=ownrate.trial_name(r.name, rate, warmup),
                                    overrides=(*r.overrides, f"optim.lr={rate:g}", f"optim.warmup={warmup}"))
                            for r in _CONTRAST_RUNS if r.name in ownrate.ROWS for rate, warmup in ownrate.TRIALS),
              _MT_QUICK, test=True),
    ),
    "translation-contrasts": (
        Group("What the minLSTM loses, isolated",
              "configs/recurrent-nmt.toml as shipped with the LSTM, the minLSTM at the LSTM's width (its gates and "
              "candidate read only the input, it has no output gate, and it has under half the LSTM's parameters "
              "outside the embeddings), the minLSTM made as large as the LSTM two ways (wider: the width whose "
              "parameters outside the embeddings are the LSTM's; deeper: 5 layers of 256 with residual "
              "connections, the nearest count), and an LSTM whose gates i, f, o read only the input while its "
              "candidate reads the state (model.gates = input: the gates alone). 600 updates of 4096 target "
              "tokens; dev loss on the whole dev split every 100 updates; each row paired with the LSTM by seed "
              "(docs/protocols.md).",
              "loss", _CONTRAST_RUNS, _MT_QUICK, test=True, baseline="lstm", paired_dev="loss"),
        Group("The reversal effect on the corpus, with the recipe that trains",
              "Sutskever et al.'s model (4-layer LSTM encoder and decoder of 256, no attention, the encoder reading "
              "one way) trained with configs/recurrent-nmt.toml's recipe, reading the source reversed or forward. "
              "600 updates of 4096 target tokens; dev loss on the whole dev split every 100 updates (the curve); "
              "test BLEU and chrF with beam 5; reversed paired with forward by seed (docs/protocols.md).",
              "loss", tuple(Run(f"2014,reverse_source={r}", "recurrent-nmt",
                                (*_ISOLATED, *_MODEL_2014, f"model.reverse_source={r}")) for r in ("false", "true")),
              _MT_QUICK, test=True, baseline="2014,reverse_source=false", paired_dev="loss"),
    ),
    "translation-depth": (
        Group("Depth with and without residual connections on the real corpus (Wu et al. 2016)",
              "GNMT found plain LSTM stacks train well up to 4 layers and poorly beyond 8, and residual connections "
              "between layers fix it. configs/recurrent-nmt.toml at width 128 with 2, 4 and 8 layers in the encoder "
              "and in the decoder, with and without residual connections from the second layer up, 600 updates of "
              "4096 target tokens (a budget in updates: the deep stacks are slower per update, and runs may share "
              "a machine); dev perplexity every 100 updates, test BLEU and chrF with beam 5.",
              "perplexity", _grid("recurrent-nmt", (*_MEASURED, "model.hidden=128", "train.eval_every=100",
                                                    "train.checkpoint_every=100"),
                                  layers=[2, 4, 8], residual=[True, False]), _MT_QUICK, test=True),
    ),
    "translation-recipe": (
        Group("The recurrent recipe, one change at a time",
              "configs/recurrent-nmt.toml (LSTM 2x256, bidirectional bottom encoder layer, general attention without "
              "input feeding, tied target embeddings, dropout 0.1, label smoothing 0.1, AdamW 8e-3 with 100 warm-up "
              "updates and a cosine decay to 0) for 600 updates of 4096 target tokens, about what the LSTM makes in "
              "20 minutes on 2 cores; each row changes one thing (the batch row halves the batch and doubles the "
              "updates: the same tokens). The rate rows came first and moved the recipe from 3e-3 to 8e-3; every "
              "other row changes the 8e-3 recipe. A budget in updates, not seconds, so that rows may share a "
              "machine. Dev perplexity; test BLEU and chrF with beam 5.",
              "perplexity", (Run("recipe", "recurrent-nmt", _MEASURED),)
              + tuple(Run(name, "recurrent-nmt", (*_MEASURED, *overrides)) for name, *overrides in _RECIPE_ROWS),
              _MT_QUICK, test=True),
        Group("The recipe against OpenNMT-py's, one difference at a time",
              "configs/recurrent-nmt.toml for 800 updates of 4096 target tokens (what it and OpenNMT-py 3.5.1 made "
              "in 20 minutes on one thread each; scripts/peer-opennmt), each row changing one thing to what the "
              "peer does: every encoder layer bidirectional (its brnn encoder; the recipe's bottom layer only), "
              "its schedule (warm-up then 1/sqrt(step), not a cosine to 0), its initialisation (every weight "
              "uniform in +-0.1) and its gradient clipping (5, not 1); and one row of rot90's own, training "
              "under bf16 autocast (a CPU with AMX multiplies bf16 matrices about 4x faster than fp32), for what "
              "it costs per token. Seeds paired by number; test BLEU and chrF "
              "with beam 5 at the length penalty each run chose on the whole dev split.",
              "perplexity", tuple(Run(name, "recurrent-nmt", (*_MEASURED, *_PEER_BUDGET, *overrides))
                                  for name, *overrides in _PEER_ROWS), _MT_QUICK, test=True, baseline="800,recipe"),
        Group("The peer's differences on the recipe in bf16",
              "The rows of the group above on the recipe as scripts/peer-opennmt --precision auto trains it (bf16 "
              "autocast on a CPU with AMX), 800 updates, seeds paired by number with the bf16 row: every encoder "
              "layer bidirectional, warm-up then 1/sqrt(step), every weight uniform in +-0.1, gradient clipping 5. "
              "Test BLEU and chrF with beam 5 at the length penalty each run chose on the whole dev split.",
              "perplexity", tuple(Run(name, "recurrent-nmt", (*_MEASURED, *_PEER_BUDGET, *overrides))
                                  for name, *overrides in _BF16_ROWS), _MT_QUICK, test=True,
              baseline="800,precision=bf16"),
        Group("The Transformer's recipe at the LSTM's size",
              "configs/transformer.toml (pre-LN, 3+3 layers, 4 heads, tied embeddings, dropout 0.1, label smoothing "
              "0.1, AdamW) at the width that gives the recipe LSTM's parameter count, for the same 600 updates of "
              "4096 target tokens: first with the schedule it shipped with (1e-3, 300 warm-up updates, a "
              "1/sqrt(step) decay), then the recurrent recipe's (100 warm-up updates, cosine to 0 at the last "
              "update) at rising rates. Dev perplexity; test BLEU and chrF with beam 5.",
              "perplexity", tuple(Run(name, "transformer", ("train.steps=600", "train.eval_every=150",
                                                             "train.checkpoint_every=150", *overrides),
                                      match=_LSTM_AS_MEASURED, match_config="recurrent-nmt")
                                  for name, *overrides in _TRANSFORMER_ROWS),
              _MT_QUICK, test=True),
    ),
    "numbers": (
        Group("Numbers in words: the reversal effect",
              "The 2014 model on numbers 0-99,999, English to French (configs/numbers-2014.toml), reading the "
              "source reversed or forward; dev BLEU every 25 updates, 1000 updates. Both reach BLEU 100: the "
              "effect the paper reports is speed, so the claim is the updates until dev BLEU 90.",
              "bleu", _grid("numbers-2014", ("train.steps=1000", "train.eval_every=25"),
                            reverse_source=[True, False]), _MT_QUICK, test=True, reach=90.0),
        Group("Numbers in words: depth with and without residual connections",
              "The 2014 model with Luong attention at 2, 4 and 8 layers, with and without residual connections "
              "between layers, trained until the dev BLEU stops rising (no better value in 3 evaluations, 750 "
              "updates) or 3000 updates; the export is the best dev BLEU's checkpoint.",
              "bleu", _grid("numbers-2014", ("train.steps=3000", "model.attention=general", "train.select=bleu",
                                             "train.patience=3"), layers=[2, 4, 8], residual=[True, False]),
              _MT_QUICK, test=True, reach=90.0),
    ),
}
