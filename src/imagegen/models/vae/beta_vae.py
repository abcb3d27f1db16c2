"""beta-VAE (Higgins et al. 2017): a VAE whose KL weight beta > 1 presses the posterior towards the
factorised prior, trading reconstruction for disentangled latents, optionally with the controlled
capacity of Burgess et al. (2018): minimise E[-log p(x|z)] + beta |KL - C| while C grows linearly
from 0 to ``capacity`` nats over ``capacity_until`` of the budget, so information enters the latent
gradually. Its pictures are latent traversals (:meth:`VAE.traverse`) and its measure the active
units (:func:`imagegen.models.vae.latent.active_units`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from imagegen.data.base import DataSpec
from imagegen.models.base import check_range
from imagegen.models.vae.vae import VAE, VAEConfig


@dataclass
class BetaVAEConfig(VAEConfig):
    """beta-VAE hyper-parameters (see :class:`VAEConfig` for the shared fields).

    Attributes:
        beta: KL weight (> 1 for disentangling; 4 in Higgins et al. on dSprites).
        capacity: the target KL C in nats at the end of the ramp (0: plain beta-VAE).
        capacity_until: fraction of the budget over which C grows from 0.
    """

    latent_dim: int = 10
    beta: float = 4.0
    capacity: float = 0.0
    capacity_until: float = 0.5

    def validate(self) -> None:
        super().validate()
        check_range("BetaVAEConfig", "capacity", self.capacity, 0.0)
        check_range("BetaVAEConfig", "capacity_until", self.capacity_until, 1e-6, 1.0)


class BetaVAE(VAE):
    name = "beta_vae"
    summary = "beta-VAE: KL weight beta > 1 or a growing KL capacity C; traversals, active units"
    Config = BetaVAEConfig

    def __init__(self, config: BetaVAEConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.capacity_now = 0.0

    def begin_step(self, step: int, done: float) -> None:
        super().begin_step(step, done)
        c = self.config
        self.capacity_now = c.capacity * min(1.0, done / c.capacity_until)

    def training_kl(self, kl_dims: torch.Tensor) -> torch.Tensor:
        if self.config.capacity <= 0:
            return super().training_kl(kl_dims)
        # Burgess et al. 2018, Eq. 8: beta |KL - C|
        return self.kl_beta * (kl_dims.sum(1) - self.capacity_now).abs()
