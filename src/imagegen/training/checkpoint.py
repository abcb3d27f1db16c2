"""Atomic, pickle-free checkpoints.

A checkpoint is a directory ``RUN/checkpoints/step_XXXXXXX/`` holding safetensors files (weights,
EMA weights, optimizer tensors, RNG states) and JSON (everything else). It is written under a
temporary name, fsynced, then renamed; ``manifest.json`` with file hashes is written last, so a
directory without a valid manifest is never loaded. Nothing here unpickles.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import nn

from imagegen.errors import RunError
from imagegen.safe_weights import read_safetensors

log = logging.getLogger(__name__)
PREFIX = "step_"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically (temp file, fsync, rename)."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def state_tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    """A module's state_dict as independent contiguous CPU tensors (safetensors forbids sharing)."""
    return {k: v.detach().cpu().contiguous().clone() for k, v in module.state_dict().items()}


def optimizer_to_files(
    opt: torch.optim.Optimizer, prefix: str
) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer state_dict into tensors (for safetensors) and JSON-able metadata."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{prefix}/{idx}/{k}"] = v.detach().cpu().contiguous().clone()
            else:
                scalars.setdefault(str(idx), {})[k] = v
    meta = {"param_groups": sd["param_groups"], "scalars": scalars}
    return tensors, meta


def optimizer_from_files(tensors: dict[str, torch.Tensor], meta: dict, prefix: str) -> dict:
    """Inverse of :func:`optimizer_to_files`: an optimizer state_dict."""
    state: dict[int, dict[str, Any]] = {}
    for key, v in tensors.items():
        p, idx, k = key.split("/", 2)
        if p == prefix:
            state.setdefault(int(idx), {})[k] = v
    for idx, sc in meta.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(sc)
    groups = []
    for g in meta["param_groups"]:
        g = dict(g)
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
        groups.append(g)
    return {"state": state, "param_groups": groups}


def checkpoint_name(step: int) -> str:
    """The directory name of the checkpoint of ``step``."""
    return f"{PREFIX}{step:07d}"


def save_checkpoint(
    ckpt_root: Path,
    step: int,
    files: dict[str, dict[str, torch.Tensor]],
    state: dict[str, Any],
    keep_last: int,
) -> Path:
    """Write ``files`` (name -> tensors, saved as ``name.safetensors``) and ``state.json`` atomically.

    Older checkpoints beyond ``keep_last`` are deleted only after the new one is committed.

    Returns:
        the committed checkpoint directory.
    """
    for name, tensors in files.items():
        bad = [k for k, v in tensors.items() if v.is_floating_point() and not v.isfinite().all()]
        if bad:
            raise RunError(
                f"not writing the checkpoint of step {step}: {name} has non-finite values in "
                f"{', '.join(bad[:3])}; the last good checkpoint is kept (lower the learning rate)"
            )
    ckpt_root.mkdir(parents=True, exist_ok=True)
    final = ckpt_root / checkpoint_name(step)
    tmp = ckpt_root / f".tmp-{final.name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    old = None
    try:
        for name, tensors in files.items():
            save_file(tensors, str(tmp / f"{name}.safetensors"))
        with open(tmp / "state.json", "w") as f:
            json.dump(state, f, indent=1)
        for p in tmp.iterdir():
            _fsync(p)
        manifest = {p.name: _sha256(p) for p in sorted(tmp.iterdir())}
        write_json(tmp / "manifest.json", {"step": step, "files": manifest})
        _fsync(tmp)
        if final.exists():  # same step saved twice (e.g. the end of a resumed run)
            # moved aside, not deleted, so a kill between the two renames leaves it loadable
            old = ckpt_root / f".tmp-old-{final.name}-{os.getpid()}"
            os.replace(final, old)
        os.replace(tmp, final)
        _fsync(ckpt_root)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and old.exists() and not final.exists():
            os.replace(old, final)
        raise
    best = (read_best(ckpt_root) or {}).get("name")
    for old in list_checkpoints(ckpt_root)[:-keep_last]:
        if old.name != best:  # the best-by-metric checkpoint outlives keep_last
            shutil.rmtree(old, ignore_errors=True)
    for stale in ckpt_root.glob(".tmp-*"):  # left by a process killed mid-write
        shutil.rmtree(stale, ignore_errors=True)
    return final


BEST = "best.json"


def write_best(ckpt_root: Path, path: Path, metric: str, value: float, step: int) -> None:
    """Record committed checkpoint ``path`` as the best by ``metric`` (lower is better)."""
    write_json(
        ckpt_root / BEST, {"name": path.name, "metric": metric, "value": value, "step": step}
    )


def read_best(ckpt_root: Path) -> dict[str, Any] | None:
    """The best-by-metric record ({"name", "metric", "value", "step"}) if it is still on disk."""
    try:
        best = json.loads((ckpt_root / BEST).read_text())
    except (OSError, ValueError):
        return None
    return best if (ckpt_root / str(best.get("name")) / "manifest.json").is_file() else None


def list_checkpoints(ckpt_root: Path) -> list[Path]:
    """Committed checkpoints (with a manifest), oldest first."""
    if not ckpt_root.is_dir():
        return []
    found = [
        p
        for p in ckpt_root.iterdir()
        if p.is_dir() and p.name.startswith(PREFIX) and (p / "manifest.json").is_file()
    ]
    return sorted(found, key=lambda p: p.name)


def verify_checkpoint(path: Path) -> None:
    """Check every file against the manifest; RunError if anything is missing or altered."""
    try:
        manifest = json.loads((path / "manifest.json").read_text())
    except (OSError, ValueError) as e:
        raise RunError(
            f"checkpoint {path} has no readable manifest ({e}): delete it to use an older one"
        ) from None
    for name, digest in manifest.get("files", {}).items():
        f = path / name
        if not f.is_file() or _sha256(f) != digest:
            raise RunError(
                f"checkpoint file {f} is missing or corrupt: delete {path} to use an older checkpoint"
            )


def load_tensors(path: Path, name: str) -> dict[str, torch.Tensor]:
    """Load ``name.safetensors`` from checkpoint ``path`` (safetensors never runs code)."""
    f = path / f"{name}.safetensors"
    if not f.is_file():
        raise RunError(
            f"checkpoint {path} has no {f.name}: it is incomplete; delete it to use an older one"
        )
    return read_safetensors(f)


def latest_checkpoint(ckpt_root: Path) -> Path | None:
    """The newest checkpoint whose files match their manifest (older ones when it is damaged)."""
    found = list_checkpoints(ckpt_root)
    names = {p.name for p in found}
    for p in ckpt_root.glob(f".tmp-old-{PREFIX}*") if ckpt_root.is_dir() else []:
        if _name_of(p) not in names and (p / "manifest.json").is_file():
            found.append(p)  # moved aside by a save of the same step that was killed midway
    for path in sorted(found, key=lambda p: _name_of(p), reverse=True):
        try:
            verify_checkpoint(path)
        except RunError as e:
            log.warning("skipping damaged checkpoint: %s", e)
            continue
        return path
    return None


def _name_of(path: Path) -> str:
    """step_XXXXXXX of a checkpoint directory, also of one moved aside (.tmp-old-NAME-PID)."""
    if path.name.startswith(".tmp-old-"):
        return path.name.removeprefix(".tmp-old-").rsplit("-", 1)[0]
    return path.name
