"""What every model of the VAE family offers beyond sampling: encode, decode, reconstruct,
interpolate and the ELBO. Latent diffusion uses ``encode``/``decode`` of a frozen member."""

from __future__ import annotations

from typing import Any

import torch

from imagegen.errors import ConfigError
from imagegen.models.base import GenerativeModel
from imagegen.models.vae import likelihood as lik
from imagegen.seeding import Generators


class Autoencoder(GenerativeModel):
    """Base of the VAE family. Images are float ``(B, C, H, W)`` in ``[-1, 1]``."""

    family = "vae"

    def encode(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Deterministic latents of ``x``: the posterior mean (or the quantised code vectors)."""
        raise NotImplementedError

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Latents -> mean images, float32 ``(B, C, H, W)`` in [-1, 1]."""
        raise NotImplementedError

    def elbo_terms(
        self, x: torch.Tensor, labels: torch.Tensor | None, generator: Generators
    ) -> dict[str, torch.Tensor]:
        """Per-image terms of the negative ELBO in nats: ``rec`` = -log p(x|z) and ``kl``, (B,);
        a model may add what it computed on the way (``mu``: posterior means, ``codes``)."""
        raise NotImplementedError

    @property
    def latent_shape(self) -> tuple[int, ...]:
        """Shape of one image's latents from :meth:`encode`, without the batch dim."""
        x = torch.zeros(1, self.spec.channels, self.spec.resolution, self.spec.resolution)
        with torch.no_grad():
            return tuple(self.encode(x.to(next(self.parameters()).device)).shape[1:])

    @property
    def likelihood(self) -> str:
        return self.config.likelihood

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Decode the deterministic latents of ``x``: (B, C, H, W) in [-1, 1] -> same."""
        y = self.check_labels(x.shape[0], labels, x.device)
        return self.decode(self.encode(x, y), y).float()

    @torch.no_grad()
    def interpolate(
        self,
        x_a: torch.Tensor,
        x_b: torch.Tensor,
        n: int,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Decode ``n`` latents on the line from ``encode(x_a)`` to ``encode(x_b)``.

        Args:
            x_a, x_b: (B, C, H, W) in [-1, 1], the two ends of B interpolations.
            n: points per interpolation, ends included (>= 2).
            labels: (B,) labels of a conditional model (kept along each line).
        Returns:
            (B, n, C, H, W) in [-1, 1].
        """
        b = x_a.shape[0]
        y = self.check_labels(b, labels, x_a.device)
        z_a, z_b = self.encode(x_a, y), self.encode(x_b, y)
        w = torch.linspace(0, 1, n, device=x_a.device)
        zs = torch.stack([torch.lerp(z_a, z_b, float(t)) for t in w], dim=1)  # (B, n, ...)
        ys = None if y is None else y.repeat_interleave(n)
        out = self.decode(self.snap(zs.flatten(0, 1)), ys)
        return out.view(b, n, *out.shape[1:]).float()

    def snap(self, z: torch.Tensor) -> torch.Tensor:
        """Map an interpolated latent back onto the latent space (identity; VQ-VAE quantises)."""
        return z

    @torch.no_grad()
    def negative_elbo(
        self, x: torch.Tensor, labels: torch.Tensor | None, generator: Generators
    ) -> dict[str, torch.Tensor]:
        """-ELBO per image as a bound on the 8-bit data: ``nats``, ``bpd``, ``rec``, ``kl`` (B,),
        and the extra terms of :meth:`elbo_terms`."""
        y = self.check_labels(x.shape[0], labels, x.device)
        terms = self.elbo_terms(x, y, generator)
        dims = x[0].numel()
        nats = lik.discrete_nats(self.likelihood, terms["rec"] + terms["kl"], dims)
        return {**terms, "nats": nats, "bpd": lik.bits_per_dim(nats, dims)}

    def sample_options(self) -> dict[str, Any]:
        return {"temperature": 1.0}

    @staticmethod
    def check_temperature(temperature: float) -> None:
        if not temperature >= 0:
            raise ConfigError(
                f"temperature={temperature} is not allowed: use 0 (the prior's mode) or more"
            )
