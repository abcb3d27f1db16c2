"""Autoregressive prior over a VQ-VAE's code grid: a small causal transformer (GPT-style).

Codes are read in raster order; position t predicts code t from the codes before it and a start
token (the class embedding for a class-conditional prior). The blocks are written here because
``nn.TransformerEncoder`` has no key/value cache, and sampling a 7x7 grid without one costs ~25x
more compute.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from imagegen.seeding import Generators, rand


class CausalSelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(
        self, x: torch.Tensor, cache: dict[str, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """(B, T, dim) -> (B, T, dim); with ``cache``, x holds only the new positions."""
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        if cache is not None:
            if "k" in cache:
                k = torch.cat([cache["k"], k], dim=2)
                v = torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        # explicit attention: for sequences this short, torch's CPU flash kernel is ~10x slower
        att = (q @ k.transpose(-2, -1)) * (q.shape[-1] ** -0.5)  # (B, h, T, S)
        s_len = k.shape[2]
        # query i (absolute position s_len - t + i) sees keys up to its own position
        mask = torch.ones(t, s_len, dtype=torch.bool, device=x.device).tril(s_len - t)
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        y = att @ v  # (B, h, T, d/h)
        return self.proj(y.transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = CausalSelfAttention(dim, heads)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(
        self, x: torch.Tensor, cache: dict[str, torch.Tensor] | None = None
    ) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), cache)
        return x + self.mlp(self.ln2(x))


class CodePrior(nn.Module):
    """p(k) = prod_t p(k_t | k_<t [, y]) over ``length`` codes from a codebook of ``num_codes``.

    Args:
        num_codes: K.
        length: codes per image (h * w).
        dim, depth, heads: transformer width, blocks and attention heads.
        num_classes: > 0 for a class-conditional prior (the class is the start token).
    """

    def __init__(
        self, num_codes: int, length: int, dim: int, depth: int, heads: int, num_classes: int = 0
    ) -> None:
        super().__init__()
        self.num_codes, self.length = num_codes, length
        self.tok = nn.Embedding(num_codes, dim)
        self.start = nn.Embedding(max(num_classes, 1), dim)
        self.pos = nn.Parameter(torch.zeros(1, length, dim))
        nn.init.normal_(self.pos, std=0.02)
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(depth))
        self.ln = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_codes)

    def _start(self, b: int, y: torch.Tensor | None, device: torch.device) -> torch.Tensor:
        y = torch.zeros(b, dtype=torch.long, device=device) if y is None else y
        return self.start(y)[:, None]  # (B, 1, dim)

    def forward(self, codes: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Logits of every position given the ones before it: (B, L) int64 -> (B, L, K)."""
        b, L = codes.shape
        x = torch.cat([self._start(b, y, codes.device), self.tok(codes[:, :-1])], dim=1)
        x = x + self.pos[:, :L]
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.ln(x))

    def nll(self, codes: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """-log p(k) in nats per image, (B,); codes (B, L)."""
        logits = self(codes, y).float()
        return F.cross_entropy(logits.transpose(1, 2), codes, reduction="none").sum(1)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        generator: Generators,
        device: torch.device,
        y: torch.Tensor | None = None,
        temperature: float = 1.0,
        top_k: int = 0,
    ) -> torch.Tensor:
        """Draw ``n`` code sequences, int64 (n, L), by Gumbel-max on tempered, top-k logits.

        All noise of image i comes from its own generator when ``generator`` is a list.
        """
        u = rand((n, self.length, self.num_codes), generator, device)
        gumbel = -torch.log(-torch.log(u.clamp(1e-20, 1.0 - 1e-7)))
        caches: list[dict[str, torch.Tensor]] = [{} for _ in self.blocks]
        x = self._start(n, y, device) + self.pos[:, :1]
        out = torch.empty(n, self.length, dtype=torch.long, device=device)
        for t in range(self.length):
            for blk, cache in zip(self.blocks, caches, strict=True):
                x = blk(x, cache)
            logits = self.head(self.ln(x[:, -1])).float() / max(temperature, 1e-6)
            if 0 < top_k < self.num_codes:
                kth = logits.topk(top_k, dim=1).values[:, -1:]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            k = (logits + gumbel[:, t]).argmax(1)
            out[:, t] = k
            if t + 1 < self.length:
                x = self.tok(k)[:, None] + self.pos[:, t + 1 : t + 2]
        return out
