"""BigGAN (Brock et al. 2019), scaled down: the ideas that made large class-conditional GANs work.

- A shared class embedding feeds conditional batch norm in every generator block; z is split
  into chunks, one for the input layer and one per block, concatenated to the embedding
  (the hierarchical latent, Sec. 3 and App. B).
- Spectral norm in G and D, a projection discriminator, self-attention, hinge loss,
  lr 1e-4 (G) / 4e-4 (D) with Adam betas (0, 0.999) and two D steps per G step.
- Orthogonal initialisation of G and D (App. B) and orthogonal regularisation of G's weights
  (Eq. 3): beta ||W W^T (1 - I)||_F^2, so that truncation keeps quality. The initialisation
  matters here: under PyTorch's default one the 3136 x 32 input layer alone starts with a
  penalty of 3.4 (at beta 1e-4), larger than G's adversarial loss, and its gradient shrinks the
  spectrally normalised raw weights, raising their effective learning rate.
- The truncation trick at sampling time: z drawn from a normal truncated to [-tau, tau]
  (``sample(..., truncation=tau)``) trades variety for fidelity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from imagegen.data.base import DataSpec
from imagegen.errors import ConfigError
from imagegen.models.base import check_range
from imagegen.models.gan.adversarial import Adversarial, GANConfig
from imagegen.models.gan.losses import GANLoss
from imagegen.models.gan.resnet import ResNetDiscriminator, ResNetGenerator
from imagegen.models.gan.sagan import attention_resolution
from imagegen.models.layers import pyramid
from imagegen.models.layers.gan_blocks import orthogonal_init_
from imagegen.seeding import Generators, rand


@dataclass
class BigGANConfig(GANConfig):
    """BigGAN hyper-parameters (defaults after the paper, at CPU scale).

    Attributes:
        width: channels of the widest generator / discriminator layer.
        embed_dim: size of the shared class embedding.
        attention: self-attention resolution (0: half the image size).
        ortho_reg: beta of the orthogonal regularisation (0: off).
        ortho_init: orthogonal initialisation of G and D (PyTorch's default otherwise).
    """

    z_dim: int = 96
    conditional: bool = True
    loss: GANLoss = "hinge"
    lr_g: float = 1e-4
    lr_d: float = 4e-4
    beta1: float = 0.0
    beta2: float = 0.999
    n_critic: int = 2
    width: int = 128
    embed_dim: int = 64
    attention: int = 0
    ortho_reg: float = 1e-4
    ortho_init: bool = True

    def validate(self) -> None:
        super().validate()
        check_range("BigGANConfig", "width", self.width, 16)
        check_range("BigGANConfig", "embed_dim", self.embed_dim, 1)
        check_range("BigGANConfig", "ortho_reg", self.ortho_reg, 0.0)


def orthogonal_penalty(weights: list[torch.Tensor]) -> torch.Tensor:
    """sum_W ||W W^T * (1 - I)||_F^2 over weights reshaped to (out, fan_in) (Eq. 3 of BigGAN).

    Computed as ||G||_F^2 - sum_i ||w_i||^4 with G the Gram matrix of the smaller side
    (||W W^T||_F = ||W^T W||_F; the diagonal of W W^T holds the squared row norms): the
    3136 x 32 input layer of the MNIST generator needs a 32 x 32 product, not 3136 x 3136.
    The difference cancels large terms, so it is taken in float64.
    """
    total = torch.zeros((), dtype=torch.float64)
    for w in weights:
        w = w.flatten(1).double()
        gram = w.T @ w if w.shape[0] > w.shape[1] else w @ w.T
        total = total + gram.pow(2).sum() - w.pow(2).sum(1).pow(2).sum()
    return total.float()


def truncated_normal(
    shape: tuple[int, ...], tau: float, generator: Generators, device: torch.device
) -> torch.Tensor:
    """N(0, 1) truncated to [-tau, tau], by the inverse CDF of a uniform on [Phi(-tau), Phi(tau)]."""
    lo = 0.5 * (1 + math.erf(-tau / math.sqrt(2)))
    u = lo + (1 - 2 * lo) * rand(shape, generator, device, torch.float64)
    return (math.sqrt(2) * torch.erfinv(2 * u - 1)).float()


class BigGAN(Adversarial):
    name = "biggan"
    summary = (
        "BigGAN: shared embedding + hierarchical z into conditional BN, SN, attention, "
        "projection D, orthogonal regularisation, truncation trick"
    )
    Config = BigGANConfig
    truncation_sweep: ClassVar[tuple[float, ...]] = (0.0, 2.0, 1.5, 1.0, 0.5, 0.25)  # 0: off

    def __init__(self, config: BigGANConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        _, stages = pyramid(spec.resolution)
        if config.z_dim < stages + 1:
            raise ConfigError(
                f"BigGANConfig.z_dim={config.z_dim} cannot be split into {stages + 1} chunks "
                f"(input layer + {stages} blocks): use z_dim >= {stages + 1}"
            )
        res = attention_resolution(config.attention, spec)
        n_cls = spec.num_classes if config.conditional else 0
        self.G = ResNetGenerator(
            config.z_dim,
            config.width,
            spec,
            spectral=True,
            attention=res,
            num_classes=n_cls,
            embed_dim=config.embed_dim if n_cls else 0,
            hierarchical=True,
        )
        self.D = ResNetDiscriminator(
            config.width, spec, spectral=True, attention=res, num_classes=n_cls
        )
        if config.ortho_init:
            orthogonal_init_(self.G)
            orthogonal_init_(self.D)

    def _regularised(self) -> list[torch.Tensor]:
        """G's conv and linear weights (not the embedding, norms or gains), pre-normalisation."""
        out = []
        for m in self.G.modules():
            if isinstance(m, nn.Conv2d | nn.Linear):
                p = getattr(m, "parametrizations", None)
                out.append(p.weight.original if p is not None else m.weight)
        return out

    def g_penalty(self) -> torch.Tensor | None:
        if self.config.ortho_reg == 0:
            return None
        return self.config.ortho_reg * orthogonal_penalty(self._regularised())

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        generator: Generators,
        labels: torch.Tensor | None = None,
        truncation: float = 0.0,
        **options: Any,
    ) -> torch.Tensor:
        """Images from z ~ N(0, I), or from a normal truncated to [-truncation, truncation]."""
        if truncation < 0:
            raise ConfigError(
                f"truncation={truncation} is negative: use 0 (off) or a threshold > 0"
            )
        device = next(self.parameters()).device
        y = self.check_labels(n, labels, device)
        shape = (n, self.config.z_dim)
        if truncation == 0:
            z = self.z(n, generator, device)
        else:
            z = truncated_normal(shape, truncation, generator, device)
        return self.generate(z, y).float()

    def sample_options(self) -> dict[str, Any]:
        return {"truncation": 0.0}
