"""Pictures of what a diffusion model does: the denoising process, and a guidance-scale sweep.

Each function takes a DDPM-family model and returns a uint8 grid ``(H, W, C)`` ready for
:func:`imagegen.viz.save_png`. Image i draws its noise from generator (seed, i), as
:func:`imagegen.sampling.generate.generate` does, so a strip's last frame is sample i of ``seed``.
"""

from __future__ import annotations

import numpy as np
import torch

from imagegen.errors import ConfigError
from imagegen.models.base import GenerativeModel
from imagegen.models.diffusion.sampler import predicted_x0, run_sampler
from imagegen.sampling.generate import default_labels, to_uint8
from imagegen.sampling.run import resolve_guide
from imagegen.seeding import generator
from imagegen.viz import auto_scale, make_grid

GUIDANCE_SWEEP = (1.0, 1.5, 2.0, 3.0, 5.0, 8.0)


def _diffusion(model: GenerativeModel, what: str):
    if getattr(model, "family", "") != "diffusion":
        raise ConfigError(
            f"model '{model.name}' is not a diffusion model, so it cannot show {what}: "
            "use a run of ddpm or ldm"
        )
    return model


def _generators(seed: int, n: int, device: torch.device) -> list[torch.Generator]:
    return [generator(device, seed, i) for i in range(n)]


@torch.no_grad()
def denoising_strip(
    model: GenerativeModel,
    n: int = 4,
    frames: int = 8,
    seed: int = 0,
    labels: torch.Tensor | None = None,
    **options,
) -> tuple[np.ndarray, list[int]]:
    """For each of ``n`` samples two rows: x_t at ``frames`` evenly spaced sampling steps (from
    pure noise to the last step's input) then the sample, and below it the network's x̂_0 at the
    same steps then the sample again.

    Args:
        options: sampling options (``sampler``, ``steps``, ``spacing``, ``guidance``,
            ``guidance_interval``, ``eta``, ``guide`` (a model, or a run or checkpoint folder:
            autoguidance; ``guide_unconditional``: by its prediction without the condition), and
            ``prompt`` and ``negative_prompt`` for text-to-image).

    Returns:
        the grid (``frames + 1`` columns) and the timestep t of each frame.
    """
    ddpm = _diffusion(model, "the denoising process")
    if frames < 2:
        raise ConfigError(f"frames={frames} is too few: show at least 2 steps")
    ddpm.eval()
    device = next(ddpm.parameters()).device
    y = default_labels(ddpm, n) if labels is None else labels
    y = ddpm.check_labels(n, y, device)
    scheduler, k = ddpm.make_sampler(
        options.get("sampler"), options.get("steps"), options.get("spacing")
    )
    chosen = set(np.linspace(0, k - 1, min(frames, k)).round().astype(int).tolist())
    alpha_bar = scheduler.alphas_cumprod
    x_ts, x_0s, ts = [], [], []

    def keep(i: int, t: torch.Tensor, x_t: torch.Tensor, out: torch.Tensor) -> None:
        if i in chosen:  # latent diffusion shows its latents decoded
            x_ts.append(ddpm.to_images(x_t))
            pred = out[:, : x_t.shape[1]]  # without a learned variance's channels
            x_0 = predicted_x0(pred, x_t, alpha_bar[int(t)], ddpm.config.prediction)
            x_0s.append(ddpm.to_images(x_0))
            ts.append(int(t))

    text = ddpm.check_prompt(n, options.get("prompt"), device)
    fn = ddpm.model_fn(
        n,
        y,
        options.get("guidance"),
        text,
        options.get("precision"),
        scheduler,
        options.get("guidance_interval"),
        options.get("negative_prompt"),
        resolve_guide(options.get("guide"), device),
        bool(options.get("guide_unconditional")),
    )
    gens = _generators(seed, n, device)
    eta = options.get("eta", 0.0)
    x = run_sampler(fn, scheduler, (n, *ddpm.shape), k, gens, device, eta, keep, clip=ddpm.clip)
    x = ddpm.to_images(x)
    rows = []
    for i in range(n):
        rows += [f[i] for f in x_ts] + [x[i]]
        rows += [f[i] for f in x_0s] + [x[i]]
    grid = torch.stack(rows)
    scale = auto_scale(ddpm.spec.resolution)
    return make_grid(to_uint8(grid), nrow=len(ts) + 1, scale=scale), ts


@torch.no_grad()
def guidance_grid(
    model: GenerativeModel,
    scales: tuple[float, ...] = GUIDANCE_SWEEP,
    seed: int = 0,
    columns: int = 8,
    **options,
) -> tuple[np.ndarray, list[float]]:
    """Rows: guidance scales w; columns: one per class (text-to-image: ``columns`` seeds of the
    ``prompt`` option; an unconditional model guided by a ``guide``: ``columns`` seeds), the
    same noise in every row. With a ``guide`` option (a model, or a run or checkpoint folder)
    the scales are autoguidance scales, and the w = 1 row is the model alone.

    Returns:
        the grid and the scale of each row.
    """
    ddpm = _diffusion(model, "a guidance sweep")
    device = next(ddpm.parameters()).device
    guide = resolve_guide(options.pop("guide", None), device)
    by_guide = {"guide": guide, "guide_unconditional": options.pop("guide_unconditional", False)}
    if not ddpm.guidable and guide is None:
        raise ConfigError(
            f"run of '{model.name}' was not trained for classifier-free guidance: train with "
            "--set model.conditional=true (or model.text=true) --set model.label_dropout=0.1, "
            "or sweep autoguidance by a weaker run (--guide RUN)"
        )
    ddpm.eval()
    if ddpm.config.text:
        if not options.get("prompt"):
            raise ConfigError("a guidance sweep of a text-to-image run needs --prompt TEXT")
        k, y = columns, None
    elif ddpm.config.conditional:
        k = ddpm.spec.num_classes
        y = torch.arange(k, device=device)
    else:
        k, y = columns, None
    rows = [
        ddpm.sample(
            k,
            generator=_generators(seed, k, device),
            labels=y,
            guidance=w,
            **(by_guide if guide is not None and w != 1.0 else {}),
            **options,
        )
        for w in scales
    ]
    scale = auto_scale(ddpm.spec.resolution)
    return make_grid(to_uint8(torch.cat(rows)), nrow=k, scale=scale), [float(w) for w in scales]
