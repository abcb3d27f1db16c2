"""IDX parsing with magic-number and size validation."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from imagegen.data.idx import parse_idx, read_idx
from imagegen.errors import DataError
from tests.data.conftest import assert_one_line


def idx_bytes(a: np.ndarray) -> bytes:
    header = struct.pack(">HBB", 0, 0x08, a.ndim) + struct.pack(f">{a.ndim}I", *a.shape)
    return header + a.astype(np.uint8).tobytes()


def test_round_trip_gz_and_plain(tmp_path: Path) -> None:
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a.gz").write_bytes(gzip.compress(idx_bytes(a)))
    (tmp_path / "a").write_bytes(idx_bytes(a))
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz", 3), a)
    np.testing.assert_array_equal(read_idx(tmp_path / "a", 3), a)


def test_wrong_magic_number() -> None:
    labels = idx_bytes(np.zeros(5, np.uint8))  # magic 0x00000801
    with pytest.raises(DataError, match="0x00000801, expected 0x00000803") as err:
        parse_idx(labels, 3)
    assert_one_line(str(err.value))
    float_type = b"\x00\x00\x0d\x01" + struct.pack(">I", 1) + b"\x00" * 4
    with pytest.raises(DataError, match="magic"):
        parse_idx(float_type, 1)


def test_size_mismatch_and_short_header() -> None:
    good = idx_bytes(np.zeros((2, 2, 2), np.uint8))
    with pytest.raises(DataError, match="header says"):
        parse_idx(good[:-1], 3)
    with pytest.raises(DataError, match="header says"):
        parse_idx(good + b"\x00", 3)
    with pytest.raises(DataError, match="too short"):
        parse_idx(good[:6], 3)
    with pytest.raises(DataError, match="too short"):
        parse_idx(b"\x00\x00", 3)


def test_corrupt_gzip(tmp_path: Path) -> None:
    (tmp_path / "x.gz").write_bytes(b"\x1f\x8b\x08garbage")
    with pytest.raises(DataError, match="cannot read") as err:
        read_idx(tmp_path / "x.gz", 1)
    assert_one_line(str(err.value))
