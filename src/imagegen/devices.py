"""Device facts shared by training and evaluation: the autocast context, and whether bf16 pays.

bf16 autocast is about 2-4x faster than fp32 on CPUs with native bf16 matrix units (AVX-512 BF16,
AMX, Arm BF16) but hundreds of times slower where oneDNN has to emulate it (plain AVX2). On x86 we
ask torch's CPU feature checks; elsewhere we measure a matmul instead of guessing from CPU names.
"""

from __future__ import annotations

import functools
import logging
import platform
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


def _matmul_seconds(dtype: torch.dtype, n: int = 512, reps: int = 5) -> float:
    a = torch.ones(n, n, dtype=dtype)
    a @ a  # warm-up: first calls pick kernels
    a @ a
    best = float("inf")
    for _ in range(reps):  # best of reps: robust to other work on the machine
        t = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - t)
    return best


@functools.cache
def cpu_bf16_speedup() -> float:
    """fp32 time / bf16 time of a 512x512 matmul on this CPU (> 1: bf16 is faster). ~30 ms."""
    return _matmul_seconds(torch.float32) / max(_matmul_seconds(torch.bfloat16), 1e-9)


@functools.cache
def cpu_bf16_native() -> bool | None:
    """Whether this x86 CPU has bf16 matrix units (AVX-512 BF16 or AMX) by torch's CPU feature
    checks; None where torch does not say (other architectures, other torch versions)."""
    names = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    checks = [getattr(torch.cpu, name, None) for name in names]
    if platform.machine().lower() not in ("x86_64", "amd64") or None in checks:
        return None
    return any(check() for check in checks)


def bf16_is_slow(device: torch.device) -> bool:
    """Whether bf16 on ``device`` is emulated (a CPU without native bf16 units)."""
    if device.type != "cpu":
        return False
    native = cpu_bf16_native()
    if native is not None:
        return not native
    return cpu_bf16_speedup() < 1 / FAST_RATIO


def resolve_precision(device: torch.device, precision: str) -> str:
    """The precision to run: "auto" becomes "bf16" where bf16 is native (CUDA with bf16 support,
    CPUs with AVX-512 BF16 / AMX), else "fp32"; "fp32" and "bf16" pass through unchanged."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        native = cpu_bf16_native()
        if native is None:  # not an x86 CPU torch can describe: measure instead
            native = cpu_bf16_speedup() > FAST_RATIO
        return "bf16" if native else "fp32"
    return "fp32"  # mps and others: bf16 autocast support varies


def warn_if_slow(device: torch.device, precision: str, fix: str) -> None:
    """Log a warning when bf16 is asked for on a CPU that emulates it; ``fix`` says what to do."""
    if precision == "bf16" and bf16_is_slow(device):
        log.warning(
            "precision bf16 is emulated on this CPU (bf16 matmul %.0fx slower than fp32; no "
            "AVX-512 BF16/AMX): it will be slow, %s",
            1 / cpu_bf16_speedup(),
            fix,
        )
