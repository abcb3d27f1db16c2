"""The training loop shared by every model family (after stylegan2-ada's phase loop).

Per step: draw a global batch and split it into micro-batches (``grad_accum`` per process, one
process per rank under torchrun), then for each of the model's phases: zero grads, forward and
backward the phase's loss on each micro-batch under optional bf16 autocast, average the gradients
over micro-batches and ranks, skip the step if the loss or a gradient is non-finite, step that
phase's optimizer. Then EMA, logging, periodic sample grids and checkpoints (rank 0 writes).
Micro-batch k of step s draws its randomness from a generator seeded by (seed, s, k), so one
process accumulating two micro-batches computes what two processes compute.
"""

from __future__ import annotations

import json
import logging
import math
import random
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from imagegen import devices
from imagegen.data.base import Batch, ImageDataset
from imagegen.errors import ConfigError, ImagegenError, RunError
from imagegen.models.base import GenerativeModel, Phase
from imagegen.safe_weights import load_into
from imagegen.sampling.diversity import CLASS_COLLAPSE_RATIO, COLLAPSE_RATIO, sample_diversity
from imagegen.sampling.generate import default_labels, generate
from imagegen.seeding import generator
from imagegen.training import checkpoint as ckpt
from imagegen.training import distributed
from imagegen.training.config import TrainConfig
from imagegen.training.ema import EMA
from imagegen.training.logger import MetricsLogger
from imagegen.training.run_dir import (
    CONFIG,
    check_writable,
    describe_now,
    prepare_new,
    read_config,
    versions,
)

log = logging.getLogger(__name__)


class TrainingError(ImagegenError):
    """Training cannot go on (e.g. the loss keeps being non-finite)."""


class EpochSampler:
    """Shuffled epochs without replacement, drop-last; state is (epoch, position), fully resumable."""

    def __init__(self, n: int, batch_size: int, seed: int) -> None:
        if batch_size > n:
            raise ConfigError(
                f"batch size {batch_size} is larger than the dataset ({n} images): lower --batch-size"
            )
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.epoch, self.pos = 0, 0
        self._perm = self._permutation()

    def _permutation(self) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return torch.randperm(self.n, generator=g)

    def next(self) -> np.ndarray:
        if self.pos + self.batch_size > self.n:
            self.epoch, self.pos = self.epoch + 1, 0
            self._perm = self._permutation()
        idx = self._perm[self.pos : self.pos + self.batch_size].numpy()
        self.pos += self.batch_size
        return idx

    def state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "pos": self.pos}

    def load(self, st: dict[str, int]) -> None:
        self.epoch, self.pos = int(st["epoch"]), int(st["pos"])
        self._perm = self._permutation()


# training settings a resumed run must keep (they shape the schedule or the numbers)
RESUME_KEYS = (
    "batch_size",
    "seed",
    "lr_warmup",
    "lr_decay",
    "lr_final",
    "lr_cooldown",
    "precision",
    "ema_decay",
    "ema_warmup",
    "flip",
    "channels_last",
)


def _resume_mismatches(
    saved: dict[str, Any], model: GenerativeModel, data: ImageDataset, cfg: TrainConfig
) -> list[str]:
    diffs = []
    if saved.get("model") != model.name:
        diffs.append(f"model {saved.get('model')} != {model.name}")
    for k, v in model.config.to_dict().items():
        old = saved.get("model_config", {}).get(k)
        if json.loads(json.dumps(v)) != old:
            diffs.append(f"model.{k} {old} != {v}")
    if saved.get("data", {}).get("fingerprint") != data.fingerprint:
        diffs.append(
            f"data fingerprint {saved.get('data', {}).get('fingerprint')} != {data.fingerprint}"
        )
    defaults = TrainConfig().to_dict()  # keys that older runs did not record take the default
    for k in RESUME_KEYS:
        old = saved.get("train", {}).get(k, defaults[k])
        if old != getattr(cfg, k):
            diffs.append(f"train.{k} {old} != {getattr(cfg, k)}")
    return diffs


def budget_fraction(cfg: TrainConfig, step: int, elapsed: float, skip: int = 0) -> float:
    """Fraction in [0, 1] of the budget spent: of ``steps`` past the first ``skip``, or of
    ``minutes`` by wall time (both set: whichever is nearer its end)."""
    done = 0.0
    if cfg.steps is not None:
        done = (step - skip) / max(cfg.steps - skip, 1)
    if cfg.minutes is not None:
        done = max(done, elapsed / (cfg.minutes * 60))
    return min(max(done, 0.0), 1.0)


def lr_factor(
    cfg: TrainConfig,
    step: int,
    elapsed: float,
    window: tuple[float, float] = (0.0, 1.0),
    first: int = 0,
) -> float:
    """The learning rate of optimisation step ``step`` as a fraction of the base rate.

    Args:
        window: the fractions of the budget between which the group trains; its decay spans them.
        first: the group's first step (its warm-up counts from there).
    """
    warm = min(1.0, (step - first + 1) / cfg.lr_warmup) if cfg.lr_warmup else 1.0
    if cfg.lr_decay == "constant":
        return warm
    start, stop = window
    if window == (0.0, 1.0):
        done = budget_fraction(cfg, step, elapsed, skip=cfg.lr_warmup)  # measured past the warm-up
    else:
        done = (budget_fraction(cfg, step, elapsed) - start) / max(stop - start, 1e-9)
        done = min(max(done, 0.0), 1.0)
    if cfg.lr_decay == "linear":
        shape = 1 - done
    elif cfg.lr_decay == "cosine":
        shape = 0.5 * (1 + math.cos(math.pi * done))
    else:  # wsd: hold the base rate, then decay linearly over the last lr_cooldown of the budget
        shape = min(1.0, (1 - done) / cfg.lr_cooldown)
    return warm * (cfg.lr_final + (1 - cfg.lr_final) * shape)


class Trainer:
    """Owns optimizers, EMA, precision, the data order, logging and checkpoints of one run."""

    def __init__(
        self,
        model: GenerativeModel,
        data: ImageDataset,
        out: Path,
        cfg: TrainConfig,
        ctx: distributed.Context | None = None,
        device: str | None = None,
    ) -> None:
        self.model, self.data, self.out, self.cfg = model, data, out, cfg
        self.ctx = ctx or distributed.Context()
        self.device = torch.device(device or cfg.device)
        parts = self.ctx.world * cfg.grad_accum
        if cfg.batch_size % parts:
            raise ConfigError(
                f"batch size {cfg.batch_size} does not split into {self.ctx.world} process(es) x "
                f"{cfg.grad_accum} micro-batch(es): use a batch size divisible by {parts}"
            )
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError("device 'cuda' is not available here: use --set train.device=cpu")
        if (
            data.spec.channels != model.spec.channels
            or data.spec.resolution != model.spec.resolution
        ):
            raise ConfigError(
                f"model expects {model.spec.channels}x{model.spec.resolution}px images but the data is "
                f"{data.spec.channels}x{data.spec.resolution}px: build the model from this dataset's spec"
            )
        self.precision = devices.resolve_precision(self.device, cfg.precision)
        if cfg.precision == "auto":
            log.info("precision auto: %s on %s", self.precision, self.device)
        devices.warn_if_slow(
            self.device, self.precision, "use --set train.precision=auto (or fp32)"
        )
        self.model.to(self.device)
        if cfg.channels_last:
            self.model.to(memory_format=torch.channels_last)
        # the EMA copy is taken before compiling: it only samples, and is never compiled
        self.ema = EMA(model, cfg.ema_decay, cfg.ema_warmup) if cfg.ema_decay > 0 else None
        if cfg.compile:  # in place (nn.Module.compile): state_dict keys stay the same
            for net in self.model.children():
                if any(q.requires_grad for q in net.parameters()):
                    net.compile()
        self.groups = model.param_groups()
        self.opt = {}
        self.base_lr = {}
        for name, params in self.groups.items():
            s = model.optim_settings(name)
            self.base_lr[name] = s.lr
            self.opt[name] = torch.optim.Adam(
                params, lr=s.lr, betas=s.betas, weight_decay=s.weight_decay
            )
        self.sampler = EpochSampler(len(data), cfg.batch_size, cfg.seed)
        self.step = 0
        self.elapsed = 0.0
        self.bad_steps = 0
        self.skipped = 0
        self.first_step: dict[str, int] = {}  # group -> the step it first trained at
        self._stop_signal: int | None = None
        self._saved_step = -1
        self._calibrated_step = -1  # the step whose EMA statistics sampling_model() set
        self.eval_data: ImageDataset | None = None  # reference images of periodic checks

    @property
    def interrupted(self) -> bool:
        """Whether SIGINT/SIGTERM stopped the run early."""
        return self._stop_signal is not None

    # ---- state -----------------------------------------------------------------------------
    def sampling_model(self) -> GenerativeModel:
        """The EMA copy when there is one, its standing statistics re-estimated once per step
        (:meth:`GenerativeModel.recalibrate`; the next EMA update overwrites them again, so
        training never sees them); else the live model."""
        if self.ema is None:
            return self.model
        if self._calibrated_step != self.step:
            self.ema.model.recalibrate(self.cfg.seed)
            self._calibrated_step = self.step
        return self.ema.model

    def save(self) -> Path:
        files: dict[str, dict[str, torch.Tensor]] = {"model": ckpt.state_tensors(self.model)}
        if self.ema is not None:
            files["ema"] = ckpt.state_tensors(self.sampling_model())
        optim_tensors: dict[str, torch.Tensor] = {}
        optim_meta = {}
        for name, opt in self.opt.items():
            t, m = ckpt.optimizer_to_files(opt, name)
            optim_tensors.update(t)
            optim_meta[name] = m
        files["optim"] = optim_tensors
        files["rng"] = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            files["rng"]["cuda"] = torch.cuda.get_rng_state(self.device)
        state = {
            "step": self.step,
            "images": self.step * self.cfg.batch_size,
            "elapsed": self.elapsed,
            "sampler": self.sampler.state(),
            "skipped": self.skipped,
            "bad_steps": self.bad_steps,
            "first_step": self.first_step,
            "optim": optim_meta,
            "host_rng": _host_rng_state(),
            "time": describe_now(),
        }
        root = self.out / "checkpoints"
        path = root / ckpt.checkpoint_name(self.step)
        if self.ctx.main:  # every rank holds the same state; rank 0 writes it
            path = ckpt.save_checkpoint(root, self.step, files, state, self.cfg.keep_last)
        self._saved_step = self.step
        return path

    def load(self, path: Path) -> None:
        ckpt.verify_checkpoint(path)
        state = json.loads((path / "state.json").read_text())
        load_into(self.model, ckpt.load_tensors(path, "model"), path / "model.safetensors")
        if self.ema is not None:
            load_into(self.ema.model, ckpt.load_tensors(path, "ema"), path / "ema.safetensors")
            self._calibrated_step = -1
        optim_tensors = ckpt.load_tensors(path, "optim")
        for name, opt in self.opt.items():
            opt.load_state_dict(
                ckpt.optimizer_from_files(optim_tensors, state["optim"][name], name)
            )
        rng = ckpt.load_tensors(path, "rng")
        torch.set_rng_state(rng["torch"])
        if "cuda" in rng and self.device.type == "cuda":
            torch.cuda.set_rng_state(rng["cuda"], self.device)
        self.step = int(state["step"])
        self.elapsed = float(state["elapsed"])
        self.skipped = int(state.get("skipped", 0))
        self.bad_steps = int(state.get("bad_steps", 0))
        self.first_step = {k: int(v) for k, v in state.get("first_step", {}).items()}
        if "host_rng" in state:
            _set_host_rng_state(state["host_rng"])
        self.sampler.load(state["sampler"])

    # ---- one step --------------------------------------------------------------------------
    def _autocast(self):
        return devices.autocast(self.device, self.precision)

    def train_step(self) -> dict[str, float]:
        ctx = self.ctx
        micro = self._micro_batches()
        logs: dict[str, float] = {}
        done = budget_fraction(self.cfg, self.step, self.elapsed)
        self.model.begin_step(self.step, done)
        for phase in self.model.phases():
            if self.step % phase.interval or done < phase.start:
                continue
            if phase.stop < 1.0 and done >= phase.stop:
                continue
            self.first_step.setdefault(phase.group, self.step)
            for name, params in self.groups.items():
                for p in params:
                    p.requires_grad_(name == phase.group)
            opt = self.opt[phase.group]
            opt.zero_grad(set_to_none=True)
            stats: list[torch.Tensor] = []
            for batch, gen in micro:
                with self._autocast():
                    out = self.model.loss(phase.name, batch, gen)
                loss = out.loss.float()
                # backward even a non-finite loss: every rank must reach the same all-reduce
                (loss / len(micro)).backward()
                logged = [
                    torch.as_tensor(v, dtype=torch.float32, device=loss.device)
                    for v in out.logs.values()
                ]
                stats.append(torch.stack([loss.detach(), *logged]))
            mean = distributed.mean(ctx, torch.stack(stats).mean(0))
            distributed.average_gradients(ctx, self.groups[phase.group])
            grads = [p.grad for p in self.groups[phase.group] if p.grad is not None]
            norms = torch.stack(torch._foreach_norm(grads)) if grads else torch.zeros(1)
            ok = bool(torch.isfinite(mean[0])) and bool(torch.isfinite(norms).all())
            if not ok:
                self._bad_step(phase.name, float(mean[0]))
                opt.zero_grad(set_to_none=True)
                return logs
            if self.cfg.grad_clip > 0:
                norm = norms.norm()  # the global norm over the phase's parameters
                logs[f"grad_norm/{phase.name}"] = float(norm)
                if norm > self.cfg.grad_clip:
                    torch._foreach_mul_(grads, self.cfg.grad_clip / float(norm))
            self._set_lr(phase)
            opt.step()
            logs.update(zip(out.logs, mean[1:].tolist(), strict=True))
        for params in self.groups.values():
            for p in params:
                p.requires_grad_(True)
        distributed.sync_buffers(ctx, self.model)
        self.bad_steps = 0
        if self.ema is not None:
            self.ema.update(self.model, self.step)
        return logs

    def _micro_batches(self) -> list[tuple[Batch, torch.Generator]]:
        """This rank's micro-batches of the step's global batch, each with its own generator."""
        cfg, ctx = self.cfg, self.ctx
        idx = self.sampler.next()
        m = cfg.batch_size // (ctx.world * cfg.grad_accum)
        micro = []
        for j in range(cfg.grad_accum):
            k = ctx.rank * cfg.grad_accum + j  # index of the micro-batch in the global batch
            gen = generator(self.device, cfg.seed, self.step, k)
            flips = None
            if cfg.flip:
                flips = torch.rand(m, generator=gen, device=self.device).cpu() < 0.5
            batch = self.data.batch(idx[k * m : (k + 1) * m], flips).to(self.device)
            if cfg.channels_last:
                batch.x = batch.x.contiguous(memory_format=torch.channels_last)
            micro.append((batch, gen))
        return micro

    def _set_lr(self, phase: Phase) -> None:
        """Warm-up then decay: a function of the step (and of the elapsed time for a ``minutes``
        budget) and of the phase's window, so a resumed run needs only the group's first step."""
        cfg = self.cfg
        if not cfg.lr_warmup and cfg.lr_decay == "constant":
            return
        group = phase.group
        factor = lr_factor(
            cfg,
            self.step,
            self.elapsed,
            (phase.start, phase.stop),
            self.first_step.get(group, 0),
        )
        for g in self.opt[group].param_groups:
            g["lr"] = self.base_lr[group] * factor

    def _bad_step(self, phase: str, loss: float) -> None:
        self.bad_steps += 1
        self.skipped += 1
        for params in self.groups.values():
            for p in params:
                p.requires_grad_(True)
        log.warning(
            "step %d: non-finite loss or gradient in phase %s (loss=%s); step skipped",
            self.step,
            phase,
            loss,
        )
        if self.bad_steps >= self.cfg.max_bad_steps:
            raise TrainingError(
                f"{self.bad_steps} non-finite steps in a row at step {self.step} (phase {phase}, loss {loss}): "
                "lower the learning rate or use precision fp32; the last good checkpoint is kept"
            )

    # ---- pictures --------------------------------------------------------------------------
    def save_grid(self, path: Path) -> dict[str, float]:
        """Write a sample grid; returns the samples' diversity against real images
        (``samples/diversity``, and ``samples/class_diversity`` within classes for a conditional
        model; {} with fewer than 2 images), warning when it looks like a mode collapse."""
        from imagegen.viz import auto_scale, make_grid, save_png

        model = self.sampling_model()
        n = self.cfg.grid_size
        images = generate(model, n, seed=self.cfg.seed, **model.data_options(self.data, n))
        labels = default_labels(model, n)
        ratios = sample_diversity(
            images,
            self.data.images,
            self.cfg.seed,
            None if labels is None else labels.numpy(),
            self.data.labels,
        )
        for key, limit, what in (
            ("samples/diversity", COLLAPSE_RATIO, ""),
            ("samples/class_diversity", CLASS_COLLAPSE_RATIO, " within a class"),
        ):
            if key in ratios and ratios[key] < limit:
                log.warning(
                    "step %d: samples are %.0f%% as varied%s as the data: the generator may have "
                    "collapsed to few modes; see %s (lower the learning rates, add DiffAugment or "
                    "resume from an earlier checkpoint)",
                    self.step,
                    100 * ratios[key],
                    what,
                    path,
                )
        nrow = model.spec.num_classes if model.conditional and n >= model.spec.num_classes else None
        grid = make_grid(images, nrow=nrow, scale=auto_scale(model.spec.resolution))
        meta = {
            "model": model.name,
            "step": self.step,
            "seed": self.cfg.seed,
            "n": n,
            **model.sample_options(),
        }
        save_png(path, grid, meta)
        return ratios

    def periodic_eval(self, logger: MetricsLogger) -> float:
        """Sample ``eval_every_n`` images, log ``eval/<metric>``; returns the seconds it took."""
        from imagegen.metrics import evaluate

        t = time.perf_counter()
        model, n = self.sampling_model(), self.cfg.eval_every_n
        images = generate(model, n, seed=self.cfg.seed + 2, **model.data_options(self.eval_data, n))
        res = evaluate(images, self.eval_data, metrics=(self.cfg.eval_metric,))
        key = self.cfg.eval_metric
        logger.log(
            self.step, self.step * self.cfg.batch_size, self.elapsed, 0.0, {f"eval/{key}": res[key]}
        )
        log.info("step %d: %s %.4g (%d samples)", self.step, key, res[key], len(images))
        root = self.out / "checkpoints"
        best = ckpt.read_best(root)
        if best is None or best["metric"] != key or res[key] < best["value"]:
            path = self._save_or_go_on()
            if path is not None:
                ckpt.write_best(root, path, key, float(res[key]), self.step)
        return time.perf_counter() - t

    # ---- the loop --------------------------------------------------------------------------
    def _budget_done(self) -> bool:
        if self._stop_signal is not None:
            return True
        if self.cfg.steps is not None and self.step >= self.cfg.steps:
            return True
        return self.cfg.minutes is not None and self.elapsed >= self.cfg.minutes * 60

    def _save_or_go_on(self) -> Path | None:
        """A periodic checkpoint; if the disk refuses it (full, unwritable), the previous one is
        kept and training goes on, trying again at the next checkpoint instead of dying."""
        try:
            return self.save()
        except OSError as e:
            log.warning(
                "step %d: checkpoint not written (%s); the previous one is kept, training goes on "
                "and tries again at the next checkpoint",
                self.step,
                e.strerror or e,
            )
            return None

    def _agree(self) -> None:
        """Make every rank see rank 0's clock and stop when any rank was signalled, so all ranks
        take the same learning rates and stop at the same step (a no-op for one process)."""
        if not self.ctx.active:
            return
        mine = torch.tensor(
            [self.elapsed if self.ctx.main else 0.0, float(self._stop_signal is not None)],
            dtype=torch.float64,
        )
        agreed = distributed.total(self.ctx, mine)
        self.elapsed = float(agreed[0])
        if agreed[1] > 0 and self._stop_signal is None:
            self._stop_signal = int(signal.SIGTERM)

    def _on_signal(self, signum: int, frame: Any) -> None:
        self._stop_signal = signum
        log.warning("signal %d: finishing this step, writing a checkpoint, then stopping", signum)

    def run(self, progress: bool = True) -> None:
        from tqdm.auto import tqdm

        main = self.ctx.main
        logger = MetricsLogger(self.out, tensorboard=True, from_step=self.step) if main else None
        old_handlers = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                old_handlers[sig] = signal.signal(sig, self._on_signal)
            except ValueError:  # not the main thread
                pass
        total = self.cfg.steps if self.cfg.minutes is None else None
        bar = tqdm(
            total=total,
            initial=self.step,
            disable=not (progress and main),
            unit="step",
            dynamic_ncols=True,
        )
        acc: dict[str, list[float]] = {}
        t_last, step_last = time.perf_counter(), self.step
        t0 = time.perf_counter() - self.elapsed
        self.model.train()
        try:
            while not self._budget_done():
                logs = self.train_step()
                self.step += 1
                self.elapsed = time.perf_counter() - t0
                self._agree()
                for k, v in logs.items():
                    acc.setdefault(k, []).append(v)
                bar.update(1)
                if self.step % self.cfg.log_every == 0 or self._budget_done():
                    now = time.perf_counter()
                    ips = (self.step - step_last) * self.cfg.batch_size / max(now - t_last, 1e-9)
                    t_last, step_last = now, self.step
                    rec = {k: float(np.mean(v)) for k, v in acc.items()}
                    acc = {}
                    if logger is not None:
                        logger.log(
                            self.step, self.step * self.cfg.batch_size, self.elapsed, ips, rec
                        )
                    if self.cfg.minutes is not None:
                        rate = self.step / max(self.elapsed, 1e-9)
                        bar.total = max(self.step, int(rate * self.cfg.minutes * 60))
                    bar.set_postfix(
                        {
                            **{k.split("/")[-1]: f"{v:.3g}" for k, v in rec.items()},
                            "img/s": f"{ips:.0f}",
                        }
                    )
                if main and self.cfg.sample_every and self.step % self.cfg.sample_every == 0:
                    ratios = self.save_grid(self.out / "samples" / f"step_{self.step:07d}.png")
                    if ratios and logger is not None:
                        logger.log(
                            self.step, self.step * self.cfg.batch_size, self.elapsed, 0.0, ratios
                        )
                if (
                    logger is not None
                    and self.cfg.eval_every
                    and self.eval_data is not None
                    and self.step % self.cfg.eval_every == 0
                ):
                    t0 += self.periodic_eval(logger)  # evaluation time is not training time
                if (
                    self.cfg.ckpt_every
                    and self.step % self.cfg.ckpt_every == 0
                    and not self._budget_done()
                    and self._saved_step != self.step
                ):
                    self._save_or_go_on()
        finally:
            bar.close()
            if logger is not None:
                logger.close()
            for sig, h in old_handlers.items():
                signal.signal(sig, h)
        if self._saved_step != self.step:
            try:
                self.save()
            except OSError as e:
                last = ckpt.latest_checkpoint(self.out / "checkpoints")
                raise RunError(
                    f"could not write the last checkpoint of step {self.step} to {self.out} "
                    f"({e.strerror or e}): free space or fix permissions, then --resume from "
                    f"{last.name if last else 'the start'}"
                ) from None
        if main:
            self.save_grid(self.out / "samples" / f"step_{self.step:07d}.png")
            self.save_grid(self.out / "samples.png")
        if self._stop_signal is not None:
            log.warning(
                "stopped by signal %d at step %d; continue with --resume",
                self._stop_signal,
                self.step,
            )


def _host_rng_state() -> dict[str, Any]:
    """Python's and numpy's global RNG states as JSON (a model or augmentation may draw from them)."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "python": [list(x) if isinstance(x, tuple) else x for x in random.getstate()],
        "numpy": [name, keys.tolist(), pos, has_gauss, gauss],
    }


def _set_host_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, g = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, g))


def _config_record(model: GenerativeModel, data: ImageDataset, cfg: TrainConfig) -> dict[str, Any]:
    return {
        "model": model.name,
        "family": model.family,
        "model_config": json.loads(json.dumps(model.config.to_dict())),
        "spec": model.spec.to_dict(),
        "data": {
            **data.spec.to_dict(),
            "split": data.split,
            "n": len(data),
            "fingerprint": data.fingerprint,
            "source": data.source,
            "preprocessing": data.preprocessing,
        },
        "train": cfg.to_dict(),
        "versions": versions(),
        "created": describe_now(),
    }


def train(
    model: GenerativeModel,
    data: ImageDataset,
    out: str | Path,
    config: TrainConfig | None = None,
    *,
    resume: bool = False,
    allow_changes: bool = False,
    progress: bool = False,
    eval_data: ImageDataset | None = None,
    **overrides: Any,
) -> Path:
    """Train ``model`` on ``data`` into the run folder ``out``.

    Args:
        model: from :func:`imagegen.create_model`.
        data: the training :class:`ImageDataset`.
        out: run folder (created; must not hold another run unless ``resume``).
        config: a :class:`TrainConfig`; ``overrides`` are TrainConfig fields (e.g. ``steps=500``,
            ``minutes=20``).
        resume: continue the run in ``out`` from its latest checkpoint (same model, data and key
            training settings; the budget may grow).
        allow_changes: resume even though the model config, data or key training settings differ
            from the run's (each difference is logged as a warning, and config.json records the
            new settings); the result is then not the run the first settings would have made.
        progress: show a progress bar on stderr.
        eval_data: reference images for the FID at the end (``eval_n > 0``) and for the periodic
            checks (``eval_every > 0``).

    Returns:
        the run folder.
    """
    cfg = TrainConfig.from_dict({**(config.to_dict() if config else {}), **overrides})
    out = Path(out)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    ctx, device = distributed.setup(cfg.device)
    trainer = _start(model, data, out, cfg, ctx, device, resume, allow_changes)
    trainer.eval_data = eval_data
    trainer.run(progress=progress)
    if ctx.main:
        # a user who pressed Ctrl-C wants out, not an FID
        eval_data = None if trainer.interrupted else eval_data
        finish(out, trainer.sampling_model(), cfg, eval_data, progress=progress)
    return out  # (other ranks return at once; rank 0 writes the curves, FID and report)


def _start(
    model: GenerativeModel,
    data: ImageDataset,
    out: Path,
    cfg: TrainConfig,
    ctx: distributed.Context,
    device: str,
    resume: bool,
    allow_changes: bool,
) -> Trainer:
    """A trainer at step 0 of a new run folder, or at the latest checkpoint of ``out``."""
    if not resume:
        if ctx.main:
            prepare_new(out)
        trainer = Trainer(model, data, out, cfg, ctx, device)  # may raise before any write
        if ctx.main:
            out.mkdir(parents=True, exist_ok=True)
            ckpt.write_json(
                out / CONFIG,
                {
                    **_config_record(model, data, cfg),
                    "processes": ctx.world,
                    "precision": trainer.precision,
                },
            )
        return trainer
    saved = read_config(out)
    diffs = _resume_mismatches(saved, model, data, cfg)
    if diffs and not allow_changes:
        raise RunError(
            f"cannot resume {out}: it differs in "
            + "; ".join(diffs)
            + " (use the original settings, a new --out, or --allow-changes)"
        )
    for d in diffs:
        log.warning("resuming %s with a change: %s", out, d)
    last = ckpt.latest_checkpoint(out / "checkpoints")
    if last is None:
        raise RunError(
            f"{out} has no complete checkpoint to resume from: start a new run with another --out"
        )
    if ctx.main:
        check_writable(out)
    trainer = Trainer(model, data, out, cfg, ctx, device)
    trainer.load(last)
    log.info("resuming %s from step %d", out, trainer.step)
    if ctx.main:
        record = {
            **saved,
            "train": cfg.to_dict(),
            "processes": ctx.world,
            "precision": trainer.precision,
        }
        if diffs:  # what the run is now, and when it changed
            new = _config_record(model, data, cfg)
            record.update(model_config=new["model_config"], data=new["data"])
            record["changes"] = [*saved.get("changes", []), {"step": trainer.step, "diffs": diffs}]
        ckpt.write_json(out / CONFIG, record)
    return trainer


def finish(
    out: Path,
    model: GenerativeModel,
    cfg: TrainConfig,
    eval_data: ImageDataset | None,
    progress: bool = False,
) -> None:
    """Loss curves, the optional FID and the HTML report of a finished run."""
    from imagegen.viz import plot_curves, read_jsonl, write_report

    records = read_jsonl(out / "metrics.jsonl")
    if records:
        plot_curves(records, out / "loss.png")
        evals = sorted({k for r in records for k in r if k.startswith("eval/")})
        if evals:
            plot_curves(records, out / "eval.png", keys=evals, smoothing=0.0, title="Evaluation")
    if cfg.eval_n and eval_data is not None:
        from imagegen.metrics import evaluate
        from imagegen.progress import tqdm_callback

        images = generate(
            model,
            cfg.eval_n,
            seed=cfg.seed + 1,
            progress=tqdm_callback("sampling") if progress else None,
            **model.data_options(eval_data, cfg.eval_n),
        )
        bar = tqdm_callback("FID features") if progress else None
        result = evaluate(images, eval_data, metrics=("fid",), progress=bar)
        ckpt.write_json(out / "eval.json", result)
        log.info("FID %.2f (%d samples vs %s)", result["fid"], cfg.eval_n, eval_data.spec.name)
    write_report(out)
