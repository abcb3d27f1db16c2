"""Device facts shared by training and evaluation: the autocast context, and whether bf16 pays.

bf16 autocast is about 2-4x faster than fp32 on CPUs with native bf16 matrix units (AVX-512 BF16,
AMX, Arm BF16) but hundreds of times slower where oneDNN has to emulate it (plain AVX2), so we
measure instead of guessing from CPU names.
"""

from __future__ import annotations

import functools
import logging
import time
from contextlib import AbstractContextManager, nullcontext

import torch

log = logging.getLogger(__name__)

# bf16 counts as fast when a bf16 matmul takes at most this multiple of the fp32 one.
FAST_RATIO = 1.5


def autocast(device: torch.device, precision: str) -> AbstractContextManager:
    """``torch.autocast`` to bf16 for precision "bf16", a no-op for "fp32"."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


def _matmul_seconds(dtype: torch.dtype, n: int = 256, reps: int = 3) -> float:
    a = torch.ones(n, n, dtype=dtype)
    a @ a  # warm-up: first call picks kernels
    t = time.perf_counter()
    for _ in range(reps):
        a @ a
    return (time.perf_counter() - t) / reps


@functools.cache
def cpu_bf16_speedup() -> float:
    """fp32 time / bf16 time of a 256x256 matmul on this CPU (> 1: bf16 is faster). ~10 ms."""
    return _matmul_seconds(torch.float32) / max(_matmul_seconds(torch.bfloat16), 1e-9)


def bf16_is_slow(device: torch.device) -> bool:
    """Whether bf16 on ``device`` is emulated (a CPU without native bf16 units)."""
    return device.type == "cpu" and cpu_bf16_speedup() < 1 / FAST_RATIO


def warn_if_slow(device: torch.device, precision: str, fix: str) -> None:
    """Log a warning when bf16 is asked for on a CPU that emulates it; ``fix`` says what to do."""
    if precision == "bf16" and bf16_is_slow(device):
        log.warning(
            "precision bf16 is emulated on this CPU (bf16 matmul %.0fx slower than fp32; no "
            "AVX-512 BF16/AMX): it will be slow, %s",
            1 / cpu_bf16_speedup(),
            fix,
        )
