"""DDPM (Ho et al. 2020): an epsilon-prediction UNet trained on the simple loss.

L_simple = E_{x_0, eps, t} || eps - eps_theta(sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, t) ||^2.
The backbone is diffusers' ``UNet2DModel`` (class-conditional through its class embedding);
the noise schedule and samplers are diffusers' DDPM/DDIM schedulers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from diffusers import UNet2DModel

from imagegen.data.base import Batch, DataSpec
from imagegen.errors import ConfigError
from imagegen.models.base import (
    GenerativeModel,
    ModelConfig,
    OptimSettings,
    StepOutput,
    check_choice,
    check_range,
)
from imagegen.models.diffusion.sampler import SCHEDULES, make_scheduler, run_sampler


@dataclass
class DDPMConfig(ModelConfig):
    """DDPM hyper-parameters.

    Attributes:
        channels: UNet channels per resolution level (each level after the first halves H, W).
        attention: self-attention at each level (same length as ``channels``).
        layers_per_block: residual blocks per level.
        schedule: "linear" (Ho et al.) or "cosine" (Nichol & Dhariwal 2021) beta schedule.
        timesteps: T, the number of training noise levels.
        sampler: default sampler, "ddpm" (ancestral) or "ddim".
        sample_steps: default number of sampling steps.
        conditional: class-conditional through the UNet's class embedding.
        lr: Adam learning rate.
    """

    channels: tuple[int, ...] = (64, 128, 128)
    attention: tuple[bool, ...] = (False, False, True)
    layers_per_block: int = 1
    schedule: Literal["linear", "cosine"] = "linear"
    timesteps: int = 1000
    sampler: Literal["ddpm", "ddim"] = "ddim"
    sample_steps: int = 50
    conditional: bool = False
    lr: float = 2e-4

    def validate(self) -> None:
        if len(self.channels) < 1 or any(int(c) < 8 or int(c) % 8 for c in self.channels):
            raise ConfigError(
                f"DDPMConfig.channels={list(self.channels)} is not allowed: give multiples of 8, e.g. [64, 128, 128]"
            )
        if len(self.attention) != len(self.channels):
            raise ConfigError(
                f"DDPMConfig.attention has {len(self.attention)} entries for {len(self.channels)} levels: give one per level"
            )
        check_range("DDPMConfig", "layers_per_block", self.layers_per_block, 1)
        check_choice("DDPMConfig", "schedule", self.schedule, tuple(SCHEDULES))
        check_range("DDPMConfig", "timesteps", self.timesteps, 2)
        check_choice("DDPMConfig", "sampler", self.sampler, ("ddpm", "ddim"))
        check_range("DDPMConfig", "sample_steps", self.sample_steps, 1, self.timesteps)
        check_range("DDPMConfig", "lr", self.lr, 0.0, 1.0)


class DDPM(GenerativeModel):
    name = "ddpm"
    family = "diffusion"
    summary = "DDPM: eps-prediction UNet (diffusers), linear/cosine schedule, DDPM/DDIM sampling; optional labels"
    Config = DDPMConfig

    def __init__(self, config: DDPMConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        levels = len(config.channels)
        if spec.resolution % 2 ** (levels - 1):
            raise ConfigError(
                f"resolution {spec.resolution} is not divisible by 2^{levels - 1} for a {levels}-level UNet: "
                "use fewer levels (--set model.channels=[64,128] --set model.attention=[false,true]) or resize the data"
            )
        down = tuple("AttnDownBlock2D" if a else "DownBlock2D" for a in config.attention)
        up = tuple("AttnUpBlock2D" if a else "UpBlock2D" for a in reversed(config.attention))
        self.unet = UNet2DModel(
            sample_size=spec.resolution,
            in_channels=spec.channels,
            out_channels=spec.channels,
            block_out_channels=tuple(int(c) for c in config.channels),
            down_block_types=down,
            up_block_types=up,
            layers_per_block=config.layers_per_block,
            norm_num_groups=8,
            attention_head_dim=32,
            num_class_embeds=spec.num_classes if config.conditional else None,
        )
        self.noise_scheduler = make_scheduler("ddpm", config.schedule, config.timesteps)

    @property
    def conditional(self) -> bool:
        return self.config.conditional

    def optim_settings(self, group: str) -> OptimSettings:
        return OptimSettings(lr=self.config.lr)

    def eps(
        self, x_t: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        """eps_theta(x_t, t[, y]): predicted noise, same shape as x_t."""
        return self.unet(x_t, t, class_labels=y).sample

    def loss(self, phase: str, batch: Batch, generator: torch.Generator) -> StepOutput:
        x_0 = batch.x
        b = x_0.shape[0]
        t = torch.randint(0, self.config.timesteps, (b,), generator=generator, device=x_0.device)
        eps = torch.randn(x_0.shape, generator=generator, device=x_0.device)
        x_t = self.noise_scheduler.add_noise(x_0, eps, t)  # Eq. 4 of Ho et al.
        y = batch.y if self.conditional else None
        loss = F.mse_loss(self.eps(x_t, t, y).float(), eps)
        return StepOutput(loss, {"loss/mse": loss.detach()})

    def sample_options(self) -> dict[str, Any]:
        return {"sampler": self.config.sampler, "steps": self.config.sample_steps, "eta": 0.0}

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator,
        labels: torch.Tensor | None = None,
        sampler: str | None = None,
        steps: int | None = None,
        eta: float = 0.0,
        **options: Any,
    ) -> torch.Tensor:
        device = next(self.parameters()).device
        y = self.check_labels(n, labels, device)
        kind = sampler or self.config.sampler
        check_choice("sample", "sampler", kind, ("ddpm", "ddim"))
        k = int(steps or self.config.sample_steps)
        if not 1 <= k <= self.config.timesteps:
            raise ConfigError(f"steps={k} is out of range: use 1..{self.config.timesteps}")
        scheduler = make_scheduler(kind, self.config.schedule, self.config.timesteps)
        shape = (n, self.spec.channels, self.spec.resolution, self.spec.resolution)

        def eps_fn(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return self.eps(x_t, t.expand(n), y)

        return run_sampler(eps_fn, scheduler, shape, k, generator, device, eta=eta)
