"""Read IDX files (the MNIST format), plain or gzip-compressed, with full validation.

Format: two zero bytes, a type code (0x08 = unsigned byte, the only one MNIST uses), the number of
dimensions, then one big-endian uint32 per dimension, then the values in C order. Images are magic
0x00000803 ``(N, rows, cols)``, labels 0x00000801 ``(N,)``.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from imagegen.errors import DataError

UBYTE = 0x08


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """Read a uint8 IDX array of ``ndim`` dimensions.

    Args:
        path: an IDX file; gzip-compressed when its name ends in ``.gz``.
        ndim: expected number of dimensions (3 for images, 1 for labels).

    Returns:
        uint8 array of the shape stored in the header.

    Raises:
        DataError: bad gzip data, wrong magic number, or a size that does not match the header.
    """
    try:
        raw = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(
            f"cannot read {path} ({' '.join(str(e).split())}): delete it and download it again"
        ) from None
    return parse_idx(raw, ndim, str(path))


def parse_idx(raw: bytes, ndim: int, where: str = "IDX data") -> np.ndarray:
    """Parse the bytes of an uncompressed IDX file; see :func:`read_idx`."""
    fix = "delete it and download it again"
    if len(raw) < 4:
        raise DataError(f"{where} is too short for an IDX header ({len(raw)} bytes): {fix}")
    zero, dtype, dims = struct.unpack(">HBB", raw[:4])
    expected = (UBYTE << 8) | ndim
    if zero != 0 or dtype != UBYTE or dims != ndim:
        magic = struct.unpack(">I", raw[:4])[0]
        raise DataError(
            f"{where} has IDX magic number 0x{magic:08x}, expected 0x{expected:08x} "
            f"(uint8, {ndim}-D): {fix}"
        )
    if len(raw) < 4 + 4 * ndim:
        raise DataError(f"{where} is too short for an IDX header ({len(raw)} bytes): {fix}")
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    offset = 4 + 4 * ndim
    count = int(np.prod(shape, dtype=np.int64))
    if len(raw) - offset != count:
        raise DataError(
            f"{where} holds {len(raw) - offset} values but its header says {shape} = {count}: {fix}"
        )
    return np.frombuffer(raw, dtype=np.uint8, count=count, offset=offset).reshape(shape)
