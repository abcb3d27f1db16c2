"""Bring decoded pixels to one square resolution and channel count, and wrap them as a dataset.

Resizing rule (the same for files and arrays): take the centred square whose side is the shorter
side of the image, then resample it to ``resolution`` with Pillow, LANCZOS when shrinking (it
antialiases) and BICUBIC when enlarging. Grayscale -> RGB repeats the channel; RGB -> grayscale
uses ITU-R 601-2 luma with Pillow's own fixed-point rounding, so arrays and files agree exactly.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from PIL import Image

from imagegen.data.base import DataSpec, ImageDataset
from imagegen.data.options import LoadOptions

logger = logging.getLogger(__name__)

RESIZE_RULE = "center-crop to square, then lanczos (shrink) or bicubic (enlarge)"


def resample_for(side: int, resolution: int) -> Image.Resampling:
    """LANCZOS when shrinking ``side`` to ``resolution``, BICUBIC when enlarging."""
    return Image.Resampling.LANCZOS if side > resolution else Image.Resampling.BICUBIC


def square_resize(im: Image.Image, resolution: int) -> Image.Image:
    """Centre-crop a PIL image to a square and resample it to ``resolution`` x ``resolution``.

    Args:
        im: an "L" or "RGB" image of any size.
        resolution: output side in pixels.

    Returns:
        An image of the same mode, size ``(resolution, resolution)``; ``im`` itself if already so.
    """
    w, h = im.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    box = (left, top, left + s, top + s)
    if s == resolution:
        return im if (w, h) == (s, s) else im.crop(box)
    return im.resize((resolution, resolution), resample_for(s, resolution), box=box)


def resize_arrays(images: np.ndarray, resolution: int) -> np.ndarray:
    """Apply :func:`square_resize` to every image of an array.

    Args:
        images: uint8 ``(N, H, W, C)``, C in {1, 3}; H may differ from W.
        resolution: output side in pixels.

    Returns:
        uint8 ``(N, resolution, resolution, C)``; the input itself when nothing changes.
    """
    n, h, w, c = images.shape
    if h == w == resolution:
        return images
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    square = images[:, top : top + s, left : left + s]
    if s == resolution:
        return np.ascontiguousarray(square)
    out = np.empty((n, resolution, resolution, c), dtype=np.uint8)
    resample = resample_for(s, resolution)
    for i in range(n):
        im = Image.fromarray(square[i, :, :, 0] if c == 1 else square[i])
        arr = np.asarray(im.resize((resolution, resolution), resample))
        out[i] = arr[..., None] if c == 1 else arr
    return out


def rgb_to_gray(images: np.ndarray) -> np.ndarray:
    """ITU-R 601-2 luma, bit-exact with Pillow's ``convert("L")``.

    Args:
        images: uint8 ``(..., 3)``.

    Returns:
        uint8 ``(..., 1)`` in ``[0, 255]``.
    """
    x = images.astype(np.uint32)
    # Pillow's fixed point: L = (R*19595 + G*38470 + B*7471 + 0x8000) >> 16
    y = (x[..., 0] * 19595 + x[..., 1] * 38470 + x[..., 2] * 7471 + 0x8000) >> 16
    return y.astype(np.uint8)[..., None]


def convert_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """Convert uint8 ``(..., C)`` images with C in {1, 3} to ``channels`` (1 or 3) channels."""
    c = images.shape[-1]
    if c == channels:
        return images
    if channels == 3:
        return np.repeat(images, 3, axis=-1)
    return rgb_to_gray(images)


def composite_on_white(color: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Composite straight-alpha pixels over a white background.

    Args:
        color: uint8 ``(..., C)``.
        alpha: uint8 ``(...)``, 0 transparent .. 255 opaque.

    Returns:
        uint8 ``(..., C)``: ``round((c * a + 255 * (255 - a)) / 255)``.
    """
    a = alpha.astype(np.uint32)[..., None]
    out = (color.astype(np.uint32) * a + 255 * (255 - a) + 127) // 255
    return out.astype(np.uint8)


def finalize(
    images: np.ndarray,
    opts: LoadOptions,
    *,
    name: str,
    split: str,
    source: str,
    labels: np.ndarray | None = None,
    class_names: Sequence[str] = (),
    captions: list[str] | None = None,
    attributes: dict[str, np.ndarray] | None = None,
    attribute_names: dict[str, tuple[str, ...]] | None = None,
    notes: dict | None = None,
) -> ImageDataset:
    """Apply the requested channels and resolution to loaded arrays and build the dataset.

    ``limit`` must already have been applied by the loader (so it never decodes more than needed).

    Args:
        images: uint8 ``(N, H, W, C)`` with C in {1, 3}; H != W is centre-cropped.
        opts: the caller's options (``resolution``, ``channels``, ``limit`` are recorded).
        name, split, source: copied onto the dataset.
        labels: int ``(N,)`` in ``[0, len(class_names))`` or None.
        class_names: one name per class; empty when unlabelled.
        captions, attributes, attribute_names: copied onto the dataset.
        notes: loader-specific facts for ``preprocessing`` (e.g. how alpha was handled).

    Returns:
        The :class:`ImageDataset`, images uint8 ``(N, R, R, C)``.
    """
    channels = opts.channels or images.shape[-1]
    images = convert_channels(images, channels)
    h, w = images.shape[1:3]
    resolution = opts.resolution or min(h, w)
    native = (h, w)
    images = resize_arrays(images, resolution)
    preprocessing: dict = {"resolution": int(resolution), "channels": int(channels)}
    if native != (resolution, resolution):
        preprocessing["resize"] = f"{native[0]}x{native[1]} -> {resolution}: {RESIZE_RULE}"
    if opts.limit is not None:
        preprocessing["limit"] = int(opts.limit)
    preprocessing.update(notes or {})
    if labels is not None:
        labels = np.ascontiguousarray(labels, dtype=np.int64)
    spec = DataSpec(
        name=name,
        channels=int(channels),
        resolution=int(resolution),
        num_classes=len(class_names) if labels is not None else 0,
        class_names=tuple(class_names) if labels is not None else (),
    )
    ds = ImageDataset(
        images=np.ascontiguousarray(images),
        spec=spec,
        labels=labels,
        captions=captions,
        split=split,
        source=source,
        preprocessing=preprocessing,
        attributes=attributes,
        attribute_names=attribute_names,
    )
    logger.info(
        "loaded %s (%s): %d images %dx%dx%d from %s",
        name,
        split,
        len(ds),
        resolution,
        resolution,
        channels,
        source,
    )
    return ds
