"""What each CLI command does, as plain functions (the CLI only parses and prints)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from imagegen.errors import ConfigError, DataError
from imagegen.progress import tqdm_callback

log = logging.getLogger(__name__)

DEMO = {
    "model": "ddpm",
    "data": "digits",
    "model_config": {
        "channels": [32, 64, 64],
        "attention": [False, False, True],
        "sample_steps": 50,
    },
    "train": {
        "batch_size": 64,
        "ema_decay": 0.995,
        "log_every": 20,
        "sample_every": 250,
        "ckpt_every": 500,
    },
}


def _load_data(name: str, split: str, data_opts: dict[str, Any], data_root: str | None):
    from imagegen.data import load_dataset

    return load_dataset(name, split=split, data_root=data_root, **data_opts)


def run_training(
    model_name: str,
    data_name: str,
    out: str,
    settings: dict[str, dict[str, Any]],
    *,
    resume: bool = False,
    allow_changes: bool = False,
    data_root: str | None = None,
    progress: bool = True,
) -> Path:
    """Build data, model and TrainConfig from CLI settings and train (all checks before writing)."""
    from imagegen.models import create_model
    from imagegen.training import TrainConfig, train

    cfg = TrainConfig.from_dict(settings["train"])
    data = _load_data(data_name, "train", settings["data"], data_root)
    model = create_model(model_name, data.spec, settings["model"], seed=cfg.seed)
    eval_data = None
    if cfg.eval_n or cfg.eval_every:
        try:
            eval_data = _load_data(data_name, "test", settings["data"], data_root)
        except DataError:
            eval_data = data
    return train(
        model,
        data,
        out,
        cfg,
        resume=resume,
        allow_changes=allow_changes,
        progress=progress,
        eval_data=eval_data,
    )


def _check_n(n: int, what: str = "--n") -> None:
    if n < 1:
        raise ConfigError(f"{what} {n} is not allowed: ask for at least 1 image")


def run_sampling(
    run: str,
    *,
    n: int = 64,
    seed: int = 0,
    label: int | None = None,
    steps: int | None = None,
    sampler: str | None = None,
    batch_size: int = 256,
    out: str | None = None,
) -> Path:
    """Sample a run to a grid PNG, a folder of PNGs or a samples.npz (uint8 under key ``x``)."""
    from imagegen.sampling import load_run
    from imagegen.viz import auto_scale, make_grid, save_png

    _check_n(n)
    r = load_run(run)
    options = {k: v for k, v in (("steps", steps), ("sampler", sampler)) if v is not None}
    images = r.sample(
        n,
        seed=seed,
        labels=label,
        batch_size=batch_size,
        progress=tqdm_callback("sampling"),
        **options,
    )
    meta = {
        "model": r.name,
        "run": str(Path(run).resolve()),
        "step": r.step,
        "seed": seed,
        "n": n,
        "label": label,
        **r.model.sample_options(),
        **options,
    }
    target = Path(out) if out else Path(run) / "sample.png"
    if target.suffix == ".npz":
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp.npz")
        np.savez_compressed(tmp, x=images)
        tmp.replace(target)
    elif target.suffix == ".png":
        grid = make_grid(images, scale=auto_scale(r.model.spec.resolution))
        save_png(target, grid, meta)
    else:
        target.mkdir(parents=True, exist_ok=True)
        for i, img in enumerate(images):
            save_png(target / f"{i:06d}.png", img, {**meta, "index": i})
    return target


def run_demo(out: str, *, minutes: float = 3.0, eval_n: int = 1000, progress: bool = True) -> Path:
    """The README demo: a small DDPM on the bundled digits, then samples, curves, FID and a report."""
    from imagegen.models import create_model
    from imagegen.training import TrainConfig, train

    data = _load_data(DEMO["data"], "train", {}, None)
    ref = _load_data(DEMO["data"], "test", {}, None)
    cfg = TrainConfig.from_dict(
        {**DEMO["train"], "minutes": minutes, "steps": None, "eval_n": eval_n}
    )
    model = create_model(DEMO["model"], data.spec, DEMO["model_config"], seed=cfg.seed)
    return train(model, data, out, cfg, progress=progress, eval_data=ref)
