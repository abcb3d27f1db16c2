"""DCGAN (Radford et al. 2016): transposed-conv generator, strided-conv discriminator, batch norm.

Class-conditional when ``conditional=True``: the label embedding is concatenated to z in G and the
discriminator uses a projection head (Miyato & Koyama 2018): D(x, y) = psi(phi(x)) + <embed(y), phi(x)>.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from imagegen.data.base import DataSpec
from imagegen.models.base import check_range
from imagegen.models.gan.adversarial import Adversarial, GANConfig
from imagegen.models.layers import pyramid


@dataclass
class DCGANConfig(GANConfig):
    """DCGAN hyper-parameters: the shared GAN settings (:class:`GANConfig`; Adam betas (0.5,
    0.999) as in the paper) and the network width.

    Attributes:
        width: channels of the widest generator/discriminator layer.
    """

    width: int = 128

    def validate(self) -> None:
        super().validate()
        check_range("DCGANConfig", "width", self.width, 8)


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


class DCGAN(Adversarial):
    name = "dcgan"
    summary = (
        "DCGAN: transposed-conv G, strided-conv D with BN; ns/hinge/lsgan loss; optional labels"
    )
    Config = DCGANConfig

    def __init__(self, config: DCGANConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.G = Generator(config, spec)
        self.D = Discriminator(config, spec)
