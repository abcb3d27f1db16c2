"""MNIST from a Keras npz, from IDX files, the missing-files message, and the real copy."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from imagegen.data import describe, load_dataset
from imagegen.errors import DataError
from tests.data.conftest import assert_one_line
from tests.data.test_idx import idx_bytes


def write_idx(folder: Path, n_train: int = 6, n_test: int = 3) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = (np.arange(n) % 10).astype(np.uint8)
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(x)))
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(y)))


@pytest.mark.parametrize("sub", ["mnist", ""])
def test_idx_files_in_root_or_mnist_folder(tmp_path: Path, sub: str) -> None:
    write_idx(tmp_path / sub if sub else tmp_path)
    train = load_dataset("mnist", data_root=str(tmp_path))
    test = load_dataset("mnist", "test", data_root=str(tmp_path))
    assert train.images.shape == (6, 28, 28, 1) and len(test) == 3
    assert train.spec.num_classes == 10 and train.labels.tolist() == [0, 1, 2, 3, 4, 5]
    assert train.spec.name == "mnist"


def test_idx_image_label_count_mismatch(tmp_path: Path) -> None:
    write_idx(tmp_path / "mnist")
    y = np.zeros(5, np.uint8)
    (tmp_path / "mnist" / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(y)))
    with pytest.raises(DataError, match="6 images but") as err:
        load_dataset("mnist", data_root=str(tmp_path))
    assert_one_line(str(err.value))


def test_keras_npz_in_root(tmp_path: Path) -> None:
    x = np.zeros((4, 28, 28), np.uint8)
    np.savez(
        tmp_path / "mnist.npz",
        x_train=x,
        y_train=np.array([1, 1, 2, 3], np.uint8),
        x_test=x[:1],
        y_test=np.zeros(1, np.uint8),
    )
    ds = load_dataset("MNIST", data_root=str(tmp_path), resolution=32)
    assert ds.images.shape == (4, 32, 32, 1)
    assert ds.spec.class_names == tuple("0123456789")


def test_env_var_sets_the_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_idx(tmp_path / "mnist")
    monkeypatch.setenv("IMAGEGEN_DATA", str(tmp_path))
    assert len(load_dataset("mnist", "test")) == 3


def test_missing_files_say_where_and_how_to_download(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        load_dataset("mnist", data_root=str(tmp_path))
    msg = str(err.value)
    assert_one_line(msg)
    assert str(tmp_path) in msg and "imagegen data download mnist" in msg


def test_real_mnist(real_data: Path) -> None:
    if not (real_data / "mnist.npz").is_file():
        pytest.skip(f"no mnist.npz in {real_data}")
    ds = load_dataset("mnist", data_root=str(real_data))
    assert ds.images.shape == (60000, 28, 28, 1)
    counts = describe(ds)["classes"]
    assert counts["0"] == 5923 and counts["9"] == 5949
    test = load_dataset("mnist", "test", data_root=str(real_data), limit=100)
    assert len(test) == 100 and test.labels.max() <= 9
    # This copy is sorted by class; a limit still takes every class alike.
    assert np.bincount(test.labels, minlength=10).tolist() == [10] * 10
    b = ds.batch(np.arange(8))
    assert b.x.shape == (8, 1, 28, 28) and b.x.min() >= -1 and b.x.max() <= 1
