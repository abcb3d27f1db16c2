"""Decode one image file into uint8 pixels: any Pillow mode to grayscale or RGB, EXIF-upright.

Mode rules (documented here once, relied on by the folder, zip and cifar10 loaders):

- ``1``, ``L``: grayscale (bilevel becomes 0/255).
- ``I;16*`` and ``I`` (16-bit): clipped to ``[0, 65535]`` and scaled to 8 bits with rounding,
  ``round(v * 255 / 65535)``. ``F``: clipped to ``[0, 255]`` and rounded.
- Any alpha (``LA``, ``RGBA``, ``PA``, ``P``/``L``/``RGB`` with a transparency key, premultiplied
  ``La``/``RGBa``): composited over white, so transparent areas are white, never black.
- ``P`` (palette): RGB, or grayscale when every used colour is gray.
- ``CMYK``, ``YCbCr``, ``LAB``, ``HSV``, ``RGBX``: Pillow's conversion to RGB.
- EXIF orientation is applied with :func:`PIL.ImageOps.exif_transpose`; an unreadable EXIF block
  is ignored (the pixels are still good).

Pillow's decompression-bomb limit (``Image.MAX_IMAGE_PIXELS``) is left on: such files are
reported as unreadable.
"""

from __future__ import annotations

import io
import math
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps

from imagegen.data.preprocess import composite_on_white, square_resize

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")

_SIXTEEN_BIT = {"I", "I;16", "I;16L", "I;16B", "I;16N"}


class UnreadableImage(Exception):
    """A file that is not a decodable image; the message says why, on one line."""


def is_image_name(name: str) -> bool:
    """True for names with a supported image extension (case-insensitive), skipping dotfiles."""
    base = name.rsplit("/", 1)[-1]
    return not base.startswith(".") and base.lower().endswith(IMAGE_EXTENSIONS)


def image_size(data: bytes | BinaryIO) -> tuple[int, int]:
    """``(width, height)`` as stored (before EXIF orientation), read from the header only.

    Args:
        data: the file's bytes, or a seekable binary stream positioned at its start (only the
            header is read from a stream, which matters for folders of large photos).

    Raises:
        UnreadableImage: empty, unknown format, or over the decompression-bomb limit.
    """
    im = _open(data)
    w, h = im.size
    return (w, h)


def decode_image(data: bytes, resolution: int) -> np.ndarray:
    """Decode, orient, convert and square-resize one encoded image.

    Args:
        data: the file's bytes (PNG, JPEG, BMP, GIF, WebP or TIFF).
        resolution: output side; see :func:`imagegen.data.preprocess.square_resize`.

    Returns:
        uint8 ``(resolution, resolution, 1)`` for grayscale sources, else
        ``(resolution, resolution, 3)``; values ``[0, 255]``.

    Raises:
        UnreadableImage: the bytes are empty, truncated, corrupt or not an image.
    """
    im = _open(data)
    try:
        if im.format == "JPEG":
            w, h = im.size
            s = min(w, h)
            if s >= 2 * resolution:
                # DCT-domain downscale while decoding: much faster for photos, never below target.
                scale = resolution / s
                im.draft(im.mode, (math.ceil(w * scale), math.ceil(h * scale)))
        im.load()
        im = _upright(im)
        im = to_gray_or_rgb(im)
        im = square_resize(im, resolution)
    except UnreadableImage:
        raise
    except Exception as e:  # Pillow raises OSError, ValueError, SyntaxError, ... on bad data
        raise UnreadableImage(_one_line(e)) from None
    arr = np.asarray(im, dtype=np.uint8)
    return arr[..., None] if arr.ndim == 2 else arr


def to_gray_or_rgb(im: Image.Image) -> Image.Image:
    """Convert a loaded image of any mode to "L" or "RGB" following the module's mode rules."""
    mode = im.mode
    from_palette = mode in ("P", "PA")
    has_key = "transparency" in im.info
    if from_palette:
        im = im.convert("RGBA" if (mode == "PA" or has_key) else "RGB")
    elif has_key and mode in ("L", "RGB"):
        im = im.convert("LA" if mode == "L" else "RGBA")
    mode = im.mode
    if mode == "1":
        return im.convert("L")
    if mode in _SIXTEEN_BIT:
        v = np.clip(np.asarray(im).astype(np.int64), 0, 65535)
        return Image.fromarray(((v * 255 + 32767) // 65535).astype(np.uint8), "L")
    if mode == "F":
        v = np.clip(np.rint(np.asarray(im, dtype=np.float64)), 0, 255)
        return Image.fromarray(v.astype(np.uint8), "L")
    if mode in ("LA", "La"):
        a = np.asarray(im.convert("LA") if mode == "La" else im)
        return Image.fromarray(composite_on_white(a[..., :1], a[..., 1])[..., 0], "L")
    if mode in ("RGBA", "RGBa") or "A" in mode:
        a = np.asarray(im.convert("RGBA"))
        im = Image.fromarray(composite_on_white(a[..., :3], a[..., 3]), "RGB")
    elif mode not in ("L", "RGB"):
        im = im.convert("RGB")
    if from_palette and im.mode == "RGB":
        a = np.asarray(im)
        if np.array_equal(a[..., 0], a[..., 1]) and np.array_equal(a[..., 0], a[..., 2]):
            return Image.fromarray(np.ascontiguousarray(a[..., 0]), "L")
    return im


def _open(data: bytes | BinaryIO) -> Image.Image:
    if isinstance(data, bytes | bytearray) and not data:
        raise UnreadableImage("empty file (0 bytes)")
    try:
        im = Image.open(io.BytesIO(data) if isinstance(data, bytes | bytearray) else data)
    except Image.DecompressionBombError as e:
        raise UnreadableImage(
            f"too many pixels for Pillow's safety limit ({_one_line(e)})"
        ) from None
    except Exception as e:
        raise UnreadableImage(f"not a readable image ({_one_line(e)})") from None
    return im


def _upright(im: Image.Image) -> Image.Image:
    try:
        out = ImageOps.exif_transpose(im)
    except Exception:  # a broken EXIF block should not cost a good image
        return im
    return im if out is None else out


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 200 else text[:197] + "..."
