"""The reverse-diffusion loop, kept outside the network (the model never loops over timesteps).

Schedulers are diffusers' scheduler objects (``set_timesteps``, ``timesteps``, ``step``); we use
them rather than rewrite them because their DDPM/DDIM/DPM-Solver arithmetic is widely checked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from diffusers import (
    DDIMInverseScheduler,
    DDIMScheduler,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
)

from imagegen.seeding import Generators, randn

SamplerName = Literal["ddpm", "ddim", "dpm", "dpm_sde"]
SAMPLERS: tuple[str, ...] = ("ddpm", "ddim", "dpm", "dpm_sde")
SCHEDULES = {"linear": "linear", "cosine": "squaredcos_cap_v2"}
# Our names for what the network predicts -> diffusers' ``prediction_type``.
PREDICTIONS = {"epsilon": "epsilon", "v": "v_prediction", "sample": "sample"}

Scheduler = DDPMScheduler | DDIMScheduler | DPMSolverMultistepScheduler


SPACINGS: tuple[str, ...] = ("trailing", "karras")
VARIANCES: tuple[str, ...] = ("fixed_small", "fixed_large", "learned_range")


def make_scheduler(
    kind: SamplerName,
    schedule: str,
    num_train_timesteps: int,
    prediction: str = "epsilon",
    spacing: str = "trailing",
    clip: bool = True,
    variance: str = "fixed_small",
) -> Scheduler:
    """A diffusers scheduler over the training schedule.

    Args:
        kind: "ddpm" (ancestral, Ho et al. 2020), "ddim" (Song et al. 2021), "dpm"
            (DPM-Solver++(2M), Lu et al. 2022: good samples in 10-20 steps) or "dpm_sde" (its
            stochastic form, SDE-DPM-Solver++(2M): each step adds fresh noise, which can
            correct an imperfect network's errors at the cost of more steps; Karras et al. 2022
            Sec. 4 on why stochasticity helps weaker models).
        schedule: "linear" or "cosine" beta schedule.
        num_train_timesteps: T.
        prediction: what the network outputs: "epsilon", "v" or "sample" (x_0).
        spacing: where the sampling steps fall: "trailing" (evenly in t, ending at the last
            training step; Lin et al. 2024) or "karras" (DPM-Solver++ only: evenly in
            sigma^(1/7), Karras et al. 2022 Eq. 5, which spends more steps at both the high and
            the low noise end; on MNIST it helped a model trained with lognormal t sampling and
            hurt one trained on uniform t: benchmarks/ddpm_samplers.py).
        clip: clip x_0 estimates to [-1, 1] (images; latents are not bounded).
        variance: the ancestral sampler's reverse-step variance: "fixed_small" (the posterior's,
            beta tilde), "fixed_large" (beta; Ho et al. 2020) or "learned_range" (interpolated
            in log space between the two by the network's extra output channels; Nichol &
            Dhariwal 2021). DDIM and DPM-Solver++ are deterministic and ignore it.
    """
    common = dict(
        num_train_timesteps=num_train_timesteps,
        beta_schedule=SCHEDULES[schedule],
        prediction_type=PREDICTIONS[prediction],
        timestep_spacing="trailing",
    )
    # DDPM and DPM-Solver++ clip their x_0 estimate to the data range [-1, 1] at each step
    # (DPM-Solver++'s "thresholding" with a maximum of 1 is that clip); measured on MNIST it lowers
    # FID slightly. DDIM does not: diffusers' DDIM clips x_0 but keeps the unclipped eps, and that
    # mismatch, with a last step that stopped at alpha_bar_0 instead of 1, cost it 64.0 vs 35.2
    # FID-1k on the MNIST benchmark run (50 steps; benchmarks/ddpm_samplers.py).
    if kind in ("dpm", "dpm_sde"):
        return DPMSolverMultistepScheduler(
            **common,
            algorithm_type="dpmsolver++" if kind == "dpm" else "sde-dpmsolver++",
            solver_order=2,
            lower_order_final=True,
            thresholding=clip,
            sample_max_value=1.0,
            use_karras_sigmas=spacing == "karras",
        )
    if kind == "ddim":
        return DDIMScheduler(**common, clip_sample=False, set_alpha_to_one=True)
    return DDPMScheduler(**common, clip_sample=clip, variance_type=variance)


@torch.no_grad()
def run_sampler(
    model_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    scheduler: Scheduler,
    shape: tuple[int, ...],
    steps: int,
    generator: Generators,
    device: torch.device,
    eta: float = 0.0,
    callback: Callable[[int, torch.Tensor, torch.Tensor, torch.Tensor], None] | None = None,
    clip: bool = True,
    x_T: torch.Tensor | None = None,
) -> torch.Tensor:
    """Integrate from x_T ~ N(0, I) to x_0.

    Args:
        model_fn: (x_t (B, C, H, W), t scalar int tensor) -> the network's prediction (in the
            scheduler's ``prediction_type``), same shape as x_t.
        scheduler: a diffusers scheduler.
        shape: (B, C, H, W).
        steps: number of denoising steps.
        generator: randomness of x_T and of the ancestral or SDE noise: one generator, or one per image
            (diffusers' schedulers draw row i of their noise from generator i).
        eta: DDIM's eta (0 = deterministic); ignored by the other samplers.
        callback: called as ``callback(i, t, x_t, prediction)`` before step i (of ``steps``)
            updates x_t (for pictures of the process; see :func:`predicted_x0`).
        clip: clamp the result to [-1, 1] (images; not for latents).
        x_T: the starting noise (e.g. from :func:`ddim_invert`); None draws it from ``generator``.

    Returns:
        x_0, float32 ``shape`` (in [-1, 1] with ``clip``).
    """
    scheduler.set_timesteps(steps, device=device)
    x_t = randn(shape, generator, device) if x_T is None else x_T.to(device)
    x_t = x_t * scheduler.init_noise_sigma
    for i, t in enumerate(scheduler.timesteps):
        out = model_fn(x_t, t).float()
        if callback is not None:
            callback(i, t, x_t, out)
        if isinstance(scheduler, DDIMScheduler):
            x_t = scheduler.step(out, t, x_t, eta=eta, generator=generator).prev_sample
        else:
            x_t = scheduler.step(out, t, x_t, generator=generator).prev_sample
    return x_t.clamp(-1, 1) if clip else x_t


def predicted_x0(
    out: torch.Tensor, x_t: torch.Tensor, alpha_bar_t: torch.Tensor | float, prediction: str
) -> torch.Tensor:
    """x̂_0 from a network output at x_t = sqrt(ᾱ_t) x_0 + sqrt(1 - ᾱ_t) ε.

    ε: x̂_0 = (x_t - sqrt(1 - ᾱ_t) ε̂) / sqrt(ᾱ_t) (Ho et al. 2020, Eq. 15);
    v: x̂_0 = sqrt(ᾱ_t) x_t - sqrt(1 - ᾱ_t) v̂ (Salimans & Ho 2022); x_0: the output itself.
    """
    a = torch.as_tensor(alpha_bar_t, dtype=out.dtype, device=out.device)
    if prediction == "epsilon":
        return (x_t - (1 - a).sqrt() * out) / a.sqrt()
    if prediction == "v":
        return a.sqrt() * x_t - (1 - a).sqrt() * out
    return out


@torch.no_grad()
def ddim_invert(
    model_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x_0: torch.Tensor,
    steps: int,
    schedule: str = "linear",
    num_train_timesteps: int = 1000,
    prediction: str = "epsilon",
) -> torch.Tensor:
    """x_T such that DDIM (eta 0, same steps) maps it back to ``x_0``: the probability-flow ODE
    run forwards in time (Song et al. 2021, Sec. 4.3), with diffusers' DDIMInverseScheduler.

    The step from level s up to level t evaluates the network at (x_s, t): sampling's step
    down from t used the prediction at (x_t, t), so this matches it up to how much the prediction
    changes between x_s and x_t at the same t (the usual DDIM inversion, as in diffusers).
    """
    inverse = DDIMInverseScheduler(
        num_train_timesteps=num_train_timesteps,
        beta_schedule=SCHEDULES[schedule],
        prediction_type=PREDICTIONS[prediction],
        timestep_spacing="trailing",
        clip_sample=False,
        set_alpha_to_one=True,
    )
    inverse.set_timesteps(steps, device=x_0.device)
    x = x_0.float()
    for t in inverse.timesteps:  # ascending: from t = stride - 1 up to T - 1
        x = inverse.step(model_fn(x, t).float(), t, x).prev_sample
    return x
