"""The run folder: what made a run (config.json) and checks before anything is written."""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from imagegen.errors import RunError

CONFIG = "config.json"
METRICS = "metrics.jsonl"


def versions() -> dict[str, str]:
    import diffusers
    import numpy
    import torch

    from imagegen import __version__

    return {
        "imagegen": __version__,
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def is_run(path: Path) -> bool:
    return (path / CONFIG).is_file()


def read_config(path: Path) -> dict[str, Any]:
    """config.json of a run; RunError if ``path`` is not a run folder."""
    path = Path(path)
    if not path.exists():
        raise RunError(
            f"run folder {path} does not exist: give the --out folder of an `imagegen train` run"
        )
    if not is_run(path):
        raise RunError(
            f"{path} is not a run folder (no {CONFIG}): give the --out folder of an `imagegen train` run"
        )
    try:
        return json.loads((path / CONFIG).read_text())
    except ValueError as e:
        raise RunError(
            f"{path / CONFIG} is not valid JSON ({e}): the run folder is damaged"
        ) from None


def check_writable(out: Path) -> None:
    """Fail before training if ``out`` cannot be created or written."""
    parent = out if out.exists() else out.parent
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK):
        raise RunError(f"cannot write to {parent}: choose an --out folder you can write to")
    try:
        with tempfile.NamedTemporaryFile(dir=parent, prefix=".imagegen-probe-"):
            pass
    except OSError as e:
        raise RunError(
            f"cannot write to {parent} ({e.strerror}): free space or choose another --out"
        ) from None


def prepare_new(out: Path) -> None:
    """Refuse to overwrite an existing run or a non-empty folder."""
    if out.exists():
        if is_run(out):
            raise RunError(
                f"{out} already holds a run: add --resume to continue it, or choose another --out"
            )
        if any(out.iterdir()):
            raise RunError(f"{out} exists and is not empty: choose a new --out folder")
    check_writable(out)


def describe_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
