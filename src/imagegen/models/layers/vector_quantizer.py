"""Vector quantisation with an EMA codebook (van den Oord et al. 2017, Appendix A.1).

Written here rather than taken from a library so that dead-code restarts draw from the trainer's
seeded generator (runs stay reproducible) and the update is short enough to check by hand.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class VectorQuantizer(nn.Module):
    """Nearest-neighbour quantisation of (B, D, h, w) vectors to a codebook of K entries.

    The codebook e (K, D) is a buffer updated by exponential moving averages of the encoder
    outputs assigned to each code (no gradients):
        N_k <- gamma N_k + (1 - gamma) n_k,   m_k <- gamma m_k + (1 - gamma) sum_{i: k_i = k} z_i,
        e_k = m_k / N~_k with Laplace smoothing N~_k = (N_k + eps) / (N + K eps) * N, N = sum_k N_k.
    Codes whose N_k falls below ``dead_threshold`` restart at random encoder outputs of the batch.
    The encoder gets gradients through the straight-through estimator z_e + sg(e_k - z_e).

    Args:
        num_codes: K.
        dim: D.
        decay: gamma.
        eps: Laplace smoothing.
        dead_threshold: restart codes whose EMA count N_k is below this (0: never).
    """

    def __init__(
        self,
        num_codes: int,
        dim: int,
        decay: float = 0.99,
        eps: float = 1e-5,
        dead_threshold: float = 1.0,
    ) -> None:
        super().__init__()
        self.num_codes, self.dim = num_codes, dim
        self.decay, self.eps, self.dead_threshold = decay, eps, dead_threshold
        self.register_buffer("codebook", torch.randn(num_codes, dim) * 0.1)
        self.register_buffer("ema_count", torch.ones(num_codes))
        self.register_buffer("ema_sum", self.codebook.clone())
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))
        self.register_buffer("restarts", torch.zeros((), dtype=torch.long))

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """Code indices of flat vectors ``z`` (N, D): argmin_k ||z - e_k||^2, int64 (N,)."""
        e = self.codebook
        d = z.pow(2).sum(1, keepdim=True) - 2 * z @ e.t() + e.pow(2).sum(1)[None]
        return d.argmin(1)

    def nearest_grid(self, z_e: torch.Tensor) -> torch.Tensor:
        """Code indices of a grid of vectors: (B, D, h, w) -> (B, h, w) int64 (fp32 distances)."""
        b, d, h, w = z_e.shape
        with torch.autocast(z_e.device.type, enabled=False):
            z = z_e.float().permute(0, 2, 3, 1).reshape(-1, d)
            return self.nearest(z).view(b, h, w)

    def lookup(self, idx: torch.Tensor) -> torch.Tensor:
        """Code indices (B, h, w) -> code vectors (B, D, h, w)."""
        return F.embedding(idx, self.codebook).permute(0, 3, 1, 2)

    @torch.no_grad()
    def ema_update(self, z: torch.Tensor, idx: torch.Tensor, generator: torch.Generator) -> None:
        """One EMA step of the codebook on flat vectors ``z`` (N, D) assigned to ``idx`` (N,)."""
        if not bool(self.initialized):  # start the codebook at encoder outputs, not at noise
            pick = torch.randint(
                0, z.shape[0], (self.num_codes,), generator=generator, device=z.device
            )
            self.codebook.copy_(z[pick])
            self.ema_sum.copy_(z[pick])
            self.ema_count.fill_(1.0)
            self.initialized.fill_(True)
            idx = self.nearest(z)
        onehot = F.one_hot(idx, self.num_codes).to(z.dtype)  # (N, K)
        n_k = onehot.sum(0)
        self.ema_count.mul_(self.decay).add_(n_k, alpha=1 - self.decay)
        self.ema_sum.mul_(self.decay).add_(onehot.t() @ z, alpha=1 - self.decay)
        total = self.ema_count.sum()
        smoothed = (self.ema_count + self.eps) / (total + self.num_codes * self.eps) * total
        self.codebook.copy_(self.ema_sum / smoothed[:, None])
        if self.dead_threshold > 0:
            dead = self.ema_count < self.dead_threshold
            n_dead = int(dead.sum())
            if n_dead:
                pick = torch.randint(0, z.shape[0], (n_dead,), generator=generator, device=z.device)
                self.codebook[dead] = z[pick]
                self.ema_sum[dead] = z[pick]
                self.ema_count[dead] = 1.0
                self.restarts += n_dead

    def forward(
        self, z_e: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Quantise encoder outputs; in training mode (with a generator) update the codebook.

        Args:
            z_e: (B, D, h, w) encoder outputs.
        Returns:
            z_q: (B, D, h, w) straight-through quantised vectors (forward: codes; backward: identity),
            idx: (B, h, w) int64 code indices,
            commit: (B,) commitment loss ||z_e - sg(e)||^2 summed per image.
        """
        with torch.autocast(z_e.device.type, enabled=False):  # distances in fp32
            b, d, h, w = z_e.shape
            z = z_e.float().permute(0, 2, 3, 1).reshape(-1, d)  # (B, D, h, w) -> (B*h*w, D)
            idx = self.nearest(z)
            if self.training and generator is not None:
                self.ema_update(z.detach(), idx, generator)
                idx = self.nearest(z.detach())
            e = self.lookup(idx.view(b, h, w))
            commit = (z_e.float() - e).pow(2).flatten(1).sum(1)
            z_q = z_e.float() + (e - z_e.float()).detach()
        return z_q, idx.view(b, h, w), commit

    @staticmethod
    def usage(idx: torch.Tensor, num_codes: int) -> tuple[float, float]:
        """Share of codes used and perplexity exp(H) of the code histogram of ``idx``."""
        counts = torch.bincount(idx.flatten(), minlength=num_codes).float()
        p = counts / counts.sum()
        entropy = -(p[p > 0] * p[p > 0].log()).sum()
        return float((counts > 0).float().mean()), float(entropy.exp())
