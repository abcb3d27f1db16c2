"""Test spies for diffusion models."""

from __future__ import annotations

import torch


def record_labels(model) -> list[torch.Tensor]:
    """Wrap ``model.predict`` so every call appends the labels it was given to the returned list."""
    seen: list[torch.Tensor] = []
    real = model.predict

    def spy(x_t, t, y=None, text=None):
        seen.append(y.clone())
        return real(x_t, t, y, text)

    model.predict = spy
    return seen
