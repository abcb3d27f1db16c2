"""WGAN-GP (Gulrajani et al. 2017): a Wasserstein critic kept 1-Lipschitz by a gradient penalty.

The critic maximises E[D(x)] - E[D(G(z))] - lambda E[(||grad D(x_hat)||_2 - 1)^2] over random
interpolates x_hat (Algorithm 1: lambda = 10, n_critic = 5, Adam(1e-4, 0, 0.9)); the generator
minimises -E[D(G(z))]. The networks are the paper's ResNets (``arch: resnet``) or, cheaper per step,
the DCGAN-style convnets of its MNIST experiment (``arch: dcgan``); either critic uses layer norm or
no norm instead of batch norm, which would couple the images whose per-image gradients the penalty
constrains.
"""

from __future__ import annotations

from dataclasses import dataclass

from imagegen.data.base import DataSpec
from imagegen.models.base import check_choice, check_range
from imagegen.models.gan import dcgan
from imagegen.models.gan.adversarial import Adversarial, GANConfig
from imagegen.models.gan.losses import GANLoss
from imagegen.models.gan.resnet import ResNetDiscriminator, ResNetGenerator


@dataclass
class WGANGPConfig(GANConfig):
    """WGAN-GP hyper-parameters (defaults: Algorithm 1 of the paper).

    Attributes:
        width: channels of the widest generator / critic layer.
        arch: "resnet" (the paper's CIFAR-10 networks) or "dcgan" (DCGAN-style transposed-conv G
            and strided-conv critic, like the paper's MNIST code; about half the cost per step).
        critic_norm: "layer" (the paper's recommendation) or "none".
    """

    loss: GANLoss = "wasserstein"
    gp_weight: float = 10.0
    n_critic: int = 5
    lr_g: float = 1e-4
    lr_d: float = 1e-4
    beta1: float = 0.0
    beta2: float = 0.9
    width: int = 128
    arch: str = "resnet"
    critic_norm: str = "layer"

    def validate(self) -> None:
        super().validate()
        check_range("WGANGPConfig", "width", self.width, 16)
        check_choice("WGANGPConfig", "arch", self.arch, ("resnet", "dcgan"))
        check_choice("WGANGPConfig", "critic_norm", self.critic_norm, ("layer", "none"))


class WGANGP(Adversarial):
    name = "wgan_gp"
    summary = (
        "WGAN-GP: ResNet or DCGAN-style G and a layer-norm critic, Wasserstein loss, gradient "
        "penalty, n_critic"
    )
    Config = WGANGPConfig

    def __init__(self, config: WGANGPConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        n_cls = spec.num_classes if config.conditional else 0
        if config.arch == "dcgan":
            self.G = dcgan.Generator(config.z_dim, config.width, spec, n_cls)
            self.D = dcgan.Discriminator(config.width, spec, n_cls, norm=config.critic_norm)
            return
        self.G = ResNetGenerator(
            config.z_dim,
            config.width,
            spec,
            num_classes=n_cls,
            embed_dim=config.z_dim if n_cls else 0,
        )
        self.D = ResNetDiscriminator(config.width, spec, num_classes=n_cls, norm=config.critic_norm)
