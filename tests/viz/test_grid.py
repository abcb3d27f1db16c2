"""Tests for imagegen.viz.grid: grid arithmetic, pixel placement, PNG writing and metadata."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from imagegen.viz.grid import auto_scale, make_grid, read_png_metadata, save_png


def _numbered(n: int, h: int, w: int, c: int) -> np.ndarray:
    """uint8 (n, h, w, c) where every pixel of image k has value 10 * (k + 1)."""
    return np.stack([np.full((h, w, c), 10 * (k + 1), dtype=np.uint8) for k in range(n)])


@pytest.mark.parametrize(
    ("n", "nrow", "padding", "scale", "h", "w", "expected"),
    [
        # default nrow = ceil(sqrt(10)) = 4 -> 3 rows: (3*(8+2)+2, 4*(8+2)+2)
        (10, None, 2, 1, 8, 8, (32, 42)),
        (16, None, 2, 1, 8, 8, (42, 42)),
        (6, 3, 0, 1, 5, 7, (10, 21)),
        # scale 4 on 8x8: cells of 32 px -> (2*(32+1)+1, 5*(32+1)+1)
        (10, 5, 1, 4, 8, 8, (67, 166)),
        # nrow larger than N: the grid is only N wide
        (3, 8, 2, 1, 4, 4, (8, 20)),
        (1, None, 2, 1, 28, 28, (32, 32)),
    ],
)
def test_grid_shape(n, nrow, padding, scale, h, w, expected):
    grid = make_grid(_numbered(n, h, w, 3), nrow=nrow, padding=padding, scale=scale)
    assert grid.shape == (*expected, 3)
    assert grid.dtype == np.uint8


def test_image_k_lands_at_its_cell():
    n, h, w, pad, nrow = 7, 4, 6, 2, 3
    grid = make_grid(_numbered(n, h, w, 3), nrow=nrow, padding=pad, pad_value=255)
    for k in range(n):
        row, col = divmod(k, nrow)
        top, left = pad + row * (h + pad), pad + col * (w + pad)
        cell = grid[top : top + h, left : left + w]
        assert (cell == 10 * (k + 1)).all(), k
        # the padding just above and left of the cell stays pad_value
        assert (grid[top - pad : top, left : left + w] == 255).all()
        assert (grid[top : top + h, left - pad : left] == 255).all()
    # cells 7 and 8 of the 3x3 grid are empty: all padding
    top, left = pad + 2 * (h + pad), pad + 1 * (w + pad)
    assert (grid[top:, left:] == 255).all()


def test_scale_is_nearest_neighbour():
    img = np.array([[[0], [255]], [[100], [50]]], dtype=np.uint8)[None]  # (1, 2, 2, 1)
    grid = make_grid(img, padding=0, scale=3)
    assert grid.shape == (6, 6, 1)
    assert (grid[:3, :3] == 0).all() and (grid[:3, 3:] == 255).all()
    assert (grid[3:, :3] == 100).all() and (grid[3:, 3:] == 50).all()


def test_grayscale_stays_one_channel():
    grid = make_grid(_numbered(4, 8, 8, 1), padding=1, pad_value=0)
    assert grid.shape == (19, 19, 1)
    assert grid[1, 1, 0] == 10 and grid[10, 10, 0] == 40 and grid[0, 0, 0] == 0
    # (N, H, W) is taken as grayscale too
    assert make_grid(_numbered(4, 8, 8, 1)[..., 0], padding=1).shape == (19, 19, 1)


@pytest.mark.parametrize(
    ("images", "kwargs"),
    [
        (np.zeros((2, 4, 4, 3), dtype=np.float32), {}),
        (np.zeros((2, 4, 4, 4), dtype=np.uint8), {}),
        (np.zeros((0, 4, 4, 3), dtype=np.uint8), {}),
        (np.zeros((2, 4, 4, 3), dtype=np.uint8), {"nrow": 0}),
        (np.zeros((2, 4, 4, 3), dtype=np.uint8), {"scale": 0}),
        (np.zeros((2, 4, 4, 3), dtype=np.uint8), {"pad_value": 256}),
    ],
)
def test_bad_input_raises(images, kwargs):
    with pytest.raises(ValueError):
        make_grid(images, **kwargs)


def test_auto_scale():
    assert auto_scale(8) == 4  # 8 * 8 * 4 = 256
    assert auto_scale(28) == 2  # 224 px would be under 256
    assert auto_scale(32) == 1
    assert auto_scale(256) == 1
    assert auto_scale(8, nrow=4) == 8
    assert auto_scale(1, nrow=1) == 32  # capped


def test_png_round_trip_rgb(tmp_path):
    grid = make_grid(_numbered(5, 8, 8, 3), nrow=5, scale=2)
    meta = {"model": "dcgan", "step": 500, "seed": 0, "data": {"name": "digits", "res": 8}}
    out = save_png(tmp_path / "sub" / "grid.png", grid, metadata=meta)
    assert out == tmp_path / "sub" / "grid.png"
    assert read_png_metadata(out) == meta
    with Image.open(out) as im:
        assert im.format == "PNG" and im.mode == "RGB"
        assert im.size == (grid.shape[1], grid.shape[0])
        np.testing.assert_array_equal(np.asarray(im), grid)
        # per-key text for viewers that list tEXt chunks
        assert im.text["model"] == "dcgan"
        assert im.text["step"] == "500"
        assert json.loads(im.text["data"]) == {"name": "digits", "res": 8}
    # the temporary file was moved into place, nothing left behind
    assert [p.name for p in out.parent.iterdir()] == ["grid.png"]


def test_png_grayscale_mode_and_unicode_metadata(tmp_path):
    grid = make_grid(_numbered(4, 8, 8, 1))
    meta = {"prompt": "ein Bäumchen ☃", "class_names": ["zero", "one"]}
    out = save_png(tmp_path / "g.png", grid, metadata=meta)
    with Image.open(out) as im:
        assert im.mode == "L" and im.size == (grid.shape[1], grid.shape[0])
        np.testing.assert_array_equal(np.asarray(im), grid[..., 0])
    assert read_png_metadata(out) == meta


def test_png_overwrite_and_no_metadata(tmp_path):
    path = tmp_path / "g.png"
    save_png(path, np.zeros((4, 4, 3), dtype=np.uint8), metadata={"step": 1})
    save_png(path, np.full((6, 5), 7, dtype=np.uint8))
    with Image.open(path) as im:
        assert im.size == (5, 6) and im.mode == "L"
    assert read_png_metadata(path) == {}
