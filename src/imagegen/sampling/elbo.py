"""The negative ELBO of a VAE-family model on real images, in nats and bits/dim, with the
latent statistics researchers read beside it (active units, codebook usage)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from imagegen.data.base import ImageDataset
from imagegen.errors import ConfigError
from imagegen.models.base import GenerativeModel
from imagegen.models.layers.vector_quantizer import VectorQuantizer
from imagegen.models.vae.latent import active_units
from imagegen.seeding import generator


@torch.no_grad()
def evaluate_elbo(
    model: GenerativeModel,
    data: ImageDataset,
    *,
    n: int | None = None,
    seed: int = 0,
    batch_size: int = 500,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Mean negative ELBO over ``n`` images of ``data`` (default all), one posterior sample each.

    Returns:
        ``elbo_nats`` (a bound on -log p(x) of the 8-bit images, see
        :mod:`imagegen.models.vae.likelihood`), ``elbo_bpd``, ``rec_nats``, ``kl_nats`` (for a
        VQ-VAE the prior's -log p(codes)), ``elbo_images``, ``likelihood``; plus ``active_units``
        for vector latents or ``vq_used``/``vq_perplexity`` for a VQ-VAE.
    """
    if not hasattr(model, "negative_elbo"):
        raise ConfigError(
            f"model '{model.name}' has no ELBO: use a run of the VAE family "
            "(vae, beta_vae, cvae, vqvae, hvae, klvae)"
        )
    if model.conditional and data.labels is None:
        raise ConfigError("the model is class-conditional but the data has no labels")
    data = data if n is None or n >= len(data) else data.subset(n, seed=seed)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    sums = {"nats": 0.0, "bpd": 0.0, "rec": 0.0, "kl": 0.0}
    means, codes = [], []
    try:
        for i, start in enumerate(range(0, len(data), batch_size)):
            b = data.batch(np.arange(start, min(start + batch_size, len(data)))).to(device)
            y = b.y if model.conditional else None
            r = model.negative_elbo(b.x, y, generator(device, seed, i))
            for k in sums:
                sums[k] += float(r[k].double().sum())
            if "codes" in r:  # a VQ-VAE: codebook usage
                codes.append(r["codes"].cpu())
            elif "mu" in r:  # a vector latent: active units
                means.append(r["mu"].float().cpu())
            if progress is not None:
                progress(min(start + batch_size, len(data)), len(data))
    finally:
        model.train(was_training)
    m = len(data)
    out: dict[str, Any] = {
        "elbo_nats": sums["nats"] / m,
        "elbo_bpd": sums["bpd"] / m,
        "rec_nats": sums["rec"] / m,
        "kl_nats": sums["kl"] / m,
        "elbo_images": m,
        "likelihood": model.likelihood,
    }
    if means:
        mu = torch.cat(means)
        out["active_units"] = int(active_units(mu).sum())
        out["latent_dim"] = int(mu.shape[1])
    if codes:
        used, perplexity = VectorQuantizer.usage(torch.cat(codes), model.config.num_codes)
        out["vq_used"], out["vq_perplexity"] = used, perplexity
    return out
