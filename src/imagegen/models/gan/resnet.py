"""ResNet generator and discriminator of SNGAN (Miyato et al. 2018, App. B), configurable with the
ideas that WGAN-GP, SAGAN and BigGAN add to them: spectral norm, self-attention, conditional batch
norm from a shared class embedding plus a chunk of z (BigGAN's hierarchical latent), a projection
discriminator, and the layer-normalised critic of WGAN-GP.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from imagegen.data.base import DataSpec
from imagegen.models.layers import pyramid
from imagegen.models.layers.gan_blocks import DBlock, GBlock, SelfAttention2d, sn


class ResNetGenerator(nn.Module):
    """z (B, z_dim) [, y] -> image (B, C, H, W) in [-1, 1].

    Args:
        z_dim: latent size.
        width: channels at the base resolution (halved, to >= 16, at each doubling).
        spec: the data (channels, resolution, classes).
        spectral: spectral norm on every layer (SAGAN, BigGAN).
        attention: resolution of the self-attention block (0: none).
        num_classes: > 0 with ``embed_dim``: class-conditional batch norm.
        embed_dim: size of the shared class embedding (BigGAN; 0: none).
        hierarchical: split z into one chunk for the input layer and one per block, each block's
            norms conditioned on [embedding, chunk] (BigGAN's hierarchical latent).
    """

    def __init__(
        self,
        z_dim: int,
        width: int,
        spec: DataSpec,
        spectral: bool = False,
        attention: int = 0,
        num_classes: int = 0,
        embed_dim: int = 0,
        hierarchical: bool = False,
    ) -> None:
        super().__init__()
        self.base, stages = pyramid(spec.resolution)
        ch = [max(width // 2**i, 16) for i in range(stages + 1)]
        self.c0 = ch[0]
        self.hierarchical = hierarchical
        n_chunks = stages + 1 if hierarchical else 1
        self.chunk = z_dim // n_chunks if hierarchical else z_dim
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes and embed_dim else None
        cond_dim = (embed_dim if self.embed is not None else 0) + (
            self.chunk if hierarchical else 0
        )
        z_in = z_dim - self.chunk * stages if hierarchical else z_dim
        # Under spectral norm the input layer's weight is bounded but a bias would not be: it
        # grows into a fixed spatial template that the next batch norm cannot remove, and z's
        # share of the 7x7 input shrinks until G ignores it (a biggan run: z's variance 0.002
        # against the bias's 0.014; samples of a class were near copies). So no bias there.
        self.fc = sn(nn.Linear(z_in, ch[0] * self.base**2, bias=not spectral), spectral)
        self.blocks = nn.ModuleList()
        self.attn = nn.ModuleDict()
        if attention == self.base:
            self.attn["in"] = SelfAttention2d(ch[0], spectral)
        res = self.base
        for i in range(stages):
            self.blocks.append(GBlock(ch[i], ch[i + 1], cond_dim, spectral))
            res *= 2
            if res == attention:
                self.attn[str(i)] = SelfAttention2d(ch[i + 1], spectral)
        self.out = nn.Sequential(
            nn.BatchNorm2d(ch[-1]),
            nn.ReLU(),
            sn(nn.Conv2d(ch[-1], spec.channels, 3, 1, 1), spectral),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.hierarchical:
            n = len(self.blocks)
            zs = z.split([z.shape[1] - self.chunk * n] + [self.chunk] * n, dim=1)
            z0, chunks = zs[0], zs[1:]
        else:
            z0, chunks = z, [None] * len(self.blocks)
        e = self.embed(y) if self.embed is not None else None
        h = self.fc(z0).view(z.shape[0], self.c0, self.base, self.base)  # (B, c0, base, base)
        if "in" in self.attn:
            h = self.attn["in"](h)
        for i, (block, zi) in enumerate(zip(self.blocks, chunks, strict=True)):
            parts = [t for t in (e, zi) if t is not None]
            c = torch.cat(parts, dim=1) if parts else None
            h = block(h, c)
            if str(i) in self.attn:
                h = self.attn[str(i)](h)
        return self.out(h)


class ResNetDiscriminator(nn.Module):
    """image (B, C, H, W) [, y] -> logits (B,): residual down-blocks, ReLU, global sum pooling,
    linear; with classes, the projection term <embed(y), phi(x)> (Miyato & Koyama 2018).

    Args:
        width: channels at the lowest resolution (halved, to >= 16, towards full resolution).
        spec: the data.
        spectral: spectral norm on every layer.
        attention: resolution of the self-attention block (0: none).
        num_classes: > 0: projection discriminator.
        norm: "none" or "layer" (WGAN-GP's critic).
        aux_classes: > 0: also an auxiliary classifier head (ACGAN), see :meth:`heads`.
    """

    def __init__(
        self,
        width: int,
        spec: DataSpec,
        spectral: bool = False,
        attention: int = 0,
        num_classes: int = 0,
        norm: str = "none",
        aux_classes: int = 0,
    ) -> None:
        super().__init__()
        _, stages = pyramid(spec.resolution)
        ch = [max(width // 2 ** (stages - 1 - i), 16) for i in range(stages)]
        blocks: list[nn.Module] = []
        c_in, res = spec.channels, spec.resolution
        for i, c in enumerate(ch):
            blocks.append(DBlock(c_in, c, spectral, down=True, first=i == 0, norm=norm))
            res //= 2
            c_in = c
            if res == attention:
                blocks.append(SelfAttention2d(c, spectral))
        blocks.append(DBlock(c_in, c_in, spectral, down=False, norm=norm))
        self.blocks = nn.Sequential(*blocks)
        self.psi = sn(nn.Linear(c_in, 1), spectral)
        self.embed = sn(nn.Embedding(num_classes, c_in), spectral) if num_classes else None
        self.aux = sn(nn.Linear(c_in, aux_classes), spectral) if aux_classes else None

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """phi(x): (B, C, H, W) -> (B, width), ReLU then sum over positions."""
        return F.relu(self.blocks(x)).sum(dim=(2, 3))

    def heads(
        self, x: torch.Tensor, y: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(real/fake logits (B,), auxiliary class logits (B, K) or None)."""
        phi = self.features(x)
        out = self.psi(phi).squeeze(1)
        if self.embed is not None:
            out = out + (self.embed(y) * phi).sum(1)  # projection term
        return out, None if self.aux is None else self.aux(phi)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.heads(x, y)[0]
