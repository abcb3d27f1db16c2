"""Mode conversion, EXIF orientation and corruption handling of single image files."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from imagegen.data.decode import UnreadableImage, decode_image, image_size, is_image_name
from tests.data.conftest import png_bytes


def encode(im: Image.Image, fmt: str = "PNG", **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def test_gray_stays_one_channel() -> None:
    out = decode_image(png_bytes(Image.new("L", (4, 4), 77)), 4)
    assert out.shape == (4, 4, 1) and out.dtype == np.uint8
    assert (out == 77).all()


def test_rgba_is_composited_on_white() -> None:
    # round((c * a + 255 * (255 - a)) / 255) with a = 128: 200 -> 227, 100 -> 177, 0 -> 127
    out = decode_image(png_bytes(Image.new("RGBA", (4, 4), (200, 100, 0, 128))), 4)
    assert out.shape == (4, 4, 3)
    assert out[0, 0].tolist() == [227, 177, 127]
    clear = decode_image(png_bytes(Image.new("RGBA", (4, 4), (0, 0, 0, 0))), 4)
    assert (clear == 255).all()


def test_la_is_composited_on_white_and_stays_gray() -> None:
    out = decode_image(png_bytes(Image.new("LA", (4, 4), (0, 0))), 4)
    assert out.shape == (4, 4, 1) and (out == 255).all()


def test_palette_colour_and_gray_palette() -> None:
    p = Image.new("P", (4, 4), 0)
    p.putpalette([10, 20, 30] + [0, 0, 0] * 255)
    out = decode_image(png_bytes(p), 4)
    assert out.shape == (4, 4, 3) and out[0, 0].tolist() == [10, 20, 30]
    g = Image.new("P", (4, 4), 1)
    g.putpalette([0, 0, 0, 90, 90, 90] + [0, 0, 0] * 254)
    out = decode_image(png_bytes(g), 4)
    assert out.shape == (4, 4, 1) and (out == 90).all()


def test_palette_transparency_is_composited() -> None:
    p = Image.new("P", (4, 4), 0)
    p.putpalette([0, 0, 0] * 256)
    p.info["transparency"] = 0
    out = decode_image(encode(p, transparency=0), 4)
    assert (out == 255).all()


def test_sixteen_bit_is_scaled_to_eight_bit() -> None:
    a = np.array([[0, 257, 32768, 65535]] * 4, dtype=np.uint16)
    im = Image.fromarray(a)
    assert im.mode == "I;16"
    out = decode_image(png_bytes(im), 4)
    assert out.shape == (4, 4, 1)
    assert out[0].ravel().tolist() == [0, 1, 128, 255]


def test_cmyk_converts_to_rgb() -> None:
    im = Image.new("CMYK", (4, 4), (0, 255, 255, 0))  # pure red in Pillow's CMYK model
    out = decode_image(encode(im, "TIFF"), 4)
    assert out.shape == (4, 4, 3) and out[0, 0].tolist() == [255, 0, 0]


def test_bilevel_becomes_0_or_255() -> None:
    im = Image.new("1", (4, 4), 0)
    im.putpixel((1, 1), 1)
    out = decode_image(png_bytes(im), 4)
    assert out.shape == (4, 4, 1)
    assert out[1, 1, 0] == 255 and out[0, 0, 0] == 0


def test_exif_orientation_is_applied() -> None:
    im = Image.new("RGB", (4, 4), (0, 255, 0))
    im.putpixel((0, 0), (255, 0, 0))  # stored top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # display = stored rotated 90 degrees clockwise
    out = decode_image(encode(im, exif=exif.tobytes()), 4)
    assert out[0, 3].tolist() == [255, 0, 0]  # now top-right
    assert out[0, 0].tolist() == [0, 255, 0]


def test_non_square_is_centre_cropped_then_resized() -> None:
    a = np.zeros((4, 12, 3), dtype=np.uint8)
    a[:, 4:8] = 255  # white centre square of a 12x4 image
    out = decode_image(png_bytes(Image.fromarray(a)), 4)
    assert out.shape == (4, 4, 3) and (out == 255).all()
    small = decode_image(png_bytes(Image.fromarray(a)), 2)
    assert small.shape == (2, 2, 3)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"this is a text file, not a png",
        png_bytes(Image.new("RGB", (32, 32), (1, 2, 3)))[:60],
    ],
    ids=["zero-byte", "text", "truncated-png"],
)
def test_unreadable_bytes_raise(data: bytes) -> None:
    with pytest.raises(UnreadableImage) as err:
        decode_image(data, 8)
    assert "\n" not in str(err.value)


def test_truncated_jpeg_raises() -> None:
    rng = np.random.default_rng(0)
    data = encode(Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)), "JPEG")
    with pytest.raises(UnreadableImage):
        decode_image(data[: len(data) // 2], 8)


def test_decompression_bomb_is_refused_from_the_header() -> None:
    # A PNG header claiming 20000x20000 pixels (> 2 x Pillow's limit) and no real data.
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"") + chunk(b"IEND", b"")
    with pytest.raises(UnreadableImage, match="safety limit"):
        image_size(data)


def test_image_names() -> None:
    assert is_image_name("a/b/C.JPEG") and is_image_name("x.webp") and is_image_name("x.tif")
    assert not is_image_name("a/.hidden.png") and not is_image_name("notes.txt")


def test_large_jpeg_uses_draft_and_keeps_colour() -> None:
    im = Image.new("RGB", (600, 400), (30, 120, 200))
    out = decode_image(encode(im, "JPEG", quality=95), 32)
    assert out.shape == (32, 32, 3)
    assert np.abs(out.astype(int) - [30, 120, 200]).max() <= 3
