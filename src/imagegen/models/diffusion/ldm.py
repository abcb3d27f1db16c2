"""Latent diffusion (Rombach et al. 2022): DDPM on the latents of a frozen autoencoder.

x_0 = s · E(image), with E a trained member of the VAE family (its posterior mean, or a VQ-VAE's
code vectors) and s the latent scale factor: 1 / std of the latents of the first training batch
(as Stable Diffusion's 0.18215 was computed), so the diffusion sees latents of unit variance. A
sample is D(snap(x_0 / s)): a VQ-VAE's latents are snapped to their nearest code vectors.
Vector latents (``vae``: (d,)) are diffused as (d, 1, 1) maps by a one-level UNet.

The autoencoder's architecture is part of the config (``autoencoder_model`` and
``autoencoder_config``) and its weights part of every checkpoint, so a run is self-contained;
:func:`imagegen.sampling.run.create_ldm` builds the model from a trained autoencoder run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from imagegen.data.base import Batch, DataSpec
from imagegen.errors import ConfigError
from imagegen.models.base import StepOutput
from imagegen.models.diffusion.ddpm import DDPM, DDPMConfig


@dataclass
class LDMConfig(DDPMConfig):
    """DDPM's fields for the latent UNet, plus its autoencoder.

    Attributes:
        autoencoder_model: the autoencoder's model name (``klvae``, ``vqvae``, ``vae``, ``beta_vae``).
        autoencoder_config: its config fields.
        autoencoder_run: the run its weights came from (a record; not read again).
        scale: the latent scale factor s; 0: 1 / std of the first training batch's latents.
        snap: decode a VQ-VAE's sampled latents at their nearest code vectors.
    """

    channels: tuple[int, ...] = (128,)
    attention: tuple[bool, ...] = (False,)
    autoencoder_model: str = ""
    autoencoder_config: dict[str, Any] = field(default_factory=dict)
    autoencoder_run: str = ""
    scale: float = 0.0
    snap: bool = True

    def validate(self) -> None:
        super().validate()
        if self.scale < 0:
            raise ConfigError(
                f"LDMConfig.scale={self.scale} is not allowed: use 0 (from data) or more"
            )


class LDM(DDPM):
    name = "ldm"
    family = "diffusion"
    summary = "latent diffusion: DDPM (UNet, samplers, guidance) on a frozen VAE/VQ-VAE's latents"
    Config = LDMConfig
    clip = False  # latents are not bounded

    def __init__(self, config: LDMConfig, spec: DataSpec) -> None:
        from imagegen.models.registry import create_model  # the registry imports this module

        if not config.autoencoder_model:
            raise ConfigError(
                "ldm needs a trained autoencoder: train a klvae, vqvae or vae first, then "
                "`imagegen train ldm --set model.autoencoder_run=RUN` (Python: create_ldm(RUN))"
            )
        ae = create_model(config.autoencoder_model, spec, config.autoencoder_config)
        if getattr(ae, "family", "") != "vae" or not hasattr(ae, "decode"):
            raise ConfigError(
                f"'{config.autoencoder_model}' is not an autoencoder: use a run of klvae, vqvae or vae"
            )
        if ae.conditional:
            raise ConfigError(
                "the autoencoder is class-conditional, so its latents need a label to decode: "
                "use an unconditional klvae, vqvae or vae (the diffusion can still be conditional)"
            )
        latent = tuple(ae.latent_shape)
        if len(latent) == 1:
            shape = (latent[0], 1, 1)
            if len(config.channels) != 1:
                raise ConfigError(
                    f"{config.autoencoder_model} latents are vectors ({latent[0]},): "
                    "use a one-level UNet (--set model.channels=[128] --set model.attention=[false])"
                )
        elif len(latent) == 3:
            shape = latent
        else:
            raise ConfigError(
                f"{config.autoencoder_model} latents of shape {latent} cannot be diffused by a "
                "UNet: use a klvae, vqvae or vae"
            )
        super().__init__(config, spec, shape=shape)
        self.autoencoder = ae.eval().requires_grad_(False)
        self.latent = latent
        # s, saved with every checkpoint; 0 until the first training batch sets it
        self.register_buffer("latent_scale", torch.tensor(float(config.scale)))
        # E(x) of training images by (flipped?, dataset position), NaN: not encoded yet; the
        # autoencoder is frozen, so each image is encoded once instead of once per epoch
        self._cache = torch.empty(0)

    def check_guide(self, guide: Any) -> None:
        """A guide must also diffuse the same latents: the same autoencoder run and scale s."""
        super().check_guide(guide)
        mine, theirs = self.config, guide.config
        same_ae = (mine.autoencoder_run, mine.autoencoder_config) == (
            theirs.autoencoder_run,
            theirs.autoencoder_config,
        )
        if not same_ae or float(guide.latent_scale) != float(self.latent_scale):
            raise ConfigError(
                "the guide diffuses other latents (its autoencoder run or latent scale differs): "
                "train the guide on the same autoencoder run and data"
            )

    def param_groups(self) -> dict[str, list[torch.nn.Parameter]]:
        return {"main": list(self.unet.parameters())}  # the autoencoder stays frozen

    def train(self, mode: bool = True) -> LDM:
        super().train(mode)
        self.autoencoder.eval()  # its norms keep their statistics
        return self

    @torch.no_grad()
    def latents(self, x: torch.Tensor) -> torch.Tensor:
        """E(x) as (B, *shape), unscaled."""
        return self.autoencoder.encode(x).float().reshape(x.shape[0], *self.shape)

    def training_latents(self, batch: Batch) -> torch.Tensor:
        """E(x) of a batch, from the cache for images of the training set seen before."""
        if batch.index is None or not self.training:
            return self.latents(batch.x)
        idx = batch.index.cpu()
        flip = torch.zeros_like(idx) if batch.flipped is None else batch.flipped.cpu().long()
        size = self._cache.shape[1] if self._cache.numel() else 0
        if size <= int(idx.max()):
            grown = torch.full((2, max(int(idx.max()) + 1, 2 * size), *self.shape), float("nan"))
            if size:
                grown[:, :size] = self._cache
            self._cache = grown
        z = self._cache[flip, idx]
        miss = torch.isnan(z.flatten(1)[:, 0])
        if miss.any():
            z[miss] = self.latents(batch.x[miss]).cpu()
            self._cache[flip[miss], idx[miss]] = z[miss]
        return z.to(batch.x.device)

    def diffused(self, batch: Batch) -> torch.Tensor:
        z = self.training_latents(batch)
        if float(self.latent_scale) == 0.0:
            self.latent_scale.fill_(1.0 / z.std().clamp(min=1e-6).item())
        return z * self.latent_scale

    def to_images(self, x_0: torch.Tensor) -> torch.Tensor:
        s = float(self.latent_scale) or 1.0  # an untrained model has not measured s yet
        z = (x_0 / s).reshape(x_0.shape[0], *self.latent)
        if self.config.snap:
            z = self.autoencoder.snap(z)
        return self.autoencoder.decode(z).float().clamp(-1, 1)

    def loss(self, phase: str, batch: Batch, generator: torch.Generator) -> StepOutput:
        out = super().loss(phase, batch, generator)
        out.logs["ldm/scale"] = self.latent_scale.detach().clone()
        return out
