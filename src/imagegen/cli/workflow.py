"""What each CLI command does, as plain functions (the CLI only parses and prints)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from imagegen.errors import ConfigError, DataError, RunError
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
    mcfg = settings["model"]
    if model_name == "ldm" and mcfg.get("autoencoder_run") and not mcfg.get("autoencoder_model"):
        from imagegen.sampling.run import create_ldm  # the frozen autoencoder comes from its run

        ae_run = mcfg["autoencoder_run"]
        model = create_ldm(ae_run, data.spec, dict(mcfg), seed=cfg.seed)
    else:
        model = create_model(model_name, data.spec, mcfg, seed=cfg.seed)
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
    temperature: float | None = None,
    top_k: int | None = None,
    guidance: float | None = None,
    guidance_interval: list[float] | None = None,
    prompt: str | None = None,
    negative_prompt: str | None = None,
    truncation: float | None = None,
    guide: str | None = None,
    guide_unconditional: bool | None = None,
    batch_size: int = 256,
    out: str | None = None,
) -> Path:
    """Sample a run to a grid PNG, a folder of PNGs or a samples.npz (uint8 under key ``x``)."""
    from imagegen.sampling import load_run
    from imagegen.viz import auto_scale, make_grid, save_png

    _check_n(n)
    r = load_run(run)
    given = (
        ("steps", steps),
        ("sampler", sampler),
        ("temperature", temperature),
        ("top_k", top_k),
        ("guidance", guidance),
        ("guidance_interval", guidance_interval),
        ("prompt", prompt),
        ("negative_prompt", negative_prompt),
        ("truncation", truncation),
        ("guide", guide),
        ("guide_unconditional", guide_unconditional),
    )
    options = {k: v for k, v in given if v is not None}
    images = r.sample(
        n,
        seed=seed,
        labels=label,
        batch_size=batch_size,
        progress=tqdm_callback("sampling"),
        **options,
    )
    meta = _sample_record(r, run, seed, n, label, options)
    target = Path(out) if out else Path(run) / "sample.png"
    if target.suffix == ".npz":
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp.npz")
        # the settings as a JSON string (a unicode array: readable without pickle)
        np.savez_compressed(tmp, x=images, meta=np.array(json.dumps(meta, default=str)))
        tmp.replace(target)
    elif target.suffix == ".png":
        scale = auto_scale(r.model.spec.resolution)
        save_png(target, make_grid(images, scale=scale), {**meta, "grid_scale": scale})
    else:
        target.mkdir(parents=True, exist_ok=True)
        for i, img in enumerate(images):
            save_png(target / f"{i:06d}.png", img, {**meta, "index": i})
    return target


def _sample_record(
    r: Any, run: str, seed: int, n: int, label: int | None, options: dict[str, Any]
) -> dict[str, Any]:
    """What a sampled PNG records: enough to regenerate it (``imagegen sample --replay``)."""
    settings = {**r.model.sample_options(), **r.sampling_options(options)}  # with its default guide
    return {
        "model": r.name,
        "run": str(Path(run).resolve()),
        "checkpoint": r.checkpoint,
        "weights": r.weights,
        "model_hash": r.model_hash,
        "step": r.step,
        "seed": seed,
        "n": n,
        "label": label,
        **settings,
        "options": options,
    }


def run_replay(png: str, run: str | None = None, out: str | None = None) -> tuple[Path, int]:
    """Regenerate a PNG that ``imagegen sample`` wrote, from the settings in its metadata.

    Args:
        png: the PNG (a grid, or one image of a folder of samples).
        run: the run folder, if it moved since (default: the path recorded in the PNG).
        out: where to write the regenerated PNG (default: beside ``png`` as NAME.replay.png).

    Returns:
        the written file and the largest pixel difference from ``png`` (0: identical).
    """
    from PIL import Image

    from imagegen.sampling import load_run
    from imagegen.viz import make_grid, read_png_metadata, save_png

    path = Path(png)
    if not path.is_file():
        raise ConfigError(f"{png} does not exist: give a PNG written by `imagegen sample`")
    try:
        meta = read_png_metadata(path)
    except (OSError, ValueError) as e:
        raise ConfigError(
            f"{png} is not a readable PNG ({e}): give a PNG written by `imagegen sample`"
        ) from None
    missing = [
        k
        for k in ("run", "checkpoint", "weights", "model_hash", "seed", "options")
        if k not in meta
    ]
    if missing:
        raise ConfigError(
            f"{png} does not record {', '.join(missing)}: only PNGs written by `imagegen sample` "
            "(this version or later) can be replayed"
        )
    run_dir = run or meta["run"]
    r = load_run(run_dir, checkpoint=meta["checkpoint"], ema=meta["weights"] == "ema.safetensors")
    if r.model_hash != meta["model_hash"]:
        raise RunError(
            f"the weights in {run_dir} ({r.model_hash}) are not the ones that made {png} "
            f"({meta['model_hash']}): point --replay's RUN at the run that made it"
        )
    options = meta["options"]
    if "index" in meta:  # one image of a folder: image `index` of the seed's stream
        images = r.sample(
            1, seed=meta["seed"], first=meta["index"], labels=meta["label"], **options
        )
        picture = images[0]
    else:
        images = r.sample(meta["n"], seed=meta["seed"], labels=meta["label"], **options)
        picture = make_grid(images, scale=int(meta.get("grid_scale", 1)))
    target = Path(out) if out else path.with_name(f"{path.stem}.replay.png")
    save_png(target, picture, meta)
    with Image.open(path) as im:
        original = np.asarray(im)
    if original.ndim == 2:
        original = original[..., None]
    if original.shape != picture.shape:
        raise RunError(
            f"{png} is {original.shape} but its settings make {picture.shape}: the PNG was edited"
        )
    diff = int(np.abs(original.astype(np.int16) - picture.astype(np.int16)).max())
    return target, diff


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


def _run_data(cfg: dict[str, Any], data_name: str | None, data_root: str | None):
    """Test images for pictures of a run: --data, else the dataset the run was trained on."""
    from imagegen.data import list_datasets

    pre = cfg.get("data", {}).get("preprocessing", {})
    opts = {k: pre[k] for k in ("resolution", "channels") if k in pre}
    name = data_name or cfg.get("data", {}).get("name", "")
    if data_name is None and name not in list_datasets():
        raise ConfigError(
            f"the run was trained on '{name}', which is not a named dataset: give --data PATH"
        )
    try:
        return _load_data(name, "test", opts, data_root)
    except DataError:
        return _load_data(name, "train", opts, data_root)


def run_pictures(
    run: str,
    kind: str,
    *,
    data_name: str | None = None,
    data_root: str | None = None,
    n: int = 32,
    seed: int = 0,
    out: str | None = None,
    label: int | None = None,
    options: dict[str, Any] | None = None,
) -> tuple[Path, str]:
    """Write a picture of a run: a reconstruction, interpolation or traversal grid of an
    autoencoder, an interpolation, truncation or style-mixing grid of a GAN, or the denoising
    process or a guidance sweep of a diffusion model (``options``: its sampling options).

    Returns:
        the PNG and a line describing it.
    """
    from imagegen.sampling import load_run
    from imagegen.viz import save_png

    _check_n(n)
    r = load_run(run)
    meta = {
        "model": r.name,
        "run": str(Path(run).resolve()),
        "checkpoint": r.checkpoint,
        "model_hash": r.model_hash,
        "seed": seed,
        "picture": kind,
    }
    if r.model.family == "diffusion" or kind in ("process", "guidance"):
        options = r.sampling_options(options or {})  # the run's default guide, if any
        grid, what = _diffusion_picture(r.model, kind, n, seed, label, options, meta)
    elif r.model.family == "gan" or kind in ("truncation", "style_mix"):
        grid, what = _gan_picture(r.model, kind, n, seed, meta)
    else:
        grid, what = _autoencoder_picture(r, kind, data_name, data_root, n, seed, meta)
    target = Path(out) if out else Path(run) / f"{kind}.png"
    save_png(target, grid, meta)
    return target, what


def _autoencoder_picture(r, kind, data_name, data_root, n, seed, meta) -> tuple[np.ndarray, str]:
    from imagegen.sampling.pictures import interpolation_grid, reconstruction_grid, traversal_grid

    data = _run_data(r.config, data_name, data_root)
    if kind == "reconstruct":
        grid = reconstruction_grid(r.model, data, n=n, seed=seed)
        what = f"inputs (odd rows) and reconstructions (even rows) of {data.spec.name} {data.split}"
    elif kind == "interpolate":
        grid = interpolation_grid(r.model, data, rows=min(n, 16), seed=seed)
        what = f"latent interpolations between {data.spec.name} {data.split} images, one per row"
    else:
        grid, dims = traversal_grid(r.model, data, seed=seed)
        meta["dims"] = dims
        what = f"latent traversals from -3 to 3 of dimensions {dims}, one per row"
    return grid, what


def _gan_picture(model, kind, n, seed, meta) -> tuple[np.ndarray, str]:
    from imagegen.sampling.gan_pictures import (
        gan_interpolation_grid,
        style_mix_grid,
        truncation_grid,
    )

    if kind == "interpolate":
        return gan_interpolation_grid(model, rows=min(n, 16), seed=seed), (
            "interpolations between random latents (spherical), one per row"
        )
    if kind == "truncation":
        grid, values = truncation_grid(model, rows=min(n, 16), seed=seed)
        meta["truncation"] = values
        return grid, f"the same seeds per row, truncation {values} by column"
    if kind == "style_mix":
        grid, crossover = style_mix_grid(model, n=min(n, 8), seed=seed)
        meta["crossover"] = crossover
        return grid, (
            f"styles of the left column before layer {crossover}, of the top row from it on"
        )
    raise ConfigError(
        f"--{kind} needs an autoencoder run, not the GAN '{model.name}': GANs have "
        "--interpolate, --truncation-sweep (biggan, stylegan) and --style-mix (stylegan)"
    )


def _diffusion_picture(model, kind, n, seed, label, options, meta) -> tuple[np.ndarray, str]:
    import torch

    from imagegen.sampling.diffusion_pictures import denoising_strip, guidance_grid

    meta["options"] = options
    if kind == "process":
        rows = min(n, 8)
        labels = None if label is None else torch.full((rows,), int(label))
        grid, ts = denoising_strip(model, n=rows, seed=seed, labels=labels, **options)
        meta["timesteps"] = ts
        return grid, f"per sample: x_t at t = {ts} then the sample; below it, the predicted x_0"
    if kind == "guidance":
        options = {k: v for k, v in options.items() if k != "guidance"}
        grid, scales = guidance_grid(model, seed=seed, **options)
        meta["guidance"] = scales
        cols = "one seed" if options.get("prompt") else "one class"
        return grid, f"{cols} per column, guidance {scales} by row, the same noise in each row"
    raise ConfigError(
        f"--{kind} is not a picture of the diffusion model '{model.name}': diffusion runs have "
        "--process and --guidance-sweep"
    )


def run_export(run: str, dest: str, fmt: str = "diffusers", checkpoint: str | None = None) -> Path:
    """Export a run (its EMA weights when it has them) to ``dest`` in format ``fmt``."""
    from imagegen.models.diffusion.export import export_diffusers
    from imagegen.sampling import load_run

    if fmt != "diffusers":
        raise ConfigError(f"export format '{fmt}' is not known: use --format diffusers")
    return export_diffusers(load_run(run, checkpoint=checkpoint).model, dest)
