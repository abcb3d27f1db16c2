"""SAGAN (Zhang et al. 2019): self-attention in G and D, spectral norm in both, hinge loss, TTUR.

Self-attention lets distant parts of an image agree (the two strokes of a 4); spectral
normalisation of G as well as D steadies training; the two time-scale update rule (Heusel et al.
2017) gives D a 4x larger learning rate (4e-4 vs 1e-4, Adam betas (0, 0.9)) instead of several D
steps per G step. Class-conditional with conditional batch norm in G and a projection D.
"""

from __future__ import annotations

from dataclasses import dataclass

from imagegen.data.base import DataSpec
from imagegen.errors import ConfigError
from imagegen.models.base import check_range
from imagegen.models.gan.adversarial import Adversarial, GANConfig
from imagegen.models.gan.losses import GANLoss
from imagegen.models.gan.resnet import ResNetDiscriminator, ResNetGenerator
from imagegen.models.layers import pyramid


@dataclass
class SAGANConfig(GANConfig):
    """SAGAN hyper-parameters (defaults: the paper's).

    Attributes:
        width: channels of the widest generator / discriminator layer.
        attention: resolution of the self-attention blocks in G and D (0: half the image size).
    """

    loss: GANLoss = "hinge"
    lr_g: float = 1e-4
    lr_d: float = 4e-4
    beta1: float = 0.0
    beta2: float = 0.9
    width: int = 128
    attention: int = 0

    def validate(self) -> None:
        super().validate()
        check_range("SAGANConfig", "width", self.width, 16)
        check_range("SAGANConfig", "attention", self.attention, 0)


def attention_resolution(requested: int, spec: DataSpec) -> int:
    """The resolution for self-attention: ``requested`` (0: half the image size), checked to be
    a feature-map size of both networks (from the base size up to half the image size)."""
    base, stages = pyramid(spec.resolution)
    inner = [base * 2**i for i in range(stages)]
    res = requested or spec.resolution // 2
    if res not in inner:
        raise ConfigError(
            f"attention={requested} is not a feature-map size of {spec.resolution}x"
            f"{spec.resolution} images: use one of {', '.join(map(str, inner))} (or 0)"
        )
    return res


class SAGAN(Adversarial):
    name = "sagan"
    summary = "SAGAN: self-attention and spectral norm in G and D, hinge loss, TTUR"
    Config = SAGANConfig

    def __init__(self, config: SAGANConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        res = attention_resolution(config.attention, spec)
        n_cls = spec.num_classes if config.conditional else 0
        self.G = ResNetGenerator(
            config.z_dim,
            config.width,
            spec,
            spectral=True,
            attention=res,
            num_classes=n_cls,
            embed_dim=config.z_dim if n_cls else 0,
        )
        self.D = ResNetDiscriminator(
            config.width, spec, spectral=True, attention=res, num_classes=n_cls
        )
