"""Pictures of what an autoencoder learned: reconstructions, interpolations, latent traversals.

Each function takes a model of the VAE family and real images and returns a uint8 grid
``(H, W, C)`` ready for :func:`imagegen.viz.save_png`.
"""

from __future__ import annotations

import numpy as np
import torch

from imagegen.data.base import ImageDataset
from imagegen.errors import ConfigError
from imagegen.models.base import GenerativeModel
from imagegen.models.vae.latent import active_units
from imagegen.sampling.generate import to_uint8
from imagegen.viz import auto_scale, make_grid


def _autoencoder(model: GenerativeModel, what: str):
    if not hasattr(model, "encode") or not hasattr(model, "decode"):
        raise ConfigError(
            f"model '{model.name}' has no encoder, so it cannot {what}: "
            "use a run of the VAE family (vae, beta_vae, cvae, vqvae, hvae, klvae)"
        )
    return model


def _batch(model: GenerativeModel, data: ImageDataset, n: int, seed: int):
    if len(data) < 1:
        raise ConfigError("the dataset is empty: give --data with images")
    if data.spec.resolution != model.spec.resolution or data.spec.channels != model.spec.channels:
        raise ConfigError(
            f"the data is {data.spec.channels}x{data.spec.resolution}px but the model expects "
            f"{model.spec.channels}x{model.spec.resolution}px: give the dataset it was trained on"
        )
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(data), size=n, replace=len(data) < n)
    device = next(model.parameters()).device
    b = data.batch(idx).to(device)
    y = b.y if model.conditional else None
    if model.conditional and y is None:
        raise ConfigError("the model is class-conditional but the data has no labels")
    return b.x, y


@torch.no_grad()
def reconstruction_grid(
    model: GenerativeModel, data: ImageDataset, n: int = 32, seed: int = 0
) -> np.ndarray:
    """Rows of 8 inputs, each followed by the row of their reconstructions (``n`` rounded up to
    a multiple of 8)."""
    ae = _autoencoder(model, "reconstruct")
    cols = 8
    n = -(-max(n, 1) // cols) * cols
    x, y = _batch(ae, data, n, seed)
    rec = ae.reconstruct(x, y)
    rows = []
    for s in range(0, n, cols):
        rows += [to_uint8(x[s : s + cols]), to_uint8(rec[s : s + cols])]
    return make_grid(np.concatenate(rows), nrow=cols, scale=auto_scale(model.spec.resolution))


@torch.no_grad()
def interpolation_grid(
    model: GenerativeModel, data: ImageDataset, rows: int = 8, steps: int = 10, seed: int = 0
) -> np.ndarray:
    """Each row walks the latent line between two real images (the ends are reconstructions)."""
    ae = _autoencoder(model, "interpolate")
    if steps < 2:
        raise ConfigError(f"steps={steps} is too few: an interpolation needs at least 2 points")
    x, y = _batch(ae, data, 2 * rows, seed)
    if y is not None:  # a conditional model walks between two images of the same class
        x_b = torch.empty_like(x[:rows])
        for i in range(rows):
            same = (y == y[i]).nonzero().flatten()
            x_b[i] = x[same[-1]] if len(same) > 1 else x[i]
        out = ae.interpolate(x[:rows], x_b, steps, y[:rows])
    else:
        out = ae.interpolate(x[:rows], x[rows:], steps)
    images = to_uint8(out.flatten(0, 1))
    return make_grid(images, nrow=steps, scale=auto_scale(model.spec.resolution))


@torch.no_grad()
def traversal_grid(
    model: GenerativeModel,
    data: ImageDataset,
    dims: list[int] | None = None,
    values: list[float] | None = None,
    seed: int = 0,
    n_probe: int = 500,
) -> tuple[np.ndarray, list[int]]:
    """Rows sweep one latent dimension each (default: the most active ones, at most 10) over
    ``values`` (default -3 .. 3) from the posterior mean of one real image.

    Returns:
        the grid and the dimensions shown, row by row.
    """
    if not hasattr(model, "traverse"):
        raise ConfigError(
            f"model '{model.name}' has no vector latent to traverse: use vae, beta_vae or cvae"
        )
    x, y = _batch(model, data, n_probe, seed)
    if dims is None:
        mu = model.encode(x, y).float()
        var = mu.var(0)
        order = torch.argsort(var, descending=True)
        active = active_units(mu)
        dims = [int(d) for d in order if active[d]][:10] or [int(order[0])]
    values = values or [float(v) for v in np.linspace(-3, 3, 9)]
    out = model.traverse(x[:1], dims, values, None if y is None else y[:1])
    grid = make_grid(
        to_uint8(out.flatten(0, 1)), nrow=len(values), scale=auto_scale(model.spec.resolution)
    )
    return grid, dims
