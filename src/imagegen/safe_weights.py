"""Loading weights from files a user hands us, without running code and without half-loading.

safetensors never executes code, but its loader accepts a header with duplicate keys and reports
other malformations with messages that do not say what to do. :func:`read_safetensors` checks the
header first (in microseconds, before any tensor is read) and refuses, with one line naming the
problem and the fix: pickles and ``torch.save`` zips under any extension, a header longer than the
file, duplicate keys, unknown dtypes, offsets past the end or overlapping, and byte counts that do
not match the shape. :func:`load_into` checks every name and shape against the module before the
first parameter is copied, so a mismatched file leaves the module as it was.
"""

from __future__ import annotations

import json
import math
import struct
from itertools import pairwise
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from imagegen.errors import RunError

MAX_HEADER = 100 * 1024 * 1024  # the limit safetensors itself enforces
ITEMSIZE = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip


def _refuse(path: Path, problem: str) -> RunError:
    return RunError(
        f"refusing to load {path}: {problem}; imagegen only loads intact safetensors files "
        "(re-save the weights with safetensors.torch.save_file)"
    )


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict:
    keys = [k for k, _ in pairs]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise ValueError(f"duplicate tensor names {dup[:5]}")
    return dict(pairs)


def check_safetensors(path: str | Path) -> dict[str, dict]:
    """Validate the safetensors header of ``path`` without reading tensor data.

    Returns:
        the header entries, name -> {"dtype", "shape", "data_offsets"} (``__metadata__`` dropped).

    Raises:
        RunError: the file is missing, a pickle or zip, or its header is malformed or inconsistent.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise _refuse(path, f"it is {size} bytes, too short for a safetensors header")
            (n,) = struct.unpack("<Q", head)
            if n > min(MAX_HEADER, size - 8):
                # a pickle (protocol >= 2) or torch.save zip always reads as an absurd length
                if head[:1] == b"\x80" or head[:4] == b"PK\x03\x04":
                    raise _refuse(path, "it is a pickle or torch.save archive, which can run code")
                raise _refuse(path, f"its header claims {n} bytes but the file has {size - 8}")
            raw = f.read(n)
    except OSError as e:
        raise RunError(f"cannot read {path} ({e.strerror}): check the path") from None
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
        if not isinstance(header, dict):
            raise ValueError("the header is not a JSON object")
    except ValueError as e:  # includes UnicodeDecodeError and JSON errors
        raise _refuse(path, f"its header is not valid ({e})") from None
    header.pop("__metadata__", None)
    data_len = size - 8 - n
    spans = []
    for name, entry in header.items():
        try:
            dtype, shape, (begin, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
            ok_shape = all(isinstance(d, int) and d >= 0 for d in shape)
        except (KeyError, TypeError, ValueError):
            raise _refuse(path, f"tensor {name!r} has a malformed header entry") from None
        if dtype not in ITEMSIZE or not ok_shape:
            raise _refuse(path, f"tensor {name!r} has dtype {dtype!r} / shape {shape}")
        if not (isinstance(begin, int) and isinstance(end, int) and 0 <= begin <= end <= data_len):
            raise _refuse(path, f"tensor {name!r} has offsets {begin}..{end} past the data end")
        if end - begin != math.prod(shape) * ITEMSIZE[dtype]:
            raise _refuse(
                path, f"tensor {name!r} has {end - begin} bytes for {dtype} shape {list(shape)}"
            )
        spans.append((begin, end, name))
    spans.sort()
    for (_, e0, a), (b1, _, b) in pairwise(spans):
        if b1 < e0:
            raise _refuse(path, f"tensors {a!r} and {b!r} overlap")
    return header


def read_safetensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Load every tensor of a safetensors file after :func:`check_safetensors` passes."""
    check_safetensors(path)
    try:
        return load_file(str(path))
    except Exception as e:  # safetensors' own error types
        raise _refuse(Path(path), f"safetensors cannot read it ({e})") from None


def load_into(module: nn.Module, tensors: dict[str, torch.Tensor], source: str | Path) -> None:
    """``module.load_state_dict(tensors)`` only if every name and shape matches.

    Raises:
        RunError: naming the missing, unexpected and mis-shaped entries; the module is unchanged.
    """
    own = module.state_dict()
    missing = sorted(set(own) - set(tensors))
    extra = sorted(set(tensors) - set(own))
    shapes = [
        f"{k} {list(tensors[k].shape)} != {list(v.shape)}"
        for k, v in own.items()
        if k in tensors and tensors[k].shape != v.shape
    ]
    problems = [
        f"{label}: {', '.join(items[:4])}{' ...' if len(items) > 4 else ''}"
        for label, items in (("missing", missing), ("unexpected", extra), ("shape", shapes))
        if items
    ]
    if problems:
        raise RunError(
            f"{source} does not fit this {type(module).__name__} ({'; '.join(problems)}): "
            "load it with the model config it was trained with"
        )
    module.load_state_dict(tensors)
