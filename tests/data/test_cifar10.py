"""CIFAR-10 from python batches (safely), from an image-folder zip, and the real copy."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imagegen.data import load_dataset
from imagegen.data.cifar10 import CLASS_NAMES
from imagegen.errors import DataError
from tests.data.conftest import assert_one_line


def batch(n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {
        b"batch_label": b"testing",
        b"labels": [int(v) for v in rng.integers(0, 10, n)],
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        b"filenames": [b"f%d.png" % i for i in range(n)],
    }


def write_batches(root: Path, n: int = 4) -> dict[str, dict]:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    out = {}
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        out[name] = batch(n, i)
        (folder / name).write_bytes(pickle.dumps(out[name], protocol=2))
    return out


def test_python_batches(tmp_path: Path) -> None:
    batches = write_batches(tmp_path)
    ds = load_dataset("cifar10", data_root=str(tmp_path))
    assert ds.images.shape == (20, 32, 32, 3) and ds.spec.class_names == CLASS_NAMES
    b1 = batches["data_batch_1"]
    # row layout: 1024 red, 1024 green, 1024 blue values of a 32x32 image
    assert ds.images[0, 0, 1, 0] == b1[b"data"][0, 1]
    assert ds.images[0, 0, 0, 2] == b1[b"data"][0, 2048]
    assert ds.labels[:4].tolist() == b1[b"labels"]
    test = load_dataset("cifar10", "test", data_root=str(tmp_path), limit=3)
    assert test.labels.tolist() == batches["test_batch"][b"labels"][:3]


class _RunsShell:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_batch_is_refused(tmp_path: Path) -> None:
    write_batches(tmp_path)
    marker = tmp_path / "pwned"
    evil = {b"data": _RunsShell(marker), b"labels": []}
    (tmp_path / "cifar-10-batches-py" / "data_batch_1").write_bytes(pickle.dumps(evil, protocol=2))
    with pytest.raises(DataError, match="refusing to unpickle") as err:
        load_dataset("cifar10", data_root=str(tmp_path))
    assert_one_line(str(err.value))
    assert not marker.exists()


def test_wrong_structure_is_a_data_error(tmp_path: Path) -> None:
    write_batches(tmp_path)
    bad = {b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps(bad, protocol=2))
    with pytest.raises(DataError, match="3072") as err:
        load_dataset("cifar10", "test", data_root=str(tmp_path))
    assert_one_line(str(err.value))


def test_image_folder_zip(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "cifar10.zip", "w") as z:
        for split, n in (("train", 2), ("test", 1)):
            for c in CLASS_NAMES:
                for k in range(n):
                    buf = io.BytesIO()
                    Image.new("RGB", (32, 32), (CLASS_NAMES.index(c) * 20, 0, 0)).save(buf, "PNG")
                    z.writestr(f"{split}/{c}/{k:04d}.png", buf.getvalue())
    ds = load_dataset("cifar10", data_root=str(tmp_path))
    assert ds.images.shape == (20, 32, 32, 3) and ds.split == "train"
    assert ds.spec.class_names == CLASS_NAMES and ds.spec.name == "cifar10"
    assert (ds.images[:, 0, 0, 0] == ds.labels * 20).all()
    assert len(load_dataset("cifar10", "test", data_root=str(tmp_path))) == 10


def test_missing_files_say_where_and_how_to_download(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        load_dataset("cifar10", data_root=str(tmp_path))
    msg = str(err.value)
    assert_one_line(msg)
    assert "cifar-10-batches-py" in msg and "imagegen data download cifar10" in msg


def test_real_cifar10_zip(real_data: Path) -> None:
    if not (real_data / "cifar10.zip").is_file():
        pytest.skip(f"no cifar10.zip in {real_data}")
    ds = load_dataset("cifar10", "test", data_root=str(real_data), limit=500)
    assert ds.images.shape == (500, 32, 32, 3)
    assert np.bincount(ds.labels).tolist() == [50] * 10  # interleaved classes: balanced prefix
    assert 60 < ds.images.mean() < 200
