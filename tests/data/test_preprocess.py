"""Resizing, channel conversion and alpha compositing agree with Pillow."""

from __future__ import annotations

import numpy as np
from PIL import Image

from imagegen.data.preprocess import (
    composite_on_white,
    convert_channels,
    resize_arrays,
    rgb_to_gray,
    square_resize,
)


def test_rgb_to_gray_matches_pillow_exactly() -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    ours = rgb_to_gray(rgb)[..., 0]
    np.testing.assert_array_equal(ours, np.asarray(Image.fromarray(rgb).convert("L")))


def test_convert_channels_round_trip() -> None:
    g = np.arange(4, dtype=np.uint8).reshape(1, 2, 2, 1)
    rgb = convert_channels(g, 3)
    assert rgb.shape == (1, 2, 2, 3) and (rgb == g).all()
    np.testing.assert_array_equal(convert_channels(rgb, 1), g)


def test_composite_on_white() -> None:
    c = np.array([[0, 100, 255]], np.uint8)
    assert composite_on_white(c, np.array(0, np.uint8)).tolist() == [[255, 255, 255]]
    assert composite_on_white(c, np.array(255, np.uint8)).tolist() == [[0, 100, 255]]


def test_square_resize_centre_crops() -> None:
    a = np.zeros((6, 10), np.uint8)
    a[:, 2:8] = 200  # the central 6x6 square
    out = square_resize(Image.fromarray(a), 6)
    assert out.size == (6, 6) and (np.asarray(out) == 200).all()
    assert square_resize(Image.fromarray(a), 3).size == (3, 3)


def test_resize_arrays_shape_and_noop() -> None:
    x = np.full((3, 8, 8, 1), 50, np.uint8)
    assert resize_arrays(x, 8) is x
    up = resize_arrays(x, 16)
    assert up.shape == (3, 16, 16, 1) and (up == 50).all()
    down = resize_arrays(np.full((2, 9, 12, 3), 7, np.uint8), 4)
    assert down.shape == (2, 4, 4, 3) and (down == 7).all()
