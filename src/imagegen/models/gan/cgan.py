"""Class-conditional GAN: the label enters G through a learned embedding (conditional batch norm
in every block) and D through a projection head (Miyato & Koyama 2018):

    D(x, y) = psi(phi(x)) + <embed(y), phi(x)>,

optionally with an ACGAN auxiliary classifier (Odena et al. 2017): a head on phi(x) predicts the
class of real and generated images, and both players add ``aux_weight`` times its cross-entropy
(for G: of its own images with the labels it was asked for). ``projection=False`` with
``aux_weight > 0`` is ACGAN as published. The discriminator is spectrally normalised (SNGAN).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from imagegen.data.base import DataSpec
from imagegen.errors import ConfigError
from imagegen.models.base import check_range
from imagegen.models.gan.adversarial import Adversarial, GANConfig
from imagegen.models.gan.losses import GANLoss
from imagegen.models.gan.resnet import ResNetDiscriminator, ResNetGenerator


@dataclass
class CGANConfig(GANConfig):
    """Conditional GAN hyper-parameters.

    Attributes:
        width: channels of the widest generator / discriminator layer.
        embed_dim: size of G's class embedding.
        projection: the projection term in D.
        aux_weight: weight of the ACGAN auxiliary classification loss (0: none).
    """

    conditional: bool = True
    loss: GANLoss = "hinge"
    beta1: float = 0.0
    beta2: float = 0.9
    width: int = 128
    embed_dim: int = 64
    projection: bool = True
    aux_weight: float = 0.0

    def validate(self) -> None:
        super().validate()
        check_range("CGANConfig", "width", self.width, 16)
        check_range("CGANConfig", "embed_dim", self.embed_dim, 1)
        check_range("CGANConfig", "aux_weight", self.aux_weight, 0.0)
        if not self.conditional:
            raise ConfigError(
                "CGANConfig.conditional=false: the conditional GAN needs labels; "
                "use dcgan or sagan for unconditional training"
            )
        if not self.projection and self.aux_weight == 0:
            raise ConfigError(
                "CGANConfig: projection=false with aux_weight=0 leaves D blind to the label: "
                "set projection=true or aux_weight > 0 (ACGAN)"
            )


class CGAN(Adversarial):
    name = "cgan"
    summary = "Conditional GAN: class-conditional BN in G, projection D (+ optional ACGAN head)"
    Config = CGANConfig
    needs_labels = True

    def __init__(self, config: CGANConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        k = spec.num_classes
        self.G = ResNetGenerator(
            config.z_dim, config.width, spec, num_classes=k, embed_dim=config.embed_dim
        )
        self.D = ResNetDiscriminator(
            config.width,
            spec,
            spectral=True,
            num_classes=k if config.projection else 0,
            aux_classes=k if config.aux_weight > 0 else 0,
        )

    def class_loss(
        self, logits: torch.Tensor | None, y: torch.Tensor | None
    ) -> torch.Tensor | None:
        if logits is None or y is None:
            return None
        return self.config.aux_weight * F.cross_entropy(logits.float(), y)
