"""Exponential moving average of a model's weights (used for sampling)."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """theta_ema <- beta * theta_ema + (1 - beta) * theta, buffers copied (e.g. BN statistics;
    the trainer re-estimates those for the averaged weights before it samples or saves, see
    :meth:`imagegen.models.base.GenerativeModel.recalibrate`).

    Args:
        model: the live model.
        decay: beta; the effective decay warms up as min(decay, (1 + step) / (10 + step)).
    """

    def __init__(self, model: nn.Module, decay: float, warmup: bool = True) -> None:
        self.decay = decay
        self.warmup = warmup
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    def beta(self, step: int) -> float:
        if not self.warmup:
            return self.decay
        return min(self.decay, (1 + step) / (10 + step))

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        beta = self.beta(step)
        ema_p = list(self.model.parameters())
        live_p = list(model.parameters())
        torch._foreach_lerp_(ema_p, [p.detach() for p in live_p], 1.0 - beta)
        for b_ema, b in zip(self.model.buffers(), model.buffers(), strict=True):
            b_ema.copy_(b)
