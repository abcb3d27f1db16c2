"""Metric cards: everything needed to tell whether two scores can be compared.

A card records the feature network and its file hash, the resize method, the input range, the
numbers of real and generated images, the reference set (name, split, fingerprint), each metric's
settings, the seed and the library versions. :func:`card_differences` lists what makes two cards
incomparable; ``imagegen compare`` refuses to put such scores side by side unless told to.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

# FID is biased by sample size (Chong & Forsyth 2020): papers use 10k-50k images, and below this
# many generated or real images the number is not comparable to them.
MIN_RELIABLE_N = 2048

# Fields whose difference makes scores incomparable (dotted paths into the card).
COMPARABLE_FIELDS = (
    "weights_sha256",
    "resize",
    "precision",
    "input_size",
    "input_range",
    "n_real",
    "n_generated",
    "reference.fingerprint",
    "reference.split",
    "params",
)
# Fields that may differ with a note (e.g. the code version): not an error.
NOTED_FIELDS = ("imagegen_version", "torch_version", "seed")


def imagegen_version() -> str:
    """Installed imagegen version, or "dev" for a source checkout that is not installed."""
    try:
        return importlib.metadata.version("imagegen")
    except importlib.metadata.PackageNotFoundError:
        return "dev"


def _get(card: dict, path: str) -> Any:
    value: Any = card
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _params_differences(a: dict, b: dict) -> list[str]:
    """Differences in the settings of metrics both cards report (others cannot clash)."""
    out = []
    for metric in sorted(set(a) & set(b)):
        if a[metric] != b[metric]:
            out.append(f"params.{metric}: {a[metric]} != {b[metric]}")
    return out


def card_differences(a: dict, b: dict) -> list[str]:
    """Why scores with cards ``a`` and ``b`` are not comparable (empty list: comparable)."""
    out = []
    for path in COMPARABLE_FIELDS:
        va, vb = _get(a, path), _get(b, path)
        if path == "params":
            out += _params_differences(va or {}, vb or {})
        elif va != vb:
            out.append(f"{path}: {va} != {vb}")
    return out


def card_notes(a: dict, b: dict) -> list[str]:
    """Differences worth a note that do not make scores incomparable."""
    return [f"{p}: {_get(a, p)} != {_get(b, p)}" for p in NOTED_FIELDS if _get(a, p) != _get(b, p)]


def size_warnings(n_real: int, n_gen: int, metrics: list[str]) -> list[str]:
    """Card warnings about sample sizes that bias the distribution metrics."""
    if not {"fid", "is", "pr", "dc"} & set(metrics):
        return []
    warnings = []
    for n, what in ((n_gen, "generated"), (n_real, "reference")):
        if n < MIN_RELIABLE_N:
            warnings.append(
                f"fewer than {MIN_RELIABLE_N} {what} images ({n}): FID is biased upwards and "
                "not comparable to published numbers"
            )
    return warnings
