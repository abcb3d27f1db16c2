"""``shapes``: procedural coloured shapes on plain backgrounds, with captions and attributes.

Each image shows one shape, drawn with antialiased edges (coverage from a signed distance), on a
background of another colour. Five factors, each uniform and independent (except that the
background never equals the shape colour):

- shape: circle, square, triangle, cross (the class label is the shape index);
- colour: red, orange, yellow, green, blue, purple;
- size: small (radius ~0.26 of a grid cell) or large (~0.40);
- position: cell of a 3x3 grid (top left ... bottom right), centre jittered by at most 6% of a
  cell, so a large shape always covers its cell's centre pixel;
- background: one of the same six colours.

Captions read "a small red circle at the top left on a blue background". Train and test come from
different seeds (``[seed, 0]`` and ``[seed, 1]``); all factors of a split are drawn up front, so
image ``i`` is the same whatever ``limit`` and resolution are, and only the kept images are drawn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from imagegen.data.base import ImageDataset
from imagegen.data.options import LoadOptions
from imagegen.data.preprocess import finalize
from imagegen.errors import DataError

NAME = "shapes"
DEFAULT_RESOLUTION = 32
MIN_RESOLUTION = 8
SPLIT_SIZES = {"train": 20_000, "test": 2_000}

SHAPES = ("circle", "square", "triangle", "cross")
COLOURS = ("red", "orange", "yellow", "green", "blue", "purple")
RGB = np.array(
    [[220, 40, 40], [245, 140, 30], [240, 215, 40], [40, 165, 70], [40, 90, 220], [140, 60, 180]],
    dtype=np.float32,
)
SIZES = ("small", "large")
POSITIONS = (
    "top left",
    "top",
    "top right",
    "left",
    "center",
    "right",
    "bottom left",
    "bottom",
    "bottom right",
)
POSITION_PHRASES = (
    "at the top left",
    "at the top",
    "at the top right",
    "on the left",
    "in the center",
    "on the right",
    "at the bottom left",
    "at the bottom",
    "at the bottom right",
)
ATTRIBUTE_NAMES: dict[str, tuple[str, ...]] = {
    "shape": SHAPES,
    "colour": COLOURS,
    "size": SIZES,
    "position": POSITIONS,
    "background": COLOURS,
}
_RADIUS = (0.26, 0.40)  # fraction of a grid cell, by size
_JITTER = 0.06  # fraction of a grid cell
_PIXELS_PER_CHUNK = 1 << 22


@dataclass(frozen=True)
class ShapeFactors:
    """The drawn factors of ``n`` images: int64 ``(n,)`` indices plus float geometry.

    ``radius`` and ``dx``/``dy`` (centre offset) are fractions of a grid cell.
    """

    shape: np.ndarray
    colour: np.ndarray
    size: np.ndarray
    position: np.ndarray
    background: np.ndarray
    radius: np.ndarray
    dx: np.ndarray
    dy: np.ndarray

    def attributes(self, n: int) -> dict[str, np.ndarray]:
        """The first ``n`` images' categorical factors, keyed like :data:`ATTRIBUTE_NAMES`."""
        return {k: getattr(self, k)[:n].astype(np.int64) for k in ATTRIBUTE_NAMES}


def draw_factors(n: int, seed: int, split: str) -> ShapeFactors:
    """Draw the factors of a whole split deterministically from ``[seed, split index]``."""
    rng = np.random.default_rng([seed, 0 if split == "train" else 1])
    shape = rng.integers(0, len(SHAPES), n)
    colour = rng.integers(0, len(COLOURS), n)
    size = rng.integers(0, len(SIZES), n)
    position = rng.integers(0, len(POSITIONS), n)
    background = (colour + rng.integers(1, len(COLOURS), n)) % len(COLOURS)
    radius = np.asarray(_RADIUS)[size] * rng.uniform(0.95, 1.05, n)
    dx, dy = rng.uniform(-_JITTER, _JITTER, (2, n))
    return ShapeFactors(shape, colour, size, position, background, radius, dx, dy)


def caption(f: ShapeFactors, i: int) -> str:
    """English caption of image ``i``, e.g. "a small red circle at the top left on a blue background"."""
    return (
        f"a {SIZES[f.size[i]]} {COLOURS[f.colour[i]]} {SHAPES[f.shape[i]]} "
        f"{POSITION_PHRASES[f.position[i]]} on a {COLOURS[f.background[i]]} background"
    )


def render(f: ShapeFactors, n: int, resolution: int) -> np.ndarray:
    """Draw the first ``n`` images of ``f``.

    Returns:
        uint8 ``(n, resolution, resolution, 3)`` in ``[0, 255]``.
    """
    out = np.empty((n, resolution, resolution, 3), dtype=np.uint8)
    step = max(1, _PIXELS_PER_CHUNK // (resolution * resolution))
    for start in range(0, n, step):
        sl = slice(start, min(n, start + step))
        out[sl] = _render_chunk(f, sl, resolution)
    return out


def _render_chunk(f: ShapeFactors, sl: slice, res: int) -> np.ndarray:
    cell = res / 3.0
    row, col = np.divmod(f.position[sl], 3)
    # Shape centre and radius in pixels, (n, 1, 1) to broadcast against the pixel grid.
    cx = ((col + 0.5 + f.dx[sl]) * cell)[:, None, None]
    cy = ((row + 0.5 + f.dy[sl]) * cell)[:, None, None]
    r = (f.radius[sl] * cell)[:, None, None]
    centres = np.arange(res, dtype=np.float64) + 0.5
    x = centres[None, None, :] - cx  # (n, 1, res)
    y = centres[None, :, None] - cy  # (n, res, 1)
    d = np.empty((len(r), res, res), dtype=np.float64)
    kind = f.shape[sl]
    for k, sdf in enumerate((_circle, _square, _triangle, _cross)):
        m = kind == k
        if m.any():
            d[m] = sdf(x[m], y[m], r[m])
    # Coverage of a pixel by the shape: a 1-pixel linear ramp across the edge.
    cov = np.clip(0.5 - d, 0.0, 1.0)[..., None].astype(np.float32)  # (n, res, res, 1)
    fg = RGB[f.colour[sl]][:, None, None, :]
    bg = RGB[f.background[sl]][:, None, None, :]
    return np.rint(bg + (fg - bg) * cov).astype(np.uint8)


def _circle(x: np.ndarray, y: np.ndarray, r: np.ndarray) -> np.ndarray:
    return np.sqrt(x * x + y * y) - r


def _box(x: np.ndarray, y: np.ndarray, bx: np.ndarray, by: np.ndarray) -> np.ndarray:
    qx, qy = np.abs(x) - bx, np.abs(y) - by
    outside = np.sqrt(np.maximum(qx, 0.0) ** 2 + np.maximum(qy, 0.0) ** 2)
    return outside + np.minimum(np.maximum(qx, qy), 0.0)


def _square(x: np.ndarray, y: np.ndarray, r: np.ndarray) -> np.ndarray:
    return _box(x, y, 0.85 * r, 0.85 * r)


def _triangle(x: np.ndarray, y: np.ndarray, r: np.ndarray) -> np.ndarray:
    # Equilateral, apex up (image y grows downwards), circumradius R = 1.15 r, its bounding box
    # centred (so the centroid sits R/4 below the centre); distance = max over the three edges of
    # (outward normal . p) - inradius.
    s = math.sqrt(3.0) / 2.0
    a = 0.5 * 1.15 * r
    y = y - 0.5 * a
    return np.maximum(np.maximum(y, -s * x - 0.5 * y), s * x - 0.5 * y) - a


def _cross(x: np.ndarray, y: np.ndarray, r: np.ndarray) -> np.ndarray:
    return np.minimum(_box(x, y, r, 0.35 * r), _box(x, y, 0.35 * r, r))


def load_shapes(opts: LoadOptions) -> ImageDataset:
    """Generate the ``shapes`` split asked for.

    Returns:
        uint8 images ``(N, R, R, 3)`` (R = ``opts.resolution`` or 32; 1 channel on request),
        labels = shape index, captions, and ``attributes``/``attribute_names`` for every factor;
        N = 20,000 train / 2,000 test before ``limit``.

    Raises:
        DataError: a resolution below 8 pixels.
    """
    resolution = opts.resolution or DEFAULT_RESOLUTION
    if resolution < MIN_RESOLUTION:
        raise DataError(
            f"shapes needs resolution >= {MIN_RESOLUTION} to draw recognisable shapes, got {resolution}"
        )
    f = draw_factors(SPLIT_SIZES[opts.split], opts.seed, opts.split)
    n = opts.take(SPLIT_SIZES[opts.split])
    images = render(f, n, resolution)
    return finalize(
        images,
        opts,
        name=NAME,
        split=opts.split,
        source=f"procedural shapes (seed {opts.seed})",
        labels=f.shape[:n].astype(np.int64),
        class_names=SHAPES,
        captions=[caption(f, i) for i in range(n)],
        attributes=f.attributes(n),
        attribute_names=dict(ATTRIBUTE_NAMES),
        notes={"seed": int(opts.seed), "generator": "shapes-v1"},
    )
