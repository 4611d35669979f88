"""Trainer: AdamW, warm-up + cosine LR, gradient clipping, EMA, validation, checkpoints, resume,
torchrun DDP, JSON-lines logs and a loss-curve PNG.

The EMA of the weights warms up (:class:`EMA`; ``training.ema_warmup``), so a short run samples
as well from its average as from its raw weights; a run that ends while the weights it started
from still make up more than a tenth of the average (a fixed ``ema_decay`` of 0.999 needs about
2,300 steps) warns with :class:`EMAWarning` and records the warning in its log.

Resuming restores the model, optimiser, LR schedule, EMA (weights and update count), step and
every RNG (the torch global generator, the trainer's own generator for diffusion times and noise,
Python's and NumPy's); the batch order is a function of the step
(:class:`~graphdiff.data.BatchStream`), so an interrupted run continues exactly as if it had not
stopped.

Progress (``progress=True``, rank 0 only): a bar over the steps on stderr, and at each
``training.log_every`` steps one line above it, as training loops in mature tools print::

    step 400/2000  loss 0.5123  val_loss 0.4987  lr 9.1e-04  3.42 steps/s  219 graphs/s  ETA 7m48s

``steps/s`` is measured over the last interval (also logged as ``steps_per_s``); ``progress=False``
(``graphdiff train --quiet``) prints neither.

Distributed: under ``torchrun`` (``WORLD_SIZE > 1``) the trainer joins the process group
(NCCL on GPU, gloo on CPU), wraps the model in ``DistributedDataParallel``, gives each rank its
own shard of every epoch, and only rank 0 writes logs and checkpoints.
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch_geometric.data import Data

from graphdiff.config import RunConfig
from graphdiff.data import BatchStream
from graphdiff.diffusion import GraphDiffusion
from graphdiff.errors import CheckpointError, TrainingError
from graphdiff.model import load_state, read_checkpoint, save_checkpoint

__all__ = ["Trainer", "EMA", "EMAWarning", "resolve_device", "plot_losses", "lr_lambda"]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if dist.is_available() and dist.is_initialized() and torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class EMA:
    """Exponential moving average of a model's floating-point parameters and buffers.

    Each :meth:`update` sets ``shadow <- d * shadow + (1 - d) * weights``. With ``warmup`` the
    decay grows with the number ``n`` of updates done before this one::

        d_n = min(decay, (1 + n) / (10 + n))

    the ``num_updates`` rule of TensorFlow's ``ExponentialMovingAverage`` (and of diffusers'
    ``EMAModel`` without its power warm-up). As ``1 - d_n = 9 / (10 + n)``, the average after
    ``n`` updates weighs the weights of update ``s`` in proportion to ``(s + 2)(s + 3)...(s + 9)``,
    about ``s^8``: until the cap is reached it is a power-function average over roughly the
    last tenth of the run, whatever the run's length (relative width 0.09, within the range
    Karras et al. found best for diffusion models in EDM2), and the starting weights keep a
    share of ``9! n! / (n + 9)!`` (1e-5 after 10 updates). The cap takes over after
    ``(10 decay - 1) / (1 - decay)`` updates (about 9,000 for 0.999), so a long run ends with
    the same average as with a fixed decay. The power warm-up of timm's ``ModelEmaV3`` and
    diffusers' ``EMAModel``, ``1 - (1 + n)^(-2/3)``, reaches 0.999 only after 31,600 updates,
    which changes long runs more, and the share of a run it averages over depends on the run's
    length.

    Without ``warmup`` the decay is ``decay`` from the first update, and the starting weights
    keep a share of ``decay^n`` of the average: 0.67 after 400 updates at 0.999.

    Parameters
    ----------
    model:
        The module whose ``state_dict`` is averaged (the shadow starts as a copy of it).
    decay:
        The decay (``warmup``: its cap); ``1 / (1 - decay)`` steps is the averaging horizon.
    warmup:
        Let the decay grow with the number of updates (see above).
    """

    def __init__(self, model: torch.nn.Module, decay: float, warmup: bool = True) -> None:
        self.decay = decay
        self.warmup = warmup
        self.updates = 0
        #: the weight of the starting weights in the average (the product of the decays so far)
        self.start_share = 1.0
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def current_decay(self) -> float:
        """The decay the next :meth:`update` uses."""
        if self.warmup:
            return min(self.decay, (1 + self.updates) / (10 + self.updates))
        return self.decay

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        decay = self.current_decay()
        for k, v in model.state_dict().items():
            if v.dtype.is_floating_point and k in self.shadow and self.shadow[k].shape == v.shape:
                self.shadow[k].mul_(decay).add_(v.detach(), alpha=1 - decay)
            else:
                self.shadow[k] = v.detach().clone()
        self.updates += 1
        self.start_share *= decay

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps besides the shadow weights: ``{"updates", "start_share"}``."""
        return {"updates": self.updates, "start_share": self.start_share}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.updates = int(state["updates"])
        self.start_share = float(state["start_share"])

    def unsettled(self, threshold: float = 0.1) -> str | None:
        """Why the average is not yet fit to sample from, or ``None`` when it is: the weights it
        started from (untrained, or those of ``--init``) still make up more than ``threshold``
        of it."""
        if self.start_share <= threshold:
            return None
        horizon = 1 / (1 - self.decay)
        cause = (f"with ema_decay = {self.decay:g} the average spans about {horizon:,.0f} steps"
                 + ("" if self.warmup else " from the first step (training.ema_warmup = false)"))
        remedies = "train longer, " + ("" if self.warmup else "set training.ema_warmup = true, ")
        return (f"after {self.updates} steps the EMA weights are still {100 * self.start_share:.0f} % the "
                f"weights the run started from: {cause}. Sampling uses the EMA weights by default; "
                f"{remedies}or sample with the raw weights (graphdiff sample --no-ema, "
                "graphdiff.load(..., ema=False))")


class EMAWarning(UserWarning):
    """A training run ended before its exponential moving average of the weights settled."""


def lr_lambda(cfg: Any, time_progress: Callable[[], float] | None = None) -> Callable[[int], float]:
    """Warm-up, then constant or cosine decay to 5 % of the peak.

    The cosine runs over ``max_steps`` or, when a wall-time budget is set, over whichever of the
    two ends first (``time_progress()`` is the fraction of the budget used), so a run stopped by
    ``max_minutes`` still ends at the low learning rate.

    Parameters
    ----------
    cfg:
        A training config: ``warmup_steps``, ``lr_schedule`` (``"constant"`` or ``"cosine"``),
        ``max_steps``.
    time_progress:
        Optional ``() -> float``: the fraction of the wall-time budget used.

    Returns
    -------
    ``f(step) -> float``, the factor of the peak learning rate (for ``torch.optim.lr_scheduler.LambdaLR``).
    """

    def f(step: int) -> float:
        if cfg.warmup_steps and step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        if cfg.lr_schedule == "constant":
            return 1.0
        span = max(1, cfg.max_steps - cfg.warmup_steps)
        progress = min(1.0, (step - cfg.warmup_steps) / span)
        if time_progress is not None:
            progress = max(progress, min(1.0, time_progress()))
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))

    return f


class Trainer:
    """Trains a :class:`GraphDiffusion` on lists of graphs.

    Parameters
    ----------
    model:
        The model (statistics already fitted with ``model.fit_statistics``).
    config:
        The whole run config (saved in checkpoints so a model can be rebuilt).
    train, val:
        Training and validation graphs.
    meta:
        Extra JSON-serialisable facts stored in checkpoints (data source, skip counts...).
    progress:
        Show a progress bar and print a line per log interval (loss, validation loss, learning
        rate, steps/s, graphs/s, ETA) on stderr.
    """

    def __init__(self, model: GraphDiffusion, config: RunConfig, train: Sequence[Data],
                 val: Sequence[Data] | None = None, meta: dict[str, Any] | None = None,
                 progress: bool = True) -> None:
        self.cfg = config
        tc = config.training
        if isinstance(train, list):  # a database validated its graphs when it stored them
            model.validate(train, "training item")
        if isinstance(val, list):
            model.validate(val, "validation item")
        self.distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
        if self.distributed and not dist.is_initialized():
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        self.rank = dist.get_rank() if self.distributed else 0
        self.world = dist.get_world_size() if self.distributed else 1
        self.device = resolve_device(tc.device)
        self.model = model.to(self.device)
        self.wrapped: torch.nn.Module = self.model
        if self.distributed:
            self.wrapped = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=True)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
        # the wall-time share of the cosine is per process, so only single-process runs use it
        self._time_progress = 0.0
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lr_lambda(tc, None if self.distributed or not tc.max_minutes
                                 else (lambda: self._time_progress)))
        self.ema = EMA(self.model, tc.ema_decay, warmup=tc.ema_warmup)
        self.stream = BatchStream(train, config.data.batch_size, seed=tc.seed, rank=self.rank,
                                  world_size=self.world)
        self.val = val if val is not None else []
        self.meta = dict(meta or {})
        self.progress = progress and self.rank == 0
        self.step = 0
        self.gen = torch.Generator(device=self.device).manual_seed(tc.seed * 1000 + self.rank)
        self.out_dir = Path(tc.out_dir)
        self.log_path = self.out_dir / "log.jsonl"
        self.history: list[dict[str, Any]] = []
        torch.manual_seed(tc.seed + self.rank)
        random.seed(tc.seed + self.rank)
        np.random.seed((tc.seed + self.rank) % 2**32)

    # ------------------------------------------------------------------ checkpoints
    def state(self, meta: dict[str, Any] | None = None) -> dict[str, Any]:
        return {
            "config": self.cfg.model_dump_json(),
            "spec": json.dumps(self.model.spec.to_dict()),
            "meta": json.dumps({**self.meta, "step": self.step, "ema_state": self.ema.state_dict(),
                               **(meta or {})}),
            "model": self.model.state_dict(),
            "ema": self.ema.shadow,
            "ema_state": self.ema.state_dict(),
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
            "step": self.step,
            "rng": {
                "torch": torch.get_rng_state(),
                "trainer": self.gen.get_state(),
                "python": json.dumps(_py_state()),
                "numpy": json.dumps(_np_state()),
            },
        }

    def save(self, path: str | Path | None = None, meta: dict[str, Any] | None = None) -> Path | None:
        """Write the full training state (``meta`` is merged into the checkpoint's metadata)."""
        if self.rank != 0:
            return None
        path = Path(path) if path else self.out_dir / "last.ckpt"
        return save_checkpoint(path, self.state(meta))

    def resume(self, path: str | Path) -> None:
        """Restore everything from a checkpoint written by :meth:`save`."""
        ckpt = read_checkpoint(path)
        if "optimizer" not in ckpt:
            raise CheckpointError(f"{path}: has no training state (it is a model-only checkpoint)")
        saved = json.loads(ckpt["config"])
        now = json.loads(self.cfg.model_dump_json())
        for section in ("model", "diffusion"):
            if saved.get(section) != now.get(section):
                raise CheckpointError(f"{path}: was trained with another [{section}] config; "
                                      f"saved {saved.get(section)} vs now {now.get(section)}")
        load_state(self.model, ckpt["model"], str(path))
        self.ema.shadow = {k: v.clone() for k, v in ckpt["ema"].items()}
        if "ema_state" in ckpt:
            self.ema.load_state_dict(ckpt["ema_state"])
        else:  # written before the EMA kept its state: a fixed decay, updated at every step
            step = int(ckpt["step"])
            decay = float((saved.get("training") or {}).get("ema_decay", self.ema.decay))
            self.ema.load_state_dict({"updates": step, "start_share": decay ** step})
        self.opt.load_state_dict(ckpt["optimizer"])
        self.sched.load_state_dict(ckpt["scheduler"])
        self.step = int(ckpt["step"])
        rng = ckpt["rng"]
        torch.set_rng_state(rng["torch"])
        self.gen.set_state(rng["trainer"])
        _set_py_state(json.loads(rng["python"]))
        _set_np_state(json.loads(rng["numpy"]))

    # ------------------------------------------------------------------ loop
    @torch.no_grad()
    def validate(self) -> float | None:
        if len(self.val) == 0:
            return None
        was = self.model.training
        self.model.eval()
        gen = torch.Generator(device=self.device).manual_seed(12345)  # same noise every validation: comparable values
        stream = BatchStream(self.val, self.cfg.data.batch_size, shuffle=False)
        total, count = 0.0, 0
        for batch in stream.epoch(0):
            loss, _ = self.model.loss(batch.to(self.device), generator=gen)
            total += float(loss) * batch.num_graphs
            count += batch.num_graphs
        self.model.train(was)
        return total / max(count, 1)

    def _log(self, record: dict[str, Any]) -> None:
        self.history.append(record)
        if self.rank == 0:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            with self.log_path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")

    def fit(self, max_steps: int | None = None) -> list[dict[str, Any]]:
        """Train until ``max_steps`` (default: the config's); returns the log records."""
        tc = self.cfg.training
        end = max_steps if max_steps is not None else tc.max_steps
        self.model.train()
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=end, initial=self.step, desc="train", unit="step", dynamic_ncols=True)
        t0, seen, last_loss = time.perf_counter(), 0, float("nan")
        mark_t, mark_step = t0, self.step  # start of the current log interval (steps/s)
        deadline = t0 + 60 * tc.max_minutes if tc.max_minutes else None
        next_snapshot = t0 + 60 * tc.snapshot_minutes if tc.snapshot_minutes else None
        while self.step < end:
            if next_snapshot is not None and time.perf_counter() >= next_snapshot:
                minutes = (time.perf_counter() - t0) / 60
                self.save(self.out_dir / "snapshots" / f"step{self.step:08d}.ckpt",
                          meta={"train_minutes": round(minutes, 3)})
                next_snapshot += 60 * tc.snapshot_minutes
            if deadline is not None and time.perf_counter() > deadline:
                self._log({"step": self.step, "stopped": "max_minutes reached"})
                if bar is not None:
                    bar.write(f"step {self.step}: stopped, training.max_minutes ({tc.max_minutes:g}) reached",
                              file=sys.stderr)
                end = self.step
                val = self.validate()
                if val is not None:
                    self._log({"step": self.step, "val_loss": val})
                self.save()
                break
            if deadline is not None:
                self._time_progress = (time.perf_counter() - t0) / (deadline - t0)
            batch = self.stream.batch_at(self.step).to(self.device)
            loss, parts = self.wrapped(batch, generator=self.gen)
            if not torch.isfinite(loss):
                if bar:
                    bar.close()
                raise TrainingError(
                    f"non-finite loss {loss.item()} at step {self.step} (fields: {parts}); training "
                    f"stopped, the last good checkpoint in {self.out_dir} is kept")
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = None
            if tc.grad_clip:
                grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), tc.grad_clip))
            self.opt.step()
            self.sched.step()
            self.ema.update(self.model)
            self.step += 1
            seen += batch.num_graphs
            last_loss = loss.item()
            if bar:
                bar.update(1)
                bar.set_postfix(loss=f"{last_loss:.4f}")
            record = None
            if self.step % tc.log_every == 0 or self.step == end:
                now = time.perf_counter()
                steps_per_s = (self.step - mark_step) / max(now - mark_t, 1e-9)
                mark_t, mark_step = now, self.step
                record = {"step": self.step, "loss": last_loss, **{f"loss/{k}": v for k, v in parts.items()},
                          "lr": self.sched.get_last_lr()[0], "grad_norm": grad_norm,
                          "graphs_per_s": seen * self.world / max(now - t0, 1e-9), "steps_per_s": steps_per_s}
                self._log(record)
            val = None
            if self.step % tc.val_every == 0 or self.step == end:
                val = self.validate()
                if val is not None:
                    self._log({"step": self.step, "val_loss": val})
            if record is not None and bar is not None:
                remaining = (end - self.step) / max(record["steps_per_s"], 1e-9)
                if deadline is not None:
                    remaining = min(remaining, max(deadline - time.perf_counter(), 0.0))
                bar.write(_progress_line(record, end, val, remaining), file=sys.stderr)
            if self.step % tc.checkpoint_every == 0 or self.step == end:
                self.save()
        if bar:
            bar.close()
        if self.rank == 0:
            plot_losses(self.log_path, self.out_dir / "loss.png")
            why = self.ema.unsettled()
            if why is not None:
                self._log({"step": self.step, "warning": why})
                warnings.warn(why, EMAWarning, stacklevel=2)
        return self.history

    def ema_model(self) -> GraphDiffusion:
        """A copy of the model holding the EMA weights (what sampling uses by default), in eval
        mode; the model being trained is left as it is."""
        import copy

        averaged = copy.deepcopy(self.model)
        load_state(averaged, self.ema.shadow, "the EMA weights")
        return averaged.eval()


def _duration(seconds: float) -> str:
    """``3h02m``, ``7m48s`` or ``12s``."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _progress_line(record: dict[str, Any], end: int, val: float | None, remaining_s: float) -> str:
    """One line of training progress for a log record (see the module docstring)."""
    parts = [f"step {record['step']}/{end}", f"loss {record['loss']:.4f}"]
    if val is not None:
        parts.append(f"val_loss {val:.4f}")
    parts += [f"lr {record['lr']:.1e}", f"{record['steps_per_s']:.2f} steps/s",
              f"{record['graphs_per_s']:.0f} graphs/s"]
    if record["step"] < end:
        parts.append(f"ETA {_duration(remaining_s)}")
    return "  ".join(parts)


def plot_losses(log_path: str | Path, out: str | Path) -> Path | None:
    """Plot training and validation loss from a JSON-lines log."""
    log_path = Path(log_path)
    if not log_path.exists():
        return None
    from matplotlib.figure import Figure  # not pyplot: the caller's backend is left alone

    train, val = [], []
    for line in log_path.read_text().splitlines():
        rec = json.loads(line)
        if "loss" in rec:
            train.append((rec["step"], rec["loss"]))
        if "val_loss" in rec:
            val.append((rec["step"], rec["val_loss"]))
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    if train:
        ax.plot(*zip(*train), label="train")
    if val:
        ax.plot(*zip(*val), "o-", label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    return Path(out)


def _py_state() -> list[Any]:
    version, state, gauss = random.getstate()
    return [version, list(state), gauss]


def _set_py_state(s: list[Any]) -> None:
    random.setstate((s[0], tuple(s[1]), s[2]))


def _np_state() -> list[Any]:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return [name, keys.tolist(), int(pos), int(has_gauss), float(cached)]


def _set_np_state(s: list[Any]) -> None:
    np.random.set_state((s[0], np.array(s[1], dtype=np.uint32), s[2], s[3], s[4]))
