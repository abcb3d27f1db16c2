"""Pictures of what a GAN learned: latent interpolations, truncation sweeps, style mixing.

Each function takes a model of the GAN family and returns a uint8 grid ``(H, W, C)`` ready for
:func:`imagegen.viz.save_png`. All randomness comes from ``seed``.
"""

from __future__ import annotations

import numpy as np
import torch

from imagegen.errors import ConfigError
from imagegen.models.base import GenerativeModel
from imagegen.sampling.generate import to_uint8
from imagegen.viz import auto_scale, make_grid


def _gan(model: GenerativeModel, what: str):
    if getattr(model, "family", "") != "gan":
        raise ConfigError(
            f"model '{model.name}' is not a GAN, so it cannot show {what}: use a run of the GAN "
            "family (for autoencoders, --interpolate walks between real images)"
        )
    return model


def _labels(model: GenerativeModel, n: int, device: torch.device) -> torch.Tensor | None:
    """One class per row, cycling through the classes, for conditional models."""
    if not model.conditional:
        return None
    return torch.arange(n, device=device) % model.spec.num_classes


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between rows of a and b (B, D) at fractions t (T,) -> (B, T, D);
    the path of choice between Gaussian latents, whose norms concentrate on a sphere."""
    a_n, b_n = a / a.norm(dim=1, keepdim=True), b / b.norm(dim=1, keepdim=True)
    omega = torch.acos((a_n * b_n).sum(1).clamp(-1 + 1e-7, 1 - 1e-7))[:, None, None]  # (B, 1, 1)
    t = t[None, :, None]
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) * a[:, None] + torch.sin(t * omega) * b[:, None]) / so


@torch.no_grad()
def gan_interpolation_grid(
    model: GenerativeModel, rows: int = 8, steps: int = 10, seed: int = 0
) -> np.ndarray:
    """Each row walks the latent sphere between two random z (one class per row if conditional)."""
    gan = _gan(model, "latent interpolations")
    if steps < 2:
        raise ConfigError(f"steps={steps} is too few: an interpolation needs at least 2 points")
    device = next(gan.parameters()).device
    g = torch.Generator(device=device).manual_seed(seed)
    z = gan.z(2 * rows, g, device)
    path = slerp(z[:rows], z[rows:], torch.linspace(0, 1, steps, device=device))  # (R, S, D)
    y = _labels(gan, rows, device)
    y = None if y is None else y.repeat_interleave(steps)
    x = gan.generate(path.flatten(0, 1), y)
    return make_grid(to_uint8(x.float()), nrow=steps, scale=auto_scale(model.spec.resolution))


@torch.no_grad()
def truncation_grid(
    model: GenerativeModel, values: list[float] | None = None, rows: int = 8, seed: int = 0
) -> tuple[np.ndarray, list[float]]:
    """Rows of the same seeds, columns from no truncation to the strongest.

    Returns:
        the grid and the truncation values of its columns.
    """
    gan = _gan(model, "truncation")
    if "truncation" not in gan.sample_options():
        raise ConfigError(f"model '{model.name}' has no truncation trick: use biggan or stylegan")
    values = values or list(getattr(gan, "truncation_sweep", ()))
    device = next(gan.parameters()).device
    y = _labels(gan, rows, device)
    cols = []
    for v in values:  # one column per value, the same generator state for each
        gens = [torch.Generator(device=device).manual_seed(seed * 1000 + i) for i in range(rows)]
        cols.append(gan.sample(rows, generator=gens, labels=y, truncation=v))
    x = torch.stack(cols, dim=1).flatten(0, 1)  # (rows * cols, C, H, W), row-major
    grid = make_grid(to_uint8(x), nrow=len(values), scale=auto_scale(model.spec.resolution))
    return grid, values


@torch.no_grad()
def style_mix_grid(
    model: GenerativeModel, n: int = 5, crossover: int | None = None, seed: int = 0
) -> tuple[np.ndarray, int]:
    """The StyleGAN figure: the top row holds n images B, the left column n images A; cell (i, j)
    uses A_i's styles for the layers before ``crossover`` (coarse) and B_j's from it on (fine).
    Noise is fixed across the grid.

    Returns:
        the grid and the crossover layer.
    """
    gan = _gan(model, "style mixing")
    if not hasattr(gan, "styles"):
        raise ConfigError(f"model '{model.name}' has no per-layer styles to mix: use stylegan")
    num_ws = gan.G.num_ws
    crossover = num_ws // 2 if crossover is None else crossover
    if not 1 <= crossover < num_ws:
        raise ConfigError(
            f"crossover={crossover} is out of range: this generator has {num_ws} style inputs, "
            f"use 1 .. {num_ws - 1}"
        )
    device = next(gan.parameters()).device
    g = torch.Generator(device=device).manual_seed(seed)
    z = gan.z(2 * n, g, device)
    z_a, z_b = z[:n], z[n:]
    y = _labels(gan, n, device)

    def render(ws: torch.Tensor) -> torch.Tensor:  # every image gets the same noise maps
        gens = [torch.Generator(device=device).manual_seed(seed + 1) for _ in range(len(ws))]
        return gan.synthesise(ws, gens)

    ws_a, ws_b = gan.styles(z_a, y), gan.styles(z_b, y)
    top = render(ws_b)
    cells = [torch.full_like(top[:1], -1.0), top]  # a blank corner, then the B row
    for i in range(n):
        mixed = ws_a[i : i + 1].repeat(n, 1, 1)
        mixed[:, crossover:] = ws_b[:, crossover:]
        cells += [render(ws_a[i : i + 1]), render(mixed)]
    x = torch.cat(cells)
    grid = make_grid(to_uint8(x.float()), nrow=n + 1, scale=auto_scale(model.spec.resolution))
    return grid, crossover
