"""Fixtures for the data-layer tests: where the real datasets are, and small image writers."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def real_data_dir() -> Path:
    """``$IMAGEGEN_TEST_DATA``, else ``../shared/data`` beside the checkout (/work/shared/data)."""
    env = os.environ.get("IMAGEGEN_TEST_DATA")
    return Path(env) if env else Path(__file__).parents[2].parent / "shared" / "data"


@pytest.fixture
def real_data() -> Path:
    return real_data_dir()


@pytest.fixture(autouse=True)
def _no_env_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests choose their own data root; a developer's $IMAGEGEN_DATA must not leak in."""
    monkeypatch.delenv("IMAGEGEN_DATA", raising=False)


def solid(
    color: tuple[int, ...] | int, size: tuple[int, int] = (8, 8), mode: str = "RGB"
) -> Image.Image:
    return Image.new(mode, size, color)


def write(path: Path, im: Image.Image, **kw: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, **kw)
    return path


def png_bytes(im: Image.Image) -> bytes:
    import io

    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def assert_one_line(message: str) -> None:
    assert message.strip(), "empty error message"
    assert "\n" not in message, f"error message is not one line: {message!r}"


def gray_ramp(n: int, size: int = 8) -> np.ndarray:
    """uint8 (n, size, size) images whose every pixel equals the image index * 10."""
    return (np.arange(n, dtype=np.uint8)[:, None, None] * 10) * np.ones((1, size, size), np.uint8)
