"""Typed, validated training configuration."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from imagegen.errors import ConfigError
from imagegen.models.base import check_choice, check_range


@dataclass
class TrainConfig:
    """How to train (the model's own hyper-parameters live in its config).

    Attributes:
        steps: stop after this many optimisation steps (None: use ``minutes``).
        minutes: stop after this much wall time (None: use ``steps``); both set: whichever first.
        batch_size: images per optimisation step, over all processes (the global batch).
        grad_accum: micro-batches each process splits its share of the batch into (gradients are
            accumulated; memory falls, the result is the same up to rounding).
        seed: seeds the data order, the model's noise and the initial weights.
        lr_warmup: ramp every learning rate linearly from 0 over this many steps (0: none).
        lr_decay: after warm-up, "constant", or "linear" / "cosine" decay to ``lr_final`` times
            the base rate at the end of the budget: of ``steps``, or of ``minutes`` by wall time
            (both set: whichever is nearer its end). A short, budgeted run gains from ending at a
            low rate (Li et al. 2020, "Budgeted training"). "wsd" (warm-up, stable, decay; Hu et
            al. 2024, MiniCPM) holds the base rate and decays linearly over the last
            ``lr_cooldown`` of the budget only.
        lr_final: the fraction of the base rate that a decay ends at.
        lr_cooldown: with ``lr_decay="wsd"``, the fraction of the budget (after the warm-up) that
            the decay spans.
        grad_clip: clip the gradient norm of each phase's parameters to this before its step
            (0: no clipping); the norm before clipping is logged as ``grad_norm/<phase>``.
        ema_decay: EMA of the weights used for sampling (0 disables it).
        ema_warmup: EMA decay ramps as min(ema_decay, (1 + step) / (10 + step)) so early EMA tracks.
        precision: "fp32", "bf16" autocast (faster on CPUs with AVX-512 BF16 / on GPUs), or
            "auto": bf16 where this device runs it natively, fp32 elsewhere (the run records which).
        channels_last: NHWC memory format for convolutions.
        compile: ``torch.compile`` each network that trains (the model's child modules with
            trainable parameters, e.g. a diffusion UNet or a GAN's G and D) before the first
            step; fuses the norms and activations between the convolutions. Its compile time
            (about half a minute on a CPU) counts against ``minutes``. Checkpoints are unchanged.
        flip: random horizontal flips of training images.
        log_every: steps between metrics.jsonl / TensorBoard records.
        sample_every: steps between sample grids in RUN/samples/ (0: only at the end).
        ckpt_every: steps between checkpoints (0: only at the end).
        keep_last: checkpoints kept on disk.
        grid_size: images in each sample grid.
        eval_n: generated images for the FID at the end (0: no evaluation).
        eval_every: steps between cheap quality checks during training (0: none); each samples
            ``eval_every_n`` images and logs ``eval/<eval_metric>`` to metrics.jsonl (its time is
            not counted in the ``minutes`` budget).
        eval_every_n: images per check.
        eval_metric: "kid" (unbiased, fine with 1,000 images) or "fid".
        device: "cpu", "cuda", "cuda:1", "mps" ...
        threads: torch intra-op threads (None: torch's default).
        max_bad_steps: consecutive non-finite losses before the run stops.
    """

    steps: int | None = None
    minutes: float | None = None
    batch_size: int = 64
    grad_accum: int = 1
    seed: int = 0
    lr_warmup: int = 0
    lr_decay: Literal["constant", "linear", "cosine", "wsd"] = "constant"
    lr_final: float = 0.0
    lr_cooldown: float = 0.2
    grad_clip: float = 0.0
    ema_decay: float = 0.999
    ema_warmup: bool = True
    precision: Literal["fp32", "bf16", "auto"] = "fp32"
    channels_last: bool = False
    compile: bool = False
    flip: bool = False
    log_every: int = 50
    sample_every: int = 1000
    ckpt_every: int = 1000
    keep_last: int = 2
    grid_size: int = 64
    eval_n: int = 0
    eval_every: int = 0
    eval_every_n: int = 1000
    eval_metric: Literal["kid", "fid"] = "kid"
    device: str = "cpu"
    threads: int | None = None
    max_bad_steps: int = 10

    def __post_init__(self) -> None:
        if self.steps is None and self.minutes is None:
            self.steps = 1000
        if self.steps is not None:
            check_range("TrainConfig", "steps", self.steps, 1)
        if self.minutes is not None:
            if not self.minutes > 0:
                raise ConfigError(
                    f"TrainConfig.minutes={self.minutes!r} is out of range: it must be > 0"
                )
        check_range("TrainConfig", "batch_size", self.batch_size, 1)
        check_range("TrainConfig", "grad_accum", self.grad_accum, 1)
        check_choice(
            "TrainConfig", "lr_decay", self.lr_decay, ("constant", "linear", "cosine", "wsd")
        )
        check_range("TrainConfig", "lr_final", self.lr_final, 0.0, 1.0)
        if not 0.0 < self.lr_cooldown <= 1.0:
            raise ConfigError(
                f"TrainConfig.lr_cooldown={self.lr_cooldown!r} is out of range: give the fraction "
                "of the budget that the wsd decay spans, in (0, 1]"
            )
        check_range("TrainConfig", "grad_clip", self.grad_clip, 0.0)
        check_range("TrainConfig", "ema_decay", self.ema_decay, 0.0, 0.99999)
        check_choice("TrainConfig", "precision", self.precision, ("fp32", "bf16", "auto"))
        for f in ("lr_warmup", "log_every", "sample_every", "ckpt_every", "eval_n", "eval_every"):
            check_range("TrainConfig", f, getattr(self, f), 0)
        check_range("TrainConfig", "log_every", self.log_every, 1)
        check_range("TrainConfig", "eval_every_n", self.eval_every_n, 2)
        check_choice("TrainConfig", "eval_metric", self.eval_metric, ("kid", "fid"))
        check_range("TrainConfig", "keep_last", self.keep_last, 1)
        check_range("TrainConfig", "grid_size", self.grid_size, 1)
        check_range("TrainConfig", "max_bad_steps", self.max_bad_steps, 1)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(
                f"unknown train key(s) {', '.join(unknown)}: valid keys are {', '.join(sorted(names))}"
            )
        return cls(**d)
