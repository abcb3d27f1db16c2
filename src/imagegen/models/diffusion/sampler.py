"""The reverse-diffusion loop, kept outside the network (the model never loops over timesteps).

Schedulers are diffusers' scheduler objects (``set_timesteps``, ``timesteps``, ``step``); we use
them rather than rewrite them because their DDPM/DDIM arithmetic is widely checked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from diffusers import DDIMScheduler, DDPMScheduler

SamplerName = Literal["ddpm", "ddim"]
SCHEDULES = {"linear": "linear", "cosine": "squaredcos_cap_v2"}


def make_scheduler(
    kind: SamplerName, schedule: str, num_train_timesteps: int
) -> DDPMScheduler | DDIMScheduler:
    """A diffusers scheduler for ``kind`` ("ddpm" ancestral or "ddim") over the training schedule."""
    common = dict(
        num_train_timesteps=num_train_timesteps,
        beta_schedule=SCHEDULES[schedule],
        clip_sample=True,
        prediction_type="epsilon",
    )
    if kind == "ddim":
        return DDIMScheduler(**common, timestep_spacing="trailing", set_alpha_to_one=False)
    return DDPMScheduler(**common, timestep_spacing="trailing", variance_type="fixed_small")


@torch.no_grad()
def run_sampler(
    eps_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    scheduler: DDPMScheduler | DDIMScheduler,
    shape: tuple[int, ...],
    steps: int,
    generator: torch.Generator,
    device: torch.device,
    eta: float = 0.0,
) -> torch.Tensor:
    """Integrate from x_T ~ N(0, I) to x_0.

    Args:
        eps_fn: (x_t (B, C, H, W), t scalar int tensor) -> predicted noise, same shape as x_t.
        scheduler: a diffusers scheduler.
        shape: (B, C, H, W).
        steps: number of denoising steps.
        generator: randomness of x_T and of the ancestral noise.
        eta: DDIM's eta (0 = deterministic); ignored by DDPM.

    Returns:
        x_0, float32 ``shape`` in [-1, 1].
    """
    scheduler.set_timesteps(steps, device=device)
    x_t = torch.randn(shape, generator=generator, device=device) * scheduler.init_noise_sigma
    for t in scheduler.timesteps:
        eps = eps_fn(x_t, t).float()
        if isinstance(scheduler, DDIMScheduler):
            x_t = scheduler.step(eps, t, x_t, eta=eta, generator=generator).prev_sample
        else:
            x_t = scheduler.step(eps, t, x_t, generator=generator).prev_sample
    return x_t.clamp(-1, 1)
