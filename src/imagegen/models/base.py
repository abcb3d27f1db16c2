"""The contract between a model and the one trainer.

A model owns only its math: its parameter groups, its training phases, the loss of each phase and
how it samples. The trainer owns backward, optimizer steps, mixed precision, EMA, checkpoints,
logging and progress (after the phase loop of NVlabs/stylegan2-ada-pytorch).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from imagegen.data.base import Batch, DataSpec
from imagegen.errors import ConfigError
from imagegen.seeding import Generators


@dataclass(frozen=True)
class Phase:
    """One optimisation phase of a training step.

    Attributes:
        name: passed back to :meth:`GenerativeModel.loss` ("main", "D", "G", ...).
        group: the parameter group (and optimizer) this phase updates.
        interval: run this phase on every ``interval``-th step only.
        start, stop: run it only while the spent fraction of the training budget is in
            [start, stop) (e.g. a VQ-VAE's prior starts when its codes have settled); the
            learning-rate warm-up and decay of its group then span that window.
    """

    name: str
    group: str
    interval: int = 1
    start: float = 0.0
    stop: float = 1.0


@dataclass
class StepOutput:
    """The loss of one phase and the scalars to log (already detached floats or tensors)."""

    loss: torch.Tensor
    logs: dict[str, torch.Tensor | float]


@dataclass
class OptimSettings:
    """Adam settings of one parameter group."""

    lr: float = 2e-4
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0


@dataclass
class ModelConfig:
    """Base of every model's typed config: validates on construction, round-trips through JSON."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ConfigError naming the field and the allowed values; subclasses extend."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(
                f"unknown {cls.__name__} key(s) {', '.join(unknown)}: "
                f"valid keys are {', '.join(sorted(names))}"
            )
        kwargs = {}
        for f in dataclasses.fields(cls):
            if f.name in d:
                v = d[f.name]
                kwargs[f.name] = tuple(v) if isinstance(v, list) else v
        return cls(**kwargs)


def check_choice(cls_name: str, field: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise ConfigError(
            f"{cls_name}.{field}={value!r} is not allowed: choose one of {', '.join(map(str, allowed))}"
        )


def check_range(
    cls_name: str, field: str, value: float, lo: float, hi: float | None = None
) -> None:
    if value < lo or (hi is not None and value > hi):
        rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise ConfigError(f"{cls_name}.{field}={value!r} is out of range: it must be {rng}")


class GenerativeModel(nn.Module):
    """Base class of every model family.

    Subclasses set ``name``, ``family`` and ``Config`` and implement the four methods below.
    Images are float ``[-1, 1]`` NCHW inside models.
    """

    name: ClassVar[str] = ""
    family: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    needs_labels: ClassVar[bool] = False  # only trains on labelled data (e.g. a CVAE)
    Config: ClassVar[type[ModelConfig]] = ModelConfig

    def __init__(self, config: ModelConfig, spec: DataSpec) -> None:
        super().__init__()
        if getattr(config, "conditional", False) and spec.num_classes < 2:
            raise ConfigError(
                f"conditional=true needs a labelled dataset, but '{spec.name}' has no classes: "
                "drop model.conditional or use a dataset with labels"
            )
        self.config = config
        self.spec = spec

    @property
    def conditional(self) -> bool:
        """Whether the model takes class labels."""
        return False

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters per optimizer: ``{"main": [...]}`` or ``{"D": [...], "G": [...]}``."""
        return {"main": list(self.parameters())}

    def optim_settings(self, group: str) -> OptimSettings:
        """Adam settings of ``group``."""
        return OptimSettings()

    def phases(self) -> list[Phase]:
        """The phases of one training step, in order."""
        return [Phase("main", "main")]

    def loss(self, phase: str, batch: Batch, generator: torch.Generator) -> StepOutput:
        """Loss of ``phase`` on ``batch``; no backward or optimizer step inside."""
        raise NotImplementedError

    def begin_step(self, step: int, done: float) -> None:
        """Called by the trainer before each step with the fraction ``done`` in [0, 1] of the
        budget spent, for schedules that live in the loss (KL warm-up, capacity annealing).
        Both are functions of the run's clock, so a resumed run needs no extra state."""

    def recalibrate(self, seed: int) -> None:
        """Re-estimate state that sampling reads but weight averaging cannot average (e.g. the
        BatchNorm statistics of an EMA generator), drawing from ``seed``; a no-op by default."""

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        generator: Generators,
        labels: torch.Tensor | None = None,
        **options: Any,
    ) -> torch.Tensor:
        """Draw ``n`` images, float32 ``(n, C, H, W)`` in ``[-1, 1]``.

        Args:
            n: number of images.
            generator: source of all randomness (same generator state -> same images): one
                generator, or a list of ``n`` from which image i draws all its noise (then image i
                does not depend on the rest of the batch; draw with :func:`imagegen.seeding.randn`).
            labels: int64 ``(n,)`` class labels for conditional models.
            options: family-specific sampling options (e.g. ``steps`` for diffusion).
        """
        raise NotImplementedError

    def data_options(self, data: Any, n: int) -> dict[str, Any]:
        """Sampling options that make ``n`` samples comparable with ``data``, an ImageDataset
        (text-to-image: its captions as prompts); {} for models that need none."""
        return {}

    def sample_options(self) -> dict[str, Any]:
        """Default sampling options, recorded in PNG metadata."""
        return {}

    def check_labels(
        self, n: int, labels: torch.Tensor | None, device: torch.device
    ) -> torch.Tensor | None:
        """Validate labels for a conditional model (None -> None for unconditional)."""
        if not self.conditional:
            if labels is not None:
                raise ConfigError(
                    f"model '{self.name}' was trained without class labels: drop --label, "
                    "or train with model.conditional=true on a labelled dataset"
                )
            return None
        if labels is None:
            raise ConfigError(f"model '{self.name}' is class-conditional: give labels (--label L)")
        labels = torch.as_tensor(labels, dtype=torch.long, device=device).reshape(-1)
        if labels.numel() != n:
            raise ConfigError(f"{labels.numel()} labels for {n} samples: give one label per sample")
        k = self.spec.num_classes
        if labels.min() < 0 or labels.max() >= k:
            raise ConfigError(f"label out of range: labels must be in [0, {k - 1}]")
        return labels
