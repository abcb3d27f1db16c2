"""Name -> model class, and :func:`create_model`."""

from __future__ import annotations

from typing import Any

import torch

from imagegen.data.base import DataSpec
from imagegen.errors import ConfigError
from imagegen.models.base import GenerativeModel, ModelConfig
from imagegen.models.diffusion.ddpm import DDPM
from imagegen.models.diffusion.ldm import LDM
from imagegen.models.gan.biggan import BigGAN
from imagegen.models.gan.cgan import CGAN
from imagegen.models.gan.dcgan import DCGAN
from imagegen.models.gan.pggan import PGGAN
from imagegen.models.gan.sagan import SAGAN
from imagegen.models.gan.sngan import SNGAN
from imagegen.models.gan.stylegan import StyleGAN
from imagegen.models.gan.wgan_gp import WGANGP
from imagegen.models.vae.beta_vae import BetaVAE
from imagegen.models.vae.cvae import CVAE
from imagegen.models.vae.hvae import HVAE
from imagegen.models.vae.klvae import KLVAE
from imagegen.models.vae.vae import VAE
from imagegen.models.vae.vqvae import VQVAE

MODELS: dict[str, type[GenerativeModel]] = {
    m.name: m
    for m in (
        DCGAN,
        WGANGP,
        CGAN,
        SNGAN,
        SAGAN,
        BigGAN,
        StyleGAN,
        PGGAN,
        VAE,
        BetaVAE,
        CVAE,
        VQVAE,
        HVAE,
        KLVAE,
        DDPM,
        LDM,
    )
}


def get_model_class(name: str) -> type[GenerativeModel]:
    try:
        return MODELS[name]
    except KeyError:
        raise ConfigError(
            f"unknown model '{name}': choose one of {', '.join(sorted(MODELS))} (see `imagegen models`)"
        ) from None


def make_config(name: str, overrides: dict[str, Any] | None = None) -> ModelConfig:
    """The model's config with ``overrides`` applied (unknown keys are a ConfigError)."""
    cls = get_model_class(name)
    return cls.Config.from_dict(dict(overrides or {}))


def create_model(
    name: str,
    spec: DataSpec,
    config: ModelConfig | dict[str, Any] | None = None,
    *,
    seed: int | None = None,
    **overrides: Any,
) -> GenerativeModel:
    """Build model ``name`` for data described by ``spec``.

    Args:
        name: a key of :data:`MODELS` ("dcgan", "vae", "ddpm").
        spec: the dataset's :class:`DataSpec` (channels, resolution, classes).
        config: a config object or dict of config fields.
        seed: seeds the initial weights (None: torch's global RNG).
        overrides: config fields as keyword arguments, e.g. ``conditional=True``.
    """
    cls = get_model_class(name)
    if isinstance(config, ModelConfig):
        cfg = cls.Config.from_dict({**config.to_dict(), **overrides})
    else:
        cfg = cls.Config.from_dict({**(config or {}), **overrides})
    if seed is None:
        return cls(cfg, spec)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return cls(cfg, spec)
