"""Load images stored as numpy arrays in a ``.npz`` file (never unpickles: ``allow_pickle=False``).

Accepted keys:

- Split layout (as Keras' ``mnist.npz``): ``x_train``/``y_train`` and ``x_test``/``y_test``;
  ``split`` picks one.
- Single layout: ``x`` or ``images``, with optional ``y`` or ``labels``; the dataset's split is
  ``"all"`` whichever split was asked for.
- Optional ``class_names``: a string array naming the classes (default "0", "1", ...).

Images are uint8 ``(N, H, W)``, ``(N, H, W, 1)``, ``(N, H, W, 3)`` or ``(N, H, W, 4)`` (alpha is
composited on white); non-square images are centre-cropped. Labels are non-negative integers.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from imagegen.data.base import ImageDataset
from imagegen.data.options import LoadOptions
from imagegen.data.preprocess import composite_on_white, finalize
from imagegen.errors import DataError

IMAGE_KEYS = ("x", "images")
LABEL_KEYS = ("y", "labels")


def load_npz(path: Path, opts: LoadOptions, *, name: str | None = None) -> ImageDataset:
    """Load a ``.npz`` of uint8 images following the module's key rules.

    Args:
        path: the ``.npz`` file.
        opts: split, resolution, channels, limit.
        name: dataset name to record (default: the path).

    Returns:
        uint8 images ``(N, R, R, C)``; int64 labels when the file has them.

    Raises:
        DataError: unreadable file, missing keys, wrong dtype or shape, bad labels.
    """
    try:
        with np.load(path, allow_pickle=False) as f:
            keys = list(f.files)
            x_key, y_key, split = _keys(keys, opts.split, path)
            x = f[x_key]
            y_all = f[y_key] if y_key else None
            names = f["class_names"] if "class_names" in keys else None
    except DataError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        reason = " ".join(str(e).split())
        raise DataError(
            f"cannot read {path} as .npz ({reason}): save it with numpy.savez of plain uint8 arrays"
        ) from None
    _check_images(x, x_key, path)
    labels = None
    class_names: list[str] = []
    if y_all is not None:
        if len(y_all) != len(x):
            raise DataError(
                f"{path}: {y_key!r} has {len(y_all)} labels for {len(x)} images in {x_key!r}: save one label per image"
            )
        y_all = _check_labels(y_all, y_key, path)
        k = int(y_all.max()) + 1
        class_names = (
            [str(c) for c in np.atleast_1d(names).tolist()]
            if names is not None
            else [str(i) for i in range(k)]
        )
        if k > len(class_names):
            raise DataError(
                f"{path}: label {k - 1} but only {len(class_names)} class_names: add the missing names"
            )
    keep = opts.select(y_all, len(x))
    images, notes = _to_rgb_or_gray(x[keep])
    if y_all is not None:
        labels = y_all[keep]
    return finalize(
        images,
        opts,
        name=name or str(path),
        split=split,
        source=str(path) if split == "all" else f"{path} ({x_key})",
        labels=labels,
        class_names=class_names,
        notes=notes,
    )


def _keys(keys: list[str], split: str, path: Path) -> tuple[str, str | None, str]:
    if any(k in keys for k in ("x_train", "x_test")):
        x_key = f"x_{split}"
        if x_key not in keys:
            raise DataError(
                f"{path} has no {x_key!r} array for split={split!r}: add it or load the other split"
            )
        y_key = f"y_{split}"
        return x_key, (y_key if y_key in keys else None), split
    x_key = next((k for k in IMAGE_KEYS if k in keys), None)
    if x_key is None:
        raise DataError(
            f"{path} has no image array (found keys: {', '.join(keys) or 'none'}): "
            "save the images under 'x' or 'images' (or 'x_train'/'x_test')"
        )
    y_key = next((k for k in LABEL_KEYS if k in keys), None)
    return x_key, y_key, "all"


def _check_images(x: np.ndarray, key: str, path: Path) -> None:
    if x.dtype != np.uint8:
        raise DataError(
            f"{path}: {key!r} has dtype {x.dtype}: save images as uint8 in [0, 255] (e.g. (x * 255).round().astype('uint8'))"
        )
    ok = x.ndim == 3 or (x.ndim == 4 and x.shape[-1] in (1, 3, 4))
    if not ok:
        hint = (
            " (looks like NCHW: transpose to NHWC)"
            if x.ndim == 4 and x.shape[1] in (1, 3, 4)
            else ""
        )
        raise DataError(
            f"{path}: {key!r} has shape {x.shape}{hint}: expected (N, H, W) or (N, H, W, C) with C in 1, 3, 4"
        )
    if len(x) == 0:
        raise DataError(f"{path}: {key!r} holds no images: save at least one")


def _to_rgb_or_gray(x: np.ndarray) -> tuple[np.ndarray, dict]:
    if x.ndim == 3:
        return x[..., None], {}
    if x.shape[-1] == 4:
        return composite_on_white(x[..., :3], x[..., 3]), {"alpha": "composited on white"}
    return x, {}


def _check_labels(y: np.ndarray, key: str, path: Path) -> np.ndarray:
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DataError(
            f"{path}: {key!r} has dtype {y.dtype} shape {y.shape}: save labels as a 1-D integer array"
        )
    if len(y) and int(y.min()) < 0:
        raise DataError(
            f"{path}: {key!r} has negative label {int(y.min())}: labels must be 0, 1, 2, ..."
        )
    return y.astype(np.int64)
