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
    """z (B, z_dim) [+ label] -> image (B, C, H, W) in [-1, 1].

    Args:
        z_dim: latent size.
        width: channels at the base resolution (halved, to >= 16, at each doubling).
        spec: the data (channels, resolution).
        num_classes: > 0: the label's embedding is concatenated to z.
    """

    def __init__(self, z_dim: int, width: int, spec: DataSpec, num_classes: int = 0) -> None:
        super().__init__()
        self.base, stages = pyramid(spec.resolution)
        ch = _channels(width, stages)
        self.c0 = ch[0]
        self.embed = nn.Embedding(num_classes, z_dim) if num_classes else None
        in_dim = z_dim * (2 if num_classes else 1)
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
    """image (B, C, H, W) [+ label] -> logit (B,).

    Args:
        width: channels at the base resolution (halved, to >= 16, at each doubling).
        spec: the data (channels, resolution).
        num_classes: > 0: projection head on the label.
        norm: after each strided conv but the first: "batch" (the paper), "layer" (GroupNorm with
            one group) or "none" (the last two keep each image's output a function of that image
            alone, as a gradient penalty on per-image gradients needs).
    """

    def __init__(
        self, width: int, spec: DataSpec, num_classes: int = 0, norm: str = "batch"
    ) -> None:
        super().__init__()
        base, stages = pyramid(spec.resolution)
        ch = _channels(width, stages)[::-1]  # narrow at full resolution
        layers: list[nn.Module] = [
            nn.Conv2d(spec.channels, ch[0], 3, 1, 1),
            nn.LeakyReLU(0.2, True),
        ]
        for i in range(stages):
            layers += [nn.Conv2d(ch[i], ch[i + 1], 4, 2, 1, bias=norm == "none")]
            if i > 0 and norm != "none":  # no norm on the first block, as in the paper
                c = ch[i + 1]
                layers += [nn.BatchNorm2d(c) if norm == "batch" else nn.GroupNorm(1, c)]
            layers += [nn.LeakyReLU(0.2, True)]
        self.features = nn.Sequential(*layers, nn.Flatten())
        feat = ch[-1] * base * base
        self.psi = nn.Linear(feat, 1)
        self.embed = nn.Embedding(num_classes, feat) if num_classes else None
        if self.embed is not None:  # scaled like psi: N(0, 1) rows would give logits of ~sqrt(feat)
            nn.init.uniform_(self.embed.weight, -(feat**-0.5), feat**-0.5)

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
        n_cls = spec.num_classes if config.conditional else 0
        self.G = Generator(config.z_dim, config.width, spec, n_cls)
        self.D = Discriminator(config.width, spec, n_cls)
