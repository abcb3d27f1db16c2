"""Conditional VAE (Sohn, Lee & Yan 2015): q(z|x, y), a learned class prior p(z|y) and p(x|z, y).

The ELBO of log p(x|y) is E_q[-log p(x|z, y)] + KL(q(z|x, y) || p(z|y)); with the prior network
(a class embedding to mu_p, logvar_p) each class gets its own region of latent space, and
``sample(labels=...)`` draws z ~ p(z|y) for the asked class. ``imagegen sample --label L``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from imagegen.data.base import DataSpec
from imagegen.errors import ConfigError
from imagegen.models.vae.vae import VAE, VAEConfig


@dataclass
class CVAEConfig(VAEConfig):
    """CVAE hyper-parameters (see :class:`VAEConfig`); always conditional on class labels."""

    conditional: bool = True

    def validate(self) -> None:
        super().validate()
        if not self.conditional:
            raise ConfigError(
                "CVAEConfig.conditional=false is not allowed: a CVAE needs labels (use model 'vae')"
            )


class CVAE(VAE):
    name = "cvae"
    summary = "conditional VAE: q(z|x,y), learned class prior p(z|y), p(x|z,y); sample --label"
    Config = CVAEConfig
    needs_labels: ClassVar[bool] = True

    def __init__(self, config: CVAEConfig, spec: DataSpec) -> None:
        if spec.num_classes < 2:
            raise ConfigError(
                f"cvae needs a labelled dataset, but '{spec.name}' has no classes: "
                "use a dataset with labels or model 'vae'"
            )
        super().__init__(config, spec)
        self.prior_net = nn.Embedding(spec.num_classes, 2 * config.latent_dim)
        nn.init.zeros_(self.prior_net.weight)  # starts as N(0, I) for every class

    def prior(
        self, y: torch.Tensor | None, like: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.prior_net(y).float().chunk(2, dim=1)
        return mu, logvar.clamp(-10.0, 10.0)
