"""``imagegen eval`` and ``imagegen compare`` as plain functions (the CLI only parses and prints).

A source of generated images is a RUN folder (sampled here, with balanced class labels for
conditional models), a ``samples.npz`` (``x``, optional ``y`` labels and ``originals``), or a folder /
``.zip`` of images. The real side is a dataset name or path with a split.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from imagegen.data.base import ImageDataset
from imagegen.errors import ConfigError, DataError, ImagegenError
from imagegen.progress import tqdm_callback

log = logging.getLogger(__name__)


@dataclass
class Generated:
    """Generated images with what the metrics may need beside them."""

    images: np.ndarray
    labels: np.ndarray | None = None
    originals: np.ndarray | None = None
    run: Path | None = None
    info: dict[str, Any] = field(default_factory=dict)


def _check_n(n: int, what: str = "--n") -> None:
    if n < 1:
        raise ConfigError(f"{what} {n} is not allowed: ask for at least 1 image")


def load_npz(path: Path, n: int) -> Generated:
    """``x`` (uint8 NHWC), optional ``y`` and ``originals`` from a .npz, never unpickling."""
    if not path.is_file():
        raise DataError(
            f"samples file {path} not found: write one with `imagegen sample RUN --out {path}`"
        )
    try:
        with np.load(path, allow_pickle=False) as f:
            if "x" not in f:
                raise DataError(
                    f"{path} has no array 'x': save samples as uint8 (N, H, W, C) under key x"
                )
            arrays = {k: f[k][:n] for k in ("x", "y", "originals") if k in f}
    except (OSError, ValueError) as e:
        raise DataError(
            f"cannot read {path} as .npz ({e}): give a samples.npz written by `imagegen sample`"
        ) from None
    x = arrays["x"]
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise DataError(
            f"{path}: 'x' must be uint8 (N, H, W, C) with C 1 or 3, got {x.dtype} {x.shape}"
        )
    return Generated(x, arrays.get("y"), arrays.get("originals"), info={"source": str(path)})


def load_run_samples(
    path: Path, n: int, seed: int, checkpoint: str | None, reconstruct_from: ImageDataset | None
) -> Generated:
    """Sample ``n`` images from a run (balanced labels if conditional), or reconstruct test images."""
    from imagegen.sampling import load_run
    from imagegen.sampling.generate import default_labels, to_uint8

    r = load_run(path, checkpoint=checkpoint)
    info = {"source": str(path), "model": r.name, "step": r.step, "seed": seed}
    if reconstruct_from is not None:
        import torch

        if not hasattr(r.model, "reconstruct"):
            raise ConfigError(
                f"model '{r.name}' does not reconstruct images: mse/psnr/ssim need an autoencoder run"
            )
        sub = reconstruct_from.subset(n, seed=seed)
        batch = sub.batch(np.arange(len(sub)))
        labels = batch.y if r.model.conditional else None
        with torch.no_grad():
            x_hat = r.model.reconstruct(batch.x, labels)
        return Generated(
            to_uint8(x_hat), None, sub.images, path, {**info, "reconstructed": len(sub)}
        )
    labels = default_labels(r.model, n)
    options = r.sampling_options({})  # the run's default guide, if any
    if options.get("guide"):
        info["guide"] = Path(options["guide"]).name
    images = r.sample(n, seed=seed, labels=labels, progress=tqdm_callback("sampling"), **options)
    return Generated(images, None if labels is None else labels.numpy(), None, path, info)


def load_folder(path: str, n: int, reference: ImageDataset | None) -> Generated:
    """Images of a folder or .zip; its class sub-folders become labels if they name the reference's classes."""
    from imagegen.data import load_dataset

    ds = load_dataset(path, split="train", limit=n)
    labels = None
    if ds.labels is not None and reference is not None and reference.spec.class_names:
        names = list(reference.spec.class_names)
        if all(c in names for c in ds.spec.class_names):
            labels = np.array([names.index(ds.spec.class_names[y]) for y in ds.labels])
    return Generated(ds.images, labels, None, info={"source": path})


def run_eval(
    source: str,
    data_name: str,
    *,
    split: str = "test",
    n: int = 10000,
    n_ref: int | None = None,
    metrics: str = "fid",
    seed: int = 0,
    checkpoint: str | None = None,
    data_root: str | None = None,
    settings: dict[str, Any] | None = None,
    is_weights: str | None = None,
    trust_weights: bool = False,
    pictures: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Metrics of a run's samples, a samples.npz or an image folder against ``data_name``/``split``."""
    from imagegen.data import load_dataset
    from imagegen.metrics.evaluate import RECONSTRUCTION, evaluate, parse_metrics

    _check_n(n)
    if n_ref is not None:
        _check_n(n_ref, "--n-ref")
    wanted = [m.strip().lower() for m in metrics.split(",") if m.strip()]
    want_elbo = "elbo" in wanted
    rest = ",".join(m for m in wanted if m != "elbo")
    names = parse_metrics(rest) if rest or not want_elbo else []
    src = Path(source)
    resolution = None
    if src.is_dir() and (src / "config.json").is_file():
        resolution = json.loads((src / "config.json").read_text()).get("data", {}).get("resolution")
    ref = load_dataset(data_name, split=split, data_root=data_root, resolution=resolution)
    train = None
    if "acc" in names or "mem" in names:
        train = load_dataset(data_name, split="train", data_root=data_root, resolution=resolution)
    elbo = run_elbo(src, ref, n_ref, seed, checkpoint, progress) if want_elbo else {}
    if not names:  # the ELBO only: nothing to sample
        card = {
            "n_generated": 0,
            "n_real": elbo["elbo_images"],
            "feature_network": "none",
            "resize": "none",
            "reference": {"name": ref.spec.name, "split": ref.split},
            "source": {"source": str(src)},
        }
        return {**elbo, "card": card}
    if src.suffix == ".npz":
        gen = load_npz(src, n)
    elif src.is_dir() and (src / "config.json").is_file():
        recon = ref if any(m in names for m in RECONSTRUCTION) else None
        gen = load_run_samples(src, n, seed, checkpoint, recon)
    elif src.exists():
        gen = load_folder(str(src), n, ref)
    else:
        raise DataError(f"{source} not found: give a run folder, a samples.npz or an image folder")
    result = evaluate(
        gen.images,
        ref,
        metrics=names,
        labels=gen.labels,
        train=train,
        originals=gen.originals,
        is_weights=is_weights,
        trust_weights=trust_weights,
        cache_dir=None,
        progress=tqdm_callback("features") if progress else None,
        n_ref=n_ref,
        seed=seed,
        **(settings or {}),
    )
    result["card"]["source"] = gen.info
    result.update(elbo)
    if "mem_closest" in result and train is not None:
        result["mem_picture"] = str(
            save_memorization_picture(result, gen.images, train, _picture_dir(pictures, gen.run))
        )
    return result


def run_elbo(
    src: Path, ref: Any, n: int | None, seed: int, checkpoint: str | None, progress: bool
) -> dict[str, Any]:
    """Negative ELBO of a VAE-family run on the reference images (--n-ref of them, or all)."""
    from imagegen.sampling import load_run
    from imagegen.sampling.elbo import evaluate_elbo

    if not (src.is_dir() and (src / "config.json").is_file()):
        raise ConfigError(f"elbo needs a run folder of the VAE family, not {src}")
    r = load_run(src, checkpoint=checkpoint)
    return evaluate_elbo(
        r.model, ref, n=n, seed=seed, progress=tqdm_callback("elbo") if progress else None
    )


def run_compare_sets(
    real: str,
    fake: str,
    *,
    split: str = "test",
    n: int = 10000,
    metrics: str = "fid",
    data_root: str | None = None,
    settings: dict[str, Any] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """``imagegen eval --real A --fake B``: two image sets compared directly."""
    from imagegen.data import load_dataset
    from imagegen.metrics.evaluate import evaluate, parse_metrics

    _check_n(n)
    names = parse_metrics(metrics)
    unsupported = [m for m in names if m in ("acc", "mem")]
    if unsupported:
        raise ConfigError(
            f"{', '.join(unsupported)} need(s) a training split: use `imagegen eval SOURCE --data DATA`"
        )
    ref = load_dataset(real, split=split, data_root=data_root)
    fake_path = Path(fake)
    gen = load_npz(fake_path, n) if fake_path.suffix == ".npz" else load_folder(fake, n, ref)
    result = evaluate(
        gen.images,
        ref,
        metrics=names,
        labels=gen.labels,
        originals=gen.originals,
        progress=tqdm_callback("features") if progress else None,
        **(settings or {}),
    )
    result["card"]["source"] = gen.info
    return result


def _picture_dir(pictures: str | None, run: Path | None) -> Path:
    if pictures:
        return Path(pictures)
    return run if run is not None else Path(".")


def save_memorization_picture(
    result: dict, images: np.ndarray, train: ImageDataset, folder: Path
) -> Path:
    """Top row: the samples closest to a training image; bottom row: that training image."""
    from imagegen.viz import auto_scale, make_grid, save_png

    pairs = result["mem_closest"]
    gen = images[[g for g, _, _ in pairs]]
    near = train.images[[t for _, t, _ in pairs]]
    if gen.shape[-1] != near.shape[-1]:
        gen, near = _as_rgb(gen), _as_rgb(near)
    grid = make_grid(np.concatenate([gen, near]), nrow=len(pairs), scale=auto_scale(gen.shape[1]))
    path = folder / "memorization.png"
    save_png(path, grid, {"top": "closest samples", "bottom": "nearest training images"})
    return path


def _as_rgb(x: np.ndarray) -> np.ndarray:
    return np.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x


def compare_results(paths: list[str], force: bool = False) -> list[dict[str, Any]]:
    """Load result JSONs and check that their cards are comparable (ImagegenError if not)."""
    from imagegen.metrics.card import card_differences, card_notes

    results = []
    for p in paths:
        try:
            r = json.loads(Path(p).read_text())
        except (OSError, ValueError) as e:
            raise DataError(
                f"cannot read {p} as a result JSON ({e}): write one with `imagegen eval --json`"
            ) from None
        if not isinstance(r, dict) or "card" not in r:
            raise DataError(f"{p} has no metric card: write results with `imagegen eval --json`")
        results.append(r)
    base = results[0]["card"]
    for p, r in zip(paths[1:], results[1:], strict=True):
        diffs = card_differences(base, r["card"])
        if diffs and not force:
            raise ImagegenError(
                f"{paths[0]} and {p} are not comparable ({'; '.join(diffs)}): "
                "re-evaluate with the same settings, or pass --force to show them anyway"
            )
        for note in card_notes(base, r["card"]) + (diffs if force else []):
            log.warning("%s vs %s: %s", paths[0], p, note)
    return results


def score_rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    """(name, value) rows of a result for printing, ``kid ± kid_std`` style."""
    rows = []
    skip = {"card", "mem_closest", "mem_picture", "ssim_window", "is_weights_sha256"}
    for k, v in result.items():
        if k in skip or k.endswith("_std"):
            continue
        text = f"{v:.4g}" if isinstance(v, float) else str(v)
        if f"{k}_std" in result:
            text += f" ± {result[f'{k}_std']:.2g}"
        rows.append((k, text))
    return rows
