"""Sample grids: tile a batch of uint8 images into one picture and save it as a tagged PNG.

The PNG carries the run's facts (model, seed, step, ...) as a ``tEXt`` chunk so that any grid found
on disk can be traced back to the run that made it: key ``"imagegen"`` holds the whole metadata as
JSON, and each top-level item is repeated under its own key as text for viewers that list ``tEXt``
chunks (the way A1111 stores ``"parameters"``).
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from imagegen.viz._atomic import atomic_write_bytes

logger = logging.getLogger(__name__)

METADATA_KEY = "imagegen"
"""PNG text key under which the full metadata is stored as JSON."""

# PNG keywords are 1-79 Latin-1 characters (PNG spec, section 11.3.4.3).
_MAX_PNG_KEYWORD = 79


def make_grid(
    images: np.ndarray,
    nrow: int | None = None,
    padding: int = 2,
    pad_value: int = 255,
    scale: int = 1,
) -> np.ndarray:
    """Tile ``N`` images into a grid, ``nrow`` images per row, like ``torchvision.utils.make_grid``.

    Each image is first enlarged ``scale`` times with nearest-neighbour (so 8x8 digits stay crisp),
    then placed in a cell; ``padding`` pixels of ``pad_value`` separate the cells and frame the grid.
    Cells after the last image are left as padding colour.

    Args:
        images: uint8 ``(N, H, W, C)`` with ``C`` in {1, 3}, values ``[0, 255]``; a ``(N, H, W)``
            array is taken as grayscale.
        nrow: images per row; default ``ceil(sqrt(N))``.
        padding: pixels between cells and around the border, ``>= 0``.
        pad_value: grey level ``[0, 255]`` of the padding.
        scale: integer nearest-neighbour upsampling factor, ``>= 1``.

    Returns:
        uint8 ``(rows * (H*scale + padding) + padding, nrow' * (W*scale + padding) + padding, C)``
        where ``nrow' = min(nrow, N)`` and ``rows = ceil(N / nrow')``.

    Raises:
        ValueError: on a wrong dtype, shape or argument value.
    """
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(
            f"images must have shape (N, H, W, C) with C in {{1, 3}}, got {images.shape}"
        )
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 in [0, 255], got dtype {images.dtype}")
    n, h, w, c = images.shape
    if n == 0:
        raise ValueError("images is empty: need at least one image to make a grid")
    if nrow is None:
        nrow = math.ceil(math.sqrt(n))
    if nrow < 1:
        raise ValueError(f"nrow must be >= 1, got {nrow}")
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    if not 0 <= pad_value <= 255:
        raise ValueError(f"pad_value must be in [0, 255], got {pad_value}")
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")

    if scale > 1:
        # (N, H, W, C) -> (N, H*scale, W*scale, C)
        images = images.repeat(scale, axis=1).repeat(scale, axis=2)
        h, w = h * scale, w * scale

    ncol = min(nrow, n)
    nrows = math.ceil(n / ncol)
    cell_h, cell_w = h + padding, w + padding
    grid = np.full(
        (nrows * cell_h + padding, ncol * cell_w + padding, c), pad_value, dtype=np.uint8
    )
    for k in range(n):
        row, col = divmod(k, ncol)
        top, left = padding + row * cell_h, padding + col * cell_w
        grid[top : top + h, left : left + w] = images[k]
    return grid


def auto_scale(resolution: int, nrow: int = 8, min_width: int = 256, max_scale: int = 32) -> int:
    """Pick a nearest-neighbour scale so a grid of small images is at least ``min_width`` wide.

    Args:
        resolution: width in pixels of one image (``>= 1``).
        nrow: images per grid row the scale is chosen for.
        min_width: target minimum width of the images in one row, in pixels.
        max_scale: upper bound on the returned factor.

    Returns:
        An integer scale in ``[1, max_scale]``: 4 for 8x8 digits in rows of 8, 2 for 28x28 MNIST,
        1 for 32x32 and above.
    """
    if resolution < 1:
        raise ValueError(f"resolution must be >= 1, got {resolution}")
    if nrow < 1:
        raise ValueError(f"nrow must be >= 1, got {nrow}")
    return max(1, min(max_scale, math.ceil(min_width / (resolution * nrow))))


def _png_info(metadata: Mapping[str, Any]) -> PngInfo:
    """Build the PNG text chunks for ``metadata`` (see the module docstring)."""
    info = PngInfo()
    # ensure_ascii keeps the JSON in plain tEXt; default=str accepts Paths and similar values.
    info.add_text(METADATA_KEY, json.dumps(metadata, ensure_ascii=True, default=str))
    for key, value in metadata.items():
        key = str(key)[:_MAX_PNG_KEYWORD]
        if not key or key == METADATA_KEY:
            continue
        if isinstance(value, str):
            text = value
        elif isinstance(value, Mapping | list | tuple):
            text = json.dumps(value, default=str)
        else:
            text = str(value)
        try:
            key.encode("latin-1")
        except UnicodeEncodeError:
            logger.debug("skipping PNG text key %r: PNG keywords must be Latin-1", key)
            continue
        # Pillow falls back to an iTXt chunk for values that are not Latin-1.
        info.add_text(key, text)
    return info


def save_png(
    path: str | os.PathLike, image: np.ndarray, metadata: Mapping[str, Any] | None = None
) -> Path:
    """Write ``image`` as a PNG atomically, with ``metadata`` in its text chunks.

    The file is written to a temporary file in the same directory and moved into place, so a
    reader never sees a partial PNG. Missing parent directories are created.

    Args:
        path: destination ``.png`` file; replaced if it exists.
        image: uint8 ``(H, W, C)`` with ``C`` in {1, 3} (``C == 1`` or ``(H, W)`` is saved as
            8-bit grayscale, mode ``"L"``), values ``[0, 255]``.
        metadata: JSON-serialisable facts to store (values that JSON cannot encode are stored as
            their ``str``); read back with :func:`read_png_metadata`.

    Returns:
        The destination as a :class:`~pathlib.Path`.
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[-1] == 3)):
        raise ValueError(f"image must have shape (H, W, C) with C in {{1, 3}}, got {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 in [0, 255], got dtype {image.dtype}")
    # uint8 (H, W) becomes mode "L", uint8 (H, W, 3) mode "RGB".
    pil = Image.fromarray(np.ascontiguousarray(image))
    buf = io.BytesIO()
    pil.save(buf, format="PNG", pnginfo=_png_info(metadata) if metadata else None)
    out = atomic_write_bytes(path, buf.getvalue())
    logger.debug("wrote %s (%dx%d)", out, pil.width, pil.height)
    return out


def read_png_metadata(path: str | os.PathLike) -> dict:
    """Return the metadata :func:`save_png` stored in a PNG.

    Args:
        path: a PNG file.

    Returns:
        The parsed ``"imagegen"`` JSON object, or ``{}`` when the PNG carries none.

    Raises:
        ValueError: when the ``"imagegen"`` text is not a JSON object.
    """
    with Image.open(path) as im:
        text = getattr(im, "text", {}).get(METADATA_KEY)
    if text is None:
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: PNG text {METADATA_KEY!r} is not valid JSON ({err})") from err
    if not isinstance(data, dict):
        raise ValueError(f"{path}: PNG text {METADATA_KEY!r} is not a JSON object")
    return data
