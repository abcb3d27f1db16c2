"""imagegen: train, sample and evaluate generative image models (GAN, VAE, diffusion).

The public API (imported lazily so that ``import imagegen`` stays fast)::

    import imagegen as ig
    train = ig.load_dataset("mnist", split="train")
    model = ig.create_model("ddpm", train.spec, conditional=True)
    ig.train(model, train, out="runs/ddpm", minutes=20)
    run = ig.load_run("runs/ddpm")
    images = run.sample(16, seed=0, labels=[3] * 16)         # uint8 (N, H, W, C)
    print(ig.evaluate(images, ig.load_dataset("mnist", split="test"), metrics=["fid"]))
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_API = {
    "load_dataset": "imagegen.data",
    "list_datasets": "imagegen.data",
    "ImageDataset": "imagegen.data",
    "DataSpec": "imagegen.data",
    "create_model": "imagegen.models",
    "MODELS": "imagegen.models",
    "TrainConfig": "imagegen.training",
    "train": "imagegen.training",
    "load_run": "imagegen.sampling",
    "create_ldm": "imagegen.sampling",
    "generate": "imagegen.sampling",
    "evaluate": "imagegen.metrics",
    "EvalSettings": "imagegen.metrics",
    "ImagegenError": "imagegen.errors",
}

__all__ = sorted(_API) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'imagegen' has no attribute {name!r}")
