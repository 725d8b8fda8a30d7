"""One trainer for every task: exact resume, atomic checkpoints, torchrun DDP, guard rails.

    rot90 train CONFIG --out DIR [--set section.key=value ...] [--force]
    torchrun --nproc_per_node=K -m rot90 train CONFIG --out DIR

The trainer is handed a Task (the interface of rot90.tasks), never a model, and never picks one:
rot90.run composes the two. Batches are a pure function of
(seed, epoch, position), so a checkpoint that stores the position, the optimiser, the
scheduler and every RNG resumes to the same per-step losses as a run that was never
stopped. Under torchrun each rank takes rows rank::world of every global batch and the loss
is divided by the global count, so K ranks compute what one process computes. Decisions
(skip a non-finite step, abort) are all-reduced, so ranks never diverge.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import signal
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

try:
    import fcntl
except ImportError:  # Windows: msvcrt's locking instead, imported where it is used
    fcntl = None

from .. import interrupts
from ..config import TRANSLATION_TASKS, Config, ConfigError, absolute_paths, differences, validate
from ..devices import autocast_dtype, environment, memory, resolve_device, tune_allocator
from ..errors import RunFailed
from ..export import export
from ..extras import need
from ..files import atomic_write
from ..runs import RunFolder
from ..version import __version__
from . import checkpoint as ckpt

INFO = logging.getLogger("rot90").info  # where progress goes unless a caller says otherwise

# Keys that may change between a run and its resumption: budgets and bookkeeping, not the model.
RESUMABLE = ("train.steps", "train.log_every", "train.eval_every", "train.eval_batches", "train.checkpoint_every",
             "train.keep", "train.nonfinite_at", "train.patience", "train.time_budget", "data.workers",
             "train.choose_alpha")


class TrainError(ValueError):
    """Training cannot go on; the message says why and what was kept."""


class Diverged(TrainError, RunFailed):
    """The run's loss, gradients or weights stopped being finite: an outcome of the run, not a user's mistake
    (the CLI's exit code 1, not the 2 of bad input)."""


@contextlib.contextmanager
def _interrupts_held():
    """Ctrl-C held back while data-loader workers are forked, then delivered: the workers inherit the mask, so the
    training process alone answers Ctrl-C and shuts them down."""
    if not hasattr(signal, "pthread_sigmask"):  # (Windows: no fork, nothing to hold)
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


class _CtrlC:
    """Ctrl-C in training, answered between steps: the first stops the run at the end of the step under way, where
    a checkpoint is written (the same command resumes from it); a second stops at once.

    Why not Python's KeyboardInterrupt wherever the signal lands: it can land inside the data loader's finalizers,
    which swallow it ("Exception ignored in: <Finalize object>", and the run goes on) or stop half done (and the
    shutdown waits forever on a worker's pipe). In an evaluation, where no worker starts or stops, it stops at once.
    """

    def __init__(self):
        self.requested, self.at_once, self.old = False, False, None

    def __enter__(self):
        if interrupts.replaceable():
            self.old = signal.signal(signal.SIGINT, self._handle)
        self.requested = interrupts.pressed()  # a press before the loop whose KeyboardInterrupt was swallowed
        return self

    def __exit__(self, *exc):
        if self.old is not None:
            signal.signal(signal.SIGINT, self.old)

    def _handle(self, signum, frame):
        if self.requested or self.at_once:
            raise KeyboardInterrupt
        self.requested = True


class _Plan(torch.utils.data.Dataset):
    """This rank's batches of one epoch from a position on, made in data-loader workers if asked."""

    def __init__(self, task, specs, rank, world):
        self.task, self.specs, self.rank, self.world = task, specs, rank, world

    def __len__(self):
        return len(self.specs)

    def __getitem__(self, i):
        return self.task.make_batch(self.specs[i], self.rank, self.world)


def _lr_lambda(cfg: Config, seconds=lambda: 0.0):
    """The factor on optim.lr at each step: linear warm-up, then the schedule.

    The cosine and warm-up–stable–decay schedules reach 0 at train.steps or, under train.time_budget,
    when the budget is spent, whichever comes first: a budgeted run with steps=1e6 anneals within its
    budget instead of training at a constant rate. seconds() is the run's training time so far (one
    clock for every rank).
    """
    o, total, budget = cfg.optim, cfg.train.steps, cfg.train.time_budget

    def factor(step: int) -> float:
        if o.schedule == "range":  # the range test: range_from at step 0, lr at the last step, geometric between
            return (o.range_from / o.lr) ** (1 - step / max(total - 1, 1))
        if o.warmup and step < o.warmup:
            return (step + 1) / o.warmup
        after = step - o.warmup
        done = min(max(after / max(total - o.warmup, 1), seconds() / budget if budget else 0.0), 1.0)  # of the run
        if o.schedule == "cosine":
            return 0.5 * (1 + math.cos(math.pi * done))
        if o.schedule == "wsd":  # full rate, then linear to 0 over the last optim.decay of the run (Hu et al. 2024)
            return min(1.0, (1 - done) / o.decay) if o.decay else 1.0
        if o.schedule == "rsqrt":  # 1 at the end of warm-up, then 1/sqrt(step)
            return math.sqrt(max(o.warmup, 1) / (step + 1))
        if o.schedule == "halving" and after >= o.halve_after:
            return 0.5 ** (1 + (after - o.halve_after) // max(o.halve_every, 1))
        return 1.0

    return factor


def lock_folder(folder: Path):
    """An advisory lock on folder/.lock, held while the returned file is open; the OS drops it when the process
    dies. Another rot90 train in the folder is refused with one line naming its PID."""
    f = open(RunFolder(folder).lock, "a+")  # noqa: SIM115 - held open for the run's life
    try:
        if fcntl is not None:
            # lockf, not flock: a POSIX lock is this process's alone, not shared with the data-loader workers it
            # forks, so a worker orphaned by a kill -9 does not hold the folder against the next run
            fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            import msvcrt

            f.seek(0)
            msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
    except OSError:
        f.seek(0)
        holder = f.read().strip() or "?"
        f.close()
        raise ConfigError(f"{folder} is in use by another rot90 train (pid {holder}); wait for it to end, "
                          "or use another --out") from None
    f.seek(0)
    f.truncate()
    f.write(f"{os.getpid()}\n")
    f.flush()
    return f


@dataclasses.dataclass
class TrainState:
    """Where a run is: saved in every checkpoint, restored on resume (stopped_early ends one session only)."""

    step: int = 0  # updates done (skipped ones included)
    epoch: int = 0
    position: int = 0  # batches of this epoch done: a resume starts mid-epoch at the same batch
    skipped: int = 0  # steps skipped for a non-finite loss or gradient
    bad_in_a_row: int = 0
    best: float = float("inf")  # the best dev value of train.select so far, as lower-is-better
    best_step: int = 0  # 0: no evaluation yet
    since_best: int = 0  # evaluations without improvement (patience)
    stopped_early: bool = False
    seconds: float = 0.0  # training time summed over every session of the run
    tokens: int = 0  # what the loss counted (target tokens for translation), summed over every session of the run

    def restore(self, state: dict):
        for f in dataclasses.fields(self):
            if f.name in state and f.name != "stopped_early":  # a key missing from an older checkpoint: default
                setattr(self, f.name, state[f.name])


class Trainer:
    """Trains a task's model into a run folder: `Trainer(cfg, out).run(task)`. rot90.run composes the two."""

    def __init__(self, cfg: Config, out: Path, force: bool = False, log=INFO):
        # paths recorded absolute: the run, its export and `rot90 eval` work from any folder
        self.cfg, self.out, self.log, self.board = absolute_paths(validate(cfg)), Path(out), log, None
        self.folder = RunFolder(self.out)
        self.force, self._lock, self._good, self._resumed_from = force, None, set(), None
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        self.device = resolve_device(cfg.train.device, "train.device")  # under torchrun: cuda:LOCAL_RANK
        if self.device.type == "cpu":
            tune_allocator()  # large blocks reused, not mapped anew at each allocation: a quarter of a bf16 step
        self.amp_dtype = autocast_dtype(cfg.train.precision, self.device, "train.precision")
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        if cfg.train.precision == "auto":  # which one it is on this machine, in the log of the run
            log(f"train.precision=auto: {'bf16' if self.amp_dtype else 'fp32'} on this {self.device.type}")
        if cfg.data.batch_size % self.world:
            raise ConfigError(f"data.batch_size={cfg.data.batch_size} does not split evenly over {self.world} ranks")
        if cfg.train.deterministic:
            torch.use_deterministic_algorithms(True)

    # -- before anything is written ------------------------------------------------------------

    def _preflight(self, task):
        """Everything that can refuse the run, checked before the folder is touched: the model is built on the meta
        device (its arguments checked, nothing allocated), and its training state is weighed against the memory
        of the device it would train on."""
        try:
            with torch.device("meta"):
                model = task.build_model()
        except (ValueError, TypeError) as e:
            raise ConfigError(f"the model of this config cannot be built: {e}") from None
        weights = sum(p.numel() * p.element_size() for p in model.parameters())
        c = self.cfg
        tokens = c.data.batch_tokens if c.data.task in TRANSLATION_TASKS else c.data.batch_size * max(c.data.length, 1)
        # weights, gradients and AdamW's two moments; activations: about ten values per unit, token and layer
        need = 4 * weights + 10 * 4 * tokens * c.model.hidden * max(c.model.layers, 1) // self.world
        have = memory(self.device)
        if need > 0.9 * have:
            raise ConfigError(f"this config needs about {need / 2**30:.1f} GiB on {self.device} ({weights / 2**30:.2f} "
                              f"GiB of weights, x4 with gradients and optimizer state, and the activations of "
                              f"{tokens:,} tokens a batch), more than the {have / 2**30:.1f} GiB it has: make "
                              "model.hidden, model.layers or the batch smaller")

    # -- the run folder ------------------------------------------------------------------------

    def _claim_folder(self, force: bool):
        """Lock the folder for this run's life. Refuse a folder with files that is not a rot90 run's, and a run of
        another config unless force: then the earlier run is moved aside (RunFolder.set_aside), never deleted."""
        run = self.folder
        if self.rank == 0:  # (the other ranks would see rank 0's first files and take the folder for a stranger's)
            if run.root.exists() and not run.root.is_dir():
                raise ConfigError(f"--out {run.root}: a file, not a folder")
            if run.root.is_dir() and not run.is_run() and any(run.root.iterdir()):
                raise ConfigError(f"{run.root} holds files and is not a rot90 run folder: rot90 train writes into a "
                                  "new or empty folder, or one of its own runs; choose another --out")
            run.root.mkdir(parents=True, exist_ok=True)
            self._lock = lock_folder(self.out)
            run.marker.touch()
            for tmp in ckpt.remove_partial_writes(run):
                self.log(f"removed {tmp}, left by an interrupted write")
            diff = self._differences()
            if diff and not force:
                raise ConfigError(f"{self.out} holds a run of another config ({'; '.join(diff[:3])}); use --force "
                                  "to start over there (the earlier run is moved aside), or another --out")
            if diff:
                self.log(f"--force: the earlier run ({'; '.join(diff[:3])}) moved to {run.set_aside()}")
            run.ckpt.mkdir(exist_ok=True)
        self._barrier()

    def _differences(self) -> list[str]:
        """How the run recorded in config.json differs from this one ([] when there is none)."""
        path = self.folder.config
        if not path.exists():
            return []
        try:
            theirs = json.loads(path.read_text(encoding="utf-8"))
            if not (isinstance(theirs, dict) and isinstance(theirs.get("config"), dict)):
                raise ValueError("not a JSON object with a config")
        except (ValueError, UnicodeDecodeError) as e:
            if not self.force:
                raise ConfigError(f"{path}: damaged, not the config of a rot90 run ({str(e)[:80]}); --force starts "
                                  "over (the earlier files are moved aside)") from None
            return [f"{path.name} damaged"]
        return differences(theirs["config"], self.cfg.to_dict(), ignore=RESUMABLE)

    def _record_config(self):
        """config.json, written once the run is sure to go ahead (a refused run leaves the folder as it was)."""
        if self.rank == 0:
            atomic_write(self.folder.config, json.dumps({"config": self.cfg.to_dict(), "rot90": __version__,
                                                         "torch": torch.__version__}, indent=1))
            atomic_write(self.folder.env, json.dumps({**environment(), "device": str(self.device),
                                                      "world_size": self.world}, indent=1))
        self._barrier()

    def _barrier(self):
        if self.world > 1:
            dist.barrier()

    def _all_reduce(self, t: torch.Tensor, op=None) -> torch.Tensor:
        if self.world > 1:
            dist.all_reduce(t, op=op or dist.ReduceOp.SUM)
        return t

    # -- the loop ------------------------------------------------------------------------------

    def run(self, task) -> dict:
        cfg = self.cfg
        self._preflight(task)
        self._claim_folder(self.force)
        model, opt, sched = self.build(task)
        s = self._resume(task, model, opt, sched)
        if self.rank == 0:
            self._truncate_metrics(s.step)
            task.save_assets(self.out)
        net = model
        if cfg.train.compile:
            net = torch.compile(net)
        if self.world > 1:
            net = nn.parallel.DistributedDataParallel(net, device_ids=[self.device.index] if self.device.index
                                                      is not None else None)
        bar = self._progress(s.step)
        self.board = self._tensorboard()
        tokens, start, before = 0, time.perf_counter(), s.seconds  # seconds: training time of all sessions
        if cfg.train.time_budget and before >= cfg.train.time_budget:  # a budgeted run resumed: nothing left
            self.log(f"time budget of {cfg.train.time_budget:g} s already spent at step {s.step}")
            s.stopped_early = True
        with _CtrlC() as ctrl_c:
            saved = s.step
            while s.step < cfg.train.steps and not s.stopped_early:
                specs = task.plan(s.epoch)
                if not specs:  # else: empty epochs, one after another, forever
                    raise TrainError(f"the data gives no batch for epoch {s.epoch}: nothing to train on")
                # Its own generator: a loader draws a seed from the global RNG when it starts, and a resumed
                # run starts one mid-epoch, where the straight run did not: dropout masks would shift.
                loader = torch.utils.data.DataLoader(_Plan(task, specs[s.position:], self.rank, self.world),
                                                     batch_size=None, num_workers=cfg.data.workers,
                                                     generator=torch.Generator().manual_seed(cfg.train.seed))
                with _interrupts_held():  # the workers are forked here
                    batches = iter(loader)
                for batch in batches:
                    batch = {k: v.to(self.device) for k, v in batch.items()}
                    loss, count, grad_norm, finite = self.step(net, model, opt, task, batch, s.step + 1)
                    s.step, s.position = s.step + 1, s.position + 1
                    tokens, s.tokens = tokens + count, s.tokens + count
                    elapsed = time.perf_counter() - start
                    rate, s.seconds = tokens / elapsed, self._clock(before + elapsed)
                    if finite:
                        sched.step()
                    self._count_nonfinite(s, finite)
                    self._metrics({"step": s.step, "loss": loss, "grad_norm": grad_norm,
                                   "lr": sched.get_last_lr()[0], "tokens_per_s": rate, "skipped": s.skipped,
                                   "seconds": s.seconds, "tokens": s.tokens}, bar)
                    self._check_budget(s)
                    improved = False
                    if (cfg.train.eval_every and s.step % cfg.train.eval_every == 0) or s.stopped_early:
                        evaluating, ctrl_c.at_once = time.perf_counter(), True
                        improved = self._evaluate(model, task, s)
                        start += time.perf_counter() - evaluating  # the budget and the rate count training only
                        ctrl_c.at_once = False
                    done = s.step >= cfg.train.steps or s.stopped_early
                    if improved or done or s.step % cfg.train.checkpoint_every == 0:
                        self._save(model, opt, sched, task, s, best=improved)
                        saved = s.step
                    if done or ctrl_c.requested:
                        break
                else:
                    s.epoch, s.position = s.epoch + 1, 0
                del batches  # its workers shut down here, where Ctrl-C cannot cut the shutdown short
                if ctrl_c.requested and s.step < cfg.train.steps and not s.stopped_early:
                    if saved != s.step and self.world == 1:  # (ranks stop at different steps: no collective save)
                        self._save(model, opt, sched, task, s)
                    self.log(f"stopped by Ctrl-C at step {s.step}; the same command resumes from "
                             f"{'there' if saved == s.step or self.world == 1 else f'step {saved}'}")
                    raise KeyboardInterrupt
        if bar is not None:
            bar.close()
        if self.board is not None:
            self.board.close()
        if self.rank == 0:
            self._export(task, model, s)
        self._barrier()
        return dataclasses.asdict(s)

    def build(self, task):
        """Model, optimiser and schedule, the same on every rank."""
        cfg = self.cfg
        torch.manual_seed(cfg.train.seed)  # the same initial weights on every rank
        model = task.build_model().to(self.device)
        if cfg.optim.name == "adamw":
            opt = torch.optim.AdamW(model.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay,
                                    betas=(0.9, cfg.optim.beta2))
        else:
            opt = torch.optim.SGD(model.parameters(), lr=cfg.optim.lr, momentum=cfg.optim.momentum,
                                  weight_decay=cfg.optim.weight_decay)
        self.seconds = 0.0  # the run's training time, rank 0's clock: the cosine schedule follows a time budget
        sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg, lambda: self.seconds))
        torch.manual_seed(cfg.train.seed + self.rank)  # dropout differs by rank, is reproducible by seed
        return model, opt, sched

    def _resume(self, task, model, opt, sched) -> TrainState:
        """The newest loadable checkpoint restored into model, optimiser, schedule and RNGs; a fresh state if none."""
        s = TrainState()
        found = self._newest_checkpoint()
        self._record_config()
        if found is None:
            return s
        state, self._resumed_from = found
        self._good.add(self._resumed_from)
        self._check_compatible(state, task)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        ckpt.set_rng_state(state["rng"][min(self.rank, len(state["rng"]) - 1)])
        s.restore(state)
        self.log(f"resuming from step {s.step} (epoch {s.epoch}, batch {s.position})")
        return s

    def _count_nonfinite(self, s: TrainState, finite: bool):
        if finite:
            s.bad_in_a_row = 0
            return
        s.skipped += 1
        s.bad_in_a_row += 1
        self.log(f"warning: step {s.step}: non-finite loss or gradient, step skipped")
        if s.bad_in_a_row >= self.cfg.train.max_nonfinite:
            raise Diverged(f"aborting at step {s.step}: {s.bad_in_a_row} steps in a row with a "
                           f"non-finite loss or gradient; checkpoints hold finite weights only")

    def _clock(self, seconds: float) -> float:
        """Rank 0's training time on every rank: one budget and one schedule for all of them (a run without a
        time budget reads no clock: no broadcast per step)."""
        if self.world > 1 and self.cfg.train.time_budget:
            t = torch.tensor(seconds, dtype=torch.float64, device=self.device)
            dist.broadcast(t, 0)
            seconds = t.item()
        self.seconds = seconds
        return seconds

    def _check_budget(self, s: TrainState):
        if self.cfg.train.time_budget and not s.stopped_early and s.seconds > self.cfg.train.time_budget:
            s.stopped_early = True
            self.log(f"time budget of {self.cfg.train.time_budget:g} s spent at step {s.step}")

    def _export(self, task, model, s: TrainState):
        """export/: the selected weights (best step, or the mean of the last N), config and tokenizer."""
        cfg = self.cfg
        chosen = self._best_weights(model, s)
        export(model, cfg.to_dict(), self.folder.export,
                    self.out / task.tokenizer_file if task.tokenizer_file else None,
                    {"model_args": getattr(model, "args", {}), "model_class": type(model).__name__,
                     "task": cfg.data.task, "vocab_hash": task.vocab_hash, "rot90": __version__, **chosen})
        self.log(f"exported the weights of step {chosen['step']} ({chosen['selected']})")
        if cfg.train.average_last:
            _, steps = ckpt.average(self.out, cfg.train.average_last, self.folder.export)
            self.log(f"export: the mean weights of steps {', '.join(map(str, sorted(steps)))} (train.average_last)")

    def step(self, net, model, opt, task, batch, step: int):
        net.train()
        amp = self.amp_dtype is not None
        with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32, enabled=amp):
            total, count = task.loss(net, batch)
        count = self._all_reduce(count.to(self.device, torch.float64).clone())
        loss = total * (self.world / count.item())  # DDP averages gradients: the mean over the global batch
        if step in self.cfg.train.nonfinite_at:
            loss = loss * float("nan")
        opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()  # fp16: the loss scaled so that small gradients stay representable
        self.scaler.unscale_(opt)
        clip = self.cfg.optim.clip if self.cfg.optim.clip > 0 else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)  # the norm before clipping
        finite = torch.tensor(float(torch.isfinite(loss).item() and torch.isfinite(grad_norm).item()),
                              device=self.device)
        finite = bool(self._all_reduce(finite, dist.ReduceOp.MIN if self.world > 1 else None).item())
        if finite:
            self.scaler.step(opt)
        self.scaler.update()
        reported = self._all_reduce(total.detach().to(torch.float64).clone()) / count
        return reported.item(), int(count.item()), grad_norm.item(), finite

    def _newest_checkpoint(self) -> tuple[dict, Path] | None:
        try:
            return ckpt.load_newest(self.folder.ckpt, warn=self.log)
        except ckpt.NoCheckpoint as e:
            if not self.force:
                raise TrainError(str(e)) from None
            self.log(f"{e}: starting over (--force)")
            return None

    def _check_compatible(self, state: dict, task):
        """Say what differs before any load_state_dict: another model or another vocabulary."""
        diff = differences(state["config"], self.cfg.to_dict(), ignore=RESUMABLE)
        if diff:
            raise ConfigError(f"checkpoint at step {state['step']} is of another config: {'; '.join(diff[:3])}")
        if state.get("vocab_hash", "") != task.vocab_hash:
            raise ConfigError(f"checkpoint at step {state['step']} was trained with vocabulary "
                              f"{state.get('vocab_hash', '')[:12] or 'none'}, the data now gives "
                              f"{task.vocab_hash[:12] or 'none'}")

    def _save(self, model, opt, sched, task, s: TrainState, best: bool = False):
        rngs = [ckpt.rng_state()]
        if self.world > 1:  # every rank's RNG, gathered to rank 0
            gathered = [None] * self.world
            dist.all_gather_object(gathered, rngs[0])
            rngs = gathered
        if self.rank == 0:
            if not all(torch.isfinite(p).all() for p in model.parameters()):
                raise Diverged(f"step {s.step}: non-finite weights; not writing a checkpoint")
            state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                     "rng": rngs, "config": self.cfg.to_dict(), "vocab_hash": task.vocab_hash, "rot90": __version__,
                     **dataclasses.asdict(s)}
            try:
                ckpt.save(state, self.folder.ckpt, s.step, self.cfg.train.keep, best=best, good=self._good,
                          protect=self._resumed_from)
            except OSError as e:
                raise TrainError(f"could not write the checkpoint of step {s.step} in {self.folder.ckpt}: "
                                 f"{e.strerror or e}; the previous checkpoint is intact") from None
        self._barrier()

    def _best_weights(self, model, s: TrainState) -> dict:
        """Load the best checkpoint's weights into model (rank 0, at the end) and say which step they are."""
        best = self.folder.ckpt / "best.pt"
        select = self.cfg.train.select
        if s.best_step and best.exists():
            try:
                state = ckpt.read(best)
                if state["step"] == s.best_step:
                    model.load_state_dict(state["model"])
                    return {"step": s.best_step, "selected": f"best dev {select}"}
            except Exception as e:  # noqa: BLE001 - a torn best.pt: the last weights, said so
                self.log(f"warning: {best} does not load ({type(e).__name__}); exporting the last weights")
        return {"step": s.step, "selected": "last step (no dev evaluation)" if not s.best_step else "last step"}

    def _decide(self, metrics: dict, s: TrainState) -> torch.Tensor:
        """Log the dev metrics; (improved, stop) on the selected one."""
        self._metrics({"step": s.step, "seconds": s.seconds, "tokens": s.tokens,
                       **{f"dev_{k}": v for k, v in metrics.items()}}, None)
        self.log(f"step {s.step}: " + ", ".join(f"dev {k} {v:.4f}" for k, v in metrics.items()))
        select = self.cfg.train.select
        if select not in metrics:
            raise TrainError(f"train.select={select}: the {self.cfg.data.task} task reports {', '.join(metrics)}")
        key = metrics[select] if select == "loss" else -metrics[select]  # lower is better, always
        improved = key < s.best
        if improved:
            s.best, s.best_step, s.since_best = key, s.step, 0
        else:
            s.since_best += 1
        stop = bool(self.cfg.train.patience) and s.since_best >= self.cfg.train.patience
        return torch.tensor([float(improved), float(stop)], device=self.device)

    def _evaluate(self, model, task, s: TrainState) -> bool:
        """Dev metrics on rank 0; whether the selected dev metric improved, decided on rank 0 and shared by all."""
        decision = torch.zeros(2, device=self.device)  # (improved, stop)
        if self.rank == 0:
            model.eval()
            metrics = task.evaluate(model, self.cfg.train.eval_batches)
            if metrics:  # a task without dev data reports nothing: nothing to select on, every rank told so
                decision = self._decide(metrics, s)
        if self.world > 1:  # one decision for every rank, so none of them waits for the others in vain
            dist.broadcast(decision, 0)
        if decision[1]:
            s.stopped_early = True
            self.log(f"stopping early at step {s.step}: no better dev {self.cfg.train.select} in "
                     f"{self.cfg.train.patience} evaluations")
        return bool(decision[0])

    # -- what the user sees --------------------------------------------------------------------

    def _tensorboard(self):
        """A TensorBoard writer when tensorboard is installed (rank 0), else None."""
        if self.rank != 0:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            self.log("TensorBoard logging off: the tensorboard package is not installed (metrics.jsonl has it all)")
            return None
        return SummaryWriter(str(self.out / "tensorboard"))

    def _progress(self, initial: int):
        if self.rank != 0:
            return None
        tqdm = need("tqdm", "train").tqdm

        return tqdm(total=self.cfg.train.steps, initial=initial, disable=None, unit="step", dynamic_ncols=True)

    def _metrics(self, row: dict, bar):
        if self.rank != 0:
            return
        with open(self.folder.metrics, "a") as f:
            f.write(json.dumps(row) + "\n")
        if self.board is not None:
            for k, v in row.items():
                if k != "step":
                    self.board.add_scalar(k, v, row["step"])
        if bar is None:
            return
        bar.update(1)
        bar.set_postfix(loss=f"{row['loss']:.4f}", tok_s=f"{row['tokens_per_s']:.0f}")
        if bar.disable and row["step"] % self.cfg.train.log_every == 0:  # no terminal: a line now and then
            self.log(f"step {row['step']}/{self.cfg.train.steps} loss {row['loss']:.4f} "
                     f"grad_norm {row['grad_norm']:.3f} {row['tokens_per_s']:.0f} tokens/s")

    def _truncate_metrics(self, step: int):
        """Drop metrics of steps after the checkpoint resumed from: they are about to be redone."""
        path = self.folder.metrics
        if path.exists():
            keep = []
            for line in path.read_bytes().decode("utf-8", errors="replace").splitlines():  # a torn tail: dropped
                try:
                    if json.loads(line)["step"] <= step:
                        keep.append(line)
                except (json.JSONDecodeError, KeyError, TypeError):  # the line a kill tore in half
                    continue
            atomic_write(path, "".join(line + "\n" for line in keep))
