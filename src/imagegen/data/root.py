"""Where named datasets live on disk: argument, then ``$IMAGEGEN_DATA``, then the user cache."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "IMAGEGEN_DATA"
DEFAULT_ROOT = Path("~/.cache/imagegen/data")


def resolve_data_root(data_root: str | os.PathLike[str] | None = None) -> Path:
    """The folder that holds named datasets (``mnist.npz``, ``cifar-10-batches-py/``, ...).

    Args:
        data_root: an explicit folder; wins over everything else when given.

    Returns:
        ``data_root`` if given, else ``$IMAGEGEN_DATA`` if set and non-empty, else
        ``~/.cache/imagegen/data``; ``~`` expanded. The folder is not created here.
    """
    if data_root is not None and str(data_root) != "":
        return Path(data_root).expanduser()
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    return DEFAULT_ROOT.expanduser()
