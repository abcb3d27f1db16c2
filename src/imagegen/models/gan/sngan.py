"""SNGAN (Miyato et al. 2018): a ResNet GAN whose discriminator is held 1-Lipschitz per layer by
spectral normalisation, W / sigma(W), with sigma estimated by one power iteration per training step.

G is the paper's ResNet generator with batch norm and no spectral norm (SAGAN and BigGAN add it
to G as well); D is its ResNet discriminator with spectral norm on every layer, global sum pooling
and a linear head; hinge loss, Adam(2e-4, 0, 0.9) for both. The paper's setting is unconditional;
``conditional: true`` adds, like every GAN here, conditional batch norm (embedding size z_dim) and
a projection head (the ``cgan`` model is the dedicated class-conditional one, with its own embedding
size and the ACGAN option). Without self-attention or TTUR it is the baseline ``sagan`` extends.
"""

from __future__ import annotations

from dataclasses import dataclass

from imagegen.data.base import DataSpec
from imagegen.models.base import check_range
from imagegen.models.gan.adversarial import Adversarial, GANConfig
from imagegen.models.gan.losses import GANLoss
from imagegen.models.gan.resnet import ResNetDiscriminator, ResNetGenerator


@dataclass
class SNGANConfig(GANConfig):
    """SNGAN hyper-parameters (defaults: the paper's ResNet setting, except one D step per G step
    where it took five; on MNIST cgan's networks reached FID-10k 5.6 with one).

    Attributes:
        width: channels of the widest generator / discriminator layer.
    """

    loss: GANLoss = "hinge"
    beta1: float = 0.0
    beta2: float = 0.9
    width: int = 128

    def validate(self) -> None:
        super().validate()
        check_range("SNGANConfig", "width", self.width, 16)


class SNGAN(Adversarial):
    name = "sngan"
    summary = "SNGAN: ResNet G with batch norm, spectrally normalised ResNet D, hinge loss"
    Config = SNGANConfig

    def __init__(self, config: SNGANConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        n_cls = spec.num_classes if config.conditional else 0
        self.G = ResNetGenerator(
            config.z_dim,
            config.width,
            spec,
            num_classes=n_cls,
            embed_dim=config.z_dim if n_cls else 0,
        )
        self.D = ResNetDiscriminator(config.width, spec, spectral=True, num_classes=n_cls)
