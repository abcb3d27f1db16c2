"""DCGAN (Radford et al. 2016): transposed-conv generator, strided-conv discriminator, batch norm.

Class-conditional when ``conditional=True``: the label embedding is concatenated to z in G and the
discriminator uses a projection head (Miyato & Koyama 2018): D(x, y) = psi(phi(x)) + <embed(y), phi(x)>.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from imagegen.data.base import Batch, DataSpec
from imagegen.models.base import (
    GenerativeModel,
    ModelConfig,
    OptimSettings,
    Phase,
    StepOutput,
    check_choice,
    check_range,
)
from imagegen.models.layers import pyramid
from imagegen.seeding import Generators, randn

GANLoss = Literal["ns", "hinge", "lsgan"]


@dataclass
class DCGANConfig(ModelConfig):
    """DCGAN hyper-parameters.

    Attributes:
        z_dim: latent size.
        width: channels of the widest generator/discriminator layer.
        loss: "ns" (non-saturating), "hinge" or "lsgan" (least squares).
        conditional: condition on class labels (needs a labelled dataset).
        lr_g, lr_d: Adam learning rates; betas (0.5, 0.999) as in the paper.
    """

    z_dim: int = 64
    width: int = 128
    loss: GANLoss = "ns"
    conditional: bool = False
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5

    def validate(self) -> None:
        check_choice("DCGANConfig", "loss", self.loss, ("ns", "hinge", "lsgan"))
        check_range("DCGANConfig", "z_dim", self.z_dim, 1)
        check_range("DCGANConfig", "width", self.width, 8)
        check_range("DCGANConfig", "lr_g", self.lr_g, 0.0, 1.0)
        check_range("DCGANConfig", "lr_d", self.lr_d, 0.0, 1.0)
        check_range("DCGANConfig", "beta1", self.beta1, 0.0, 0.999)


def _channels(width: int, stages: int) -> list[int]:
    """Channels per resolution level, widest at the base: [width, width/2, ...] (>= 16)."""
    return [max(width // 2**i, 16) for i in range(stages + 1)]


class Generator(nn.Module):
    """z (B, z_dim) [+ label] -> image (B, C, H, W) in [-1, 1]."""

    def __init__(self, cfg: DCGANConfig, spec: DataSpec) -> None:
        super().__init__()
        self.base, stages = pyramid(spec.resolution)
        ch = _channels(cfg.width, stages)
        self.c0 = ch[0]
        n_cls = spec.num_classes if cfg.conditional else 0
        self.embed = nn.Embedding(n_cls, cfg.z_dim) if n_cls else None
        in_dim = cfg.z_dim * (2 if n_cls else 1)
        self.fc = nn.Sequential(
            nn.Linear(in_dim, ch[0] * self.base**2, bias=False),
            nn.BatchNorm1d(ch[0] * self.base**2),
            nn.ReLU(True),
        )
        ups: list[nn.Module] = []
        for i in range(stages):
            ups += [
                nn.ConvTranspose2d(ch[i], ch[i + 1], 4, 2, 1, bias=False),
                nn.BatchNorm2d(ch[i + 1]),
                nn.ReLU(True),
            ]
        self.ups = nn.Sequential(*ups)
        self.out = nn.Conv2d(ch[-1], spec.channels, 3, 1, 1)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(y)], dim=1)
        h = self.fc(z).view(z.shape[0], self.c0, self.base, self.base)  # (B, c0, base, base)
        return torch.tanh(self.out(self.ups(h)))


class Discriminator(nn.Module):
    """image (B, C, H, W) [+ label] -> logit (B,)."""

    def __init__(self, cfg: DCGANConfig, spec: DataSpec) -> None:
        super().__init__()
        base, stages = pyramid(spec.resolution)
        ch = _channels(cfg.width, stages)[::-1]  # narrow at full resolution
        layers: list[nn.Module] = [
            nn.Conv2d(spec.channels, ch[0], 3, 1, 1),
            nn.LeakyReLU(0.2, True),
        ]
        for i in range(stages):
            layers += [nn.Conv2d(ch[i], ch[i + 1], 4, 2, 1, bias=False)]
            if i > 0:  # no BN on the first block, as in the paper
                layers += [nn.BatchNorm2d(ch[i + 1])]
            layers += [nn.LeakyReLU(0.2, True)]
        self.features = nn.Sequential(*layers, nn.Flatten())
        feat = ch[-1] * base * base
        self.psi = nn.Linear(feat, 1)
        n_cls = spec.num_classes if cfg.conditional else 0
        self.embed = nn.Embedding(n_cls, feat) if n_cls else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        phi = self.features(x)  # (B, feat)
        out = self.psi(phi).squeeze(1)
        if self.embed is not None:
            out = out + (self.embed(y) * phi).sum(1)  # projection term
        return out


def d_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Discriminator loss from real and fake logits (B,)."""
    if kind == "ns":
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    if kind == "hinge":
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    return 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake**2).mean()  # lsgan


def g_loss(kind: str, fake: torch.Tensor) -> torch.Tensor:
    """Generator loss from fake logits (B,)."""
    if kind == "ns":
        return F.softplus(-fake).mean()
    if kind == "hinge":
        return -fake.mean()
    return 0.5 * ((fake - 1) ** 2).mean()


class DCGAN(GenerativeModel):
    name = "dcgan"
    family = "gan"
    summary = (
        "DCGAN: transposed-conv G, strided-conv D with BN; ns/hinge/lsgan loss; optional labels"
    )
    Config = DCGANConfig

    def __init__(self, config: DCGANConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.G = Generator(config, spec)
        self.D = Discriminator(config, spec)

    @property
    def conditional(self) -> bool:
        return self.config.conditional

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"D": list(self.D.parameters()), "G": list(self.G.parameters())}

    def optim_settings(self, group: str) -> OptimSettings:
        lr = self.config.lr_d if group == "D" else self.config.lr_g
        return OptimSettings(lr=lr, betas=(self.config.beta1, 0.999))

    def phases(self) -> list[Phase]:
        return [Phase("D", "D"), Phase("G", "G")]

    def _z(self, n: int, generator: Generators, device: torch.device) -> torch.Tensor:
        return randn((n, self.config.z_dim), generator, device)

    def _fake_labels(self, batch: Batch) -> torch.Tensor | None:
        # Fake labels follow the data's label distribution: reuse the batch's labels.
        return batch.y if self.conditional else None

    def loss(self, phase: str, batch: Batch, generator: torch.Generator) -> StepOutput:
        x = batch.x
        y = self._fake_labels(batch)
        z = self._z(x.shape[0], generator, x.device)
        if phase == "D":
            with torch.no_grad():
                fake = self.G(z, y)
            real_logit = self.D(x, y)
            fake_logit = self.D(fake, y)
            loss = d_loss(self.config.loss, real_logit, fake_logit)
            return StepOutput(
                loss,
                {
                    "loss/D": loss.detach(),
                    "D(x)": real_logit.detach().mean(),
                    "D(G(z))": fake_logit.detach().mean(),
                },
            )
        fake_logit = self.D(self.G(z, y), y)
        loss = g_loss(self.config.loss, fake_logit)
        return StepOutput(loss, {"loss/G": loss.detach()})

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        generator: Generators,
        labels: torch.Tensor | None = None,
        **options: Any,
    ) -> torch.Tensor:
        device = next(self.parameters()).device
        y = self.check_labels(n, labels, device)
        return self.G(self._z(n, generator, device), y).float()
