"""Progressive growing of GANs (Karras et al. 2018).

Training starts at the base resolution of the image pyramid (4x4 for 32x32 images, 7x7 for 28x28)
and doubles it in equal shares of the training budget (the paper's schedule), or gives the full
resolution a larger share ``final_share`` (a step there costs more, and a short budget is better
spent where the images are judged). A new resolution fades in: for alpha
rising 0 -> 1 over the first ``fade`` of its share, G's image is (1 - alpha) * up(old RGB) + alpha
* new RGB and D reads (1 - alpha) * fromRGB(down(x)) + alpha * new block(fromRGB(x)); real
images are blended the same way. Also from the paper: pixel norm in G, minibatch standard
deviation in D, equalised learning rate, the WGAN-GP loss with a drift term eps * D(x)^2.

The current level and alpha are buffers, so a checkpoint samples at the resolution it was trained
to (upsampled to the full size).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from imagegen.data.base import Batch, DataSpec
from imagegen.models.base import ConfigError, StepOutput, check_range
from imagegen.models.gan.adversarial import Adversarial, GANConfig
from imagegen.models.gan.diffaugment import diff_augment
from imagegen.models.gan.losses import GANLoss
from imagegen.models.layers import pyramid
from imagegen.models.layers.equalized import (
    EqualConv2d,
    EqualLinear,
    lrelu,
    minibatch_stddev,
    pixel_norm,
)
from imagegen.seeding import Generators


@dataclass
class PGGANConfig(GANConfig):
    """Progressive GAN hyper-parameters (defaults after the paper, at CPU scale).

    Attributes:
        width: channels at the base resolution, halved at each doubling down to ``min_width``
            (the paper keeps 512 up to 32x32: ``min_width = width`` is its rule at this scale).
        min_width: the fewest channels at any resolution.
        fade: fraction of each new resolution's share of the budget spent fading it in.
        drift: epsilon of the drift penalty eps * E[D(x)^2] that keeps D's outputs near 0.
        final_share: fraction of the budget for the full resolution, its fade-in included; the
            lower levels share the rest equally (None: every level gets an equal share).
    """

    loss: GANLoss = "wasserstein"
    gp_weight: float = 10.0
    lr_g: float = 1e-3
    lr_d: float = 1e-3
    beta1: float = 0.0
    beta2: float = 0.99
    width: int = 128
    min_width: int = 16
    fade: float = 0.5
    drift: float = 1e-3
    final_share: float | None = None

    def validate(self) -> None:
        super().validate()
        check_range("PGGANConfig", "width", self.width, 16)
        check_range("PGGANConfig", "min_width", self.min_width, 1, self.width)
        check_range("PGGANConfig", "fade", self.fade, 0.0, 1.0)
        check_range("PGGANConfig", "drift", self.drift, 0.0)
        if self.final_share is not None and not 0.0 < self.final_share < 1.0:
            raise ConfigError(
                f"PGGANConfig.final_share={self.final_share!r} is out of range: it must be in "
                "(0, 1) (the lower resolutions need some of the budget), or null for equal shares"
            )


def schedule(
    done: float, levels: int, fade: float, final_share: float | None = None
) -> tuple[int, float]:
    """(level, alpha) after a fraction ``done`` of the budget: the last level gets ``final_share``
    of it (None: 1 / levels), the others equal shares of the rest; each new level fades in
    (alpha 0 -> 1) over the first ``fade`` of its share."""
    if levels == 1:
        return 0, 1.0
    final = 1.0 / levels if final_share is None else final_share
    lower = (1.0 - final) / (levels - 1)
    level = min(int(done / lower), levels - 1)
    if level == 0 or fade == 0:
        return level, 1.0
    share = final if level == levels - 1 else lower
    into = (done - level * lower) / share
    return level, min(into / fade, 1.0)


def channels(cfg: PGGANConfig, stages: int) -> list[int]:
    """Channels per level, base resolution first: ``width`` halved at each doubling, floored at
    ``min_width``; G and D share them."""
    return [max(cfg.width // 2**i, cfg.min_width) for i in range(stages + 1)]


class Generator(nn.Module):
    """z (B, z_dim) [, y] -> image at ``level`` (B, C, base * 2^level, ...)."""

    def __init__(self, cfg: PGGANConfig, spec: DataSpec, num_classes: int) -> None:
        super().__init__()
        self.base, stages = pyramid(spec.resolution)
        ch = channels(cfg, stages)
        self.embed = nn.Embedding(num_classes, cfg.z_dim) if num_classes else None
        z_in = cfg.z_dim * (2 if num_classes else 1)
        self.fc = EqualLinear(z_in, ch[0] * self.base**2)
        self.c0 = ch[0]
        self.base_conv = EqualConv2d(ch[0], ch[0])
        self.blocks = nn.ModuleList(
            nn.ModuleList([EqualConv2d(ch[i], ch[i + 1]), EqualConv2d(ch[i + 1], ch[i + 1])])
            for i in range(stages)
        )
        self.to_rgb = nn.ModuleList(EqualConv2d(c, spec.channels, kernel=1) for c in ch)

    def forward(
        self, z: torch.Tensor, y: torch.Tensor | None, level: int, alpha: float
    ) -> torch.Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(y)], dim=1)
        h = lrelu(self.fc(pixel_norm(z))).view(z.shape[0], self.c0, self.base, self.base)
        h = pixel_norm(lrelu(self.base_conv(pixel_norm(h))))
        prev = h
        for block in self.blocks[:level]:
            prev = h
            h = F.interpolate(h, scale_factor=2, mode="nearest")
            for conv in block:
                h = pixel_norm(lrelu(conv(h)))
        img = self.to_rgb[level](h)
        if level > 0 and alpha < 1:
            old = F.interpolate(self.to_rgb[level - 1](prev), scale_factor=2, mode="nearest")
            img = torch.lerp(old, img, alpha)
        return img


class Discriminator(nn.Module):
    """image at ``level`` [, y] -> logits (B,)."""

    def __init__(self, cfg: PGGANConfig, spec: DataSpec, num_classes: int) -> None:
        super().__init__()
        base, stages = pyramid(spec.resolution)
        ch = channels(cfg, stages)
        self.from_rgb = nn.ModuleList(EqualConv2d(spec.channels, c, kernel=1) for c in ch)
        # blocks[i] takes level i + 1's features (ch[i + 1]) down to level i's (ch[i])
        self.blocks = nn.ModuleList(
            nn.ModuleList([EqualConv2d(ch[i + 1], ch[i + 1]), EqualConv2d(ch[i + 1], ch[i])])
            for i in range(stages)
        )
        self.conv = EqualConv2d(ch[0] + 1, ch[0])
        self.fc = EqualLinear(ch[0] * base * base, ch[0])
        self.out = EqualLinear(ch[0], 1)
        self.embed = nn.Embedding(num_classes, ch[0]) if num_classes else None

    def forward(
        self, x: torch.Tensor, y: torch.Tensor | None, level: int, alpha: float
    ) -> torch.Tensor:
        h = lrelu(self.from_rgb[level](x))
        for i in range(level - 1, -1, -1):
            for conv in self.blocks[i]:
                h = lrelu(conv(h))
            h = F.avg_pool2d(h, 2)
            if i == level - 1 and alpha < 1:
                old = lrelu(self.from_rgb[level - 1](F.avg_pool2d(x, 2)))
                h = torch.lerp(old, h, alpha)
        h = lrelu(self.conv(minibatch_stddev(h)))
        h = lrelu(self.fc(h.flatten(1)))
        out = self.out(h).squeeze(1)
        if self.embed is not None:
            out = out + (self.embed(y) * h).sum(1)  # projection term
        return out


class PGGAN(Adversarial):
    name = "pggan"
    summary = (
        "Progressive GAN: grows from the base resolution with fade-in; pixel norm, minibatch "
        "stddev, equalised lr, WGAN-GP + drift"
    )
    Config = PGGANConfig

    def __init__(self, config: PGGANConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        n_cls = spec.num_classes if config.conditional else 0
        self.levels = pyramid(spec.resolution)[1] + 1
        self.G = Generator(config, spec, n_cls)
        self.D = Discriminator(config, spec, n_cls)
        # a fresh model (and one loaded for sampling) is at the full resolution
        self.register_buffer("level", torch.tensor(self.levels - 1))
        self.register_buffer("alpha", torch.tensor(1.0))

    def begin_step(self, step: int, done: float) -> None:
        level, alpha = schedule(done, self.levels, self.config.fade, self.config.final_share)
        self.level.fill_(level)
        self.alpha.fill_(alpha)

    def resolution(self) -> int:
        """Side of the images at the current level."""
        return self.spec.resolution // 2 ** (self.levels - 1 - int(self.level))

    def real_at_level(self, x: torch.Tensor) -> torch.Tensor:
        """Real images (B, C, H, W) at the current level, faded like G's output."""
        k = self.spec.resolution // self.resolution()
        xk = F.avg_pool2d(x, k) if k > 1 else x
        alpha = float(self.alpha)
        if int(self.level) > 0 and alpha < 1:
            coarse = F.interpolate(F.avg_pool2d(xk, 2), scale_factor=2, mode="nearest")
            xk = torch.lerp(coarse, xk, alpha)
        return xk

    def generate(
        self, z: torch.Tensor, y: torch.Tensor | None, generator: Generators | None = None
    ) -> torch.Tensor:
        return self.G(z, y, int(self.level), float(self.alpha))

    def critic(
        self, x: torch.Tensor, y: torch.Tensor | None, generator: Generators
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = diff_augment(x, self.config.diffaugment, generator)
        return self.D(x, y, int(self.level), float(self.alpha)), None

    def d_penalty(self, real_logit: torch.Tensor) -> torch.Tensor | None:
        """The drift term eps * E[D(x)^2]."""
        return self.config.drift * real_logit.float().pow(2).mean() if self.config.drift else None

    def loss(self, phase: str, batch: Batch, generator: torch.Generator) -> StepOutput:
        return super().loss(phase, replace(batch, x=self.real_at_level(batch.x)), generator)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        generator: Generators,
        labels: torch.Tensor | None = None,
        **options: Any,
    ) -> torch.Tensor:
        """Images at the current level, upsampled (nearest) to the full resolution, in [-1, 1]."""
        x = super().sample(n, generator=generator, labels=labels)
        k = self.spec.resolution // x.shape[-1]
        if k > 1:
            x = F.interpolate(x, scale_factor=k, mode="nearest")
        return x.clamp(-1, 1)
