"""``.npz`` arrays: key layouts, shapes, dtypes and refusal of pickled objects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imagegen.data import load_dataset
from imagegen.errors import DataError
from tests.data.conftest import assert_one_line, gray_ramp


def test_x_y_layout(tmp_path: Path) -> None:
    x = gray_ramp(6)
    np.savez(tmp_path / "d.npz", x=x, y=np.array([0, 1, 2, 0, 1, 2]))
    ds = load_dataset(str(tmp_path / "d.npz"))
    assert ds.images.shape == (6, 8, 8, 1) and ds.split == "all"
    np.testing.assert_array_equal(ds.images[..., 0], x)
    assert ds.labels.dtype == np.int64 and ds.spec.class_names == ("0", "1", "2")


def test_images_labels_keys_rgb_and_class_names(tmp_path: Path) -> None:
    x = np.zeros((3, 4, 4, 3), np.uint8)
    x[1] = 255
    np.savez(
        tmp_path / "d.npz", images=x, labels=np.array([1, 0, 1]), class_names=np.array(["a", "b"])
    )
    ds = load_dataset(str(tmp_path / "d.npz"), limit=2)
    assert ds.images.shape == (2, 4, 4, 3) and ds.spec.class_names == ("a", "b")
    assert ds.labels.tolist() == [1, 0]


def test_limit_on_labels_sorted_by_class_is_class_balanced_and_in_source_order(
    tmp_path: Path,
) -> None:
    y = np.repeat([0, 1, 2], 4)  # sorted by class, as some MNIST copies are
    x = np.arange(12, dtype=np.uint8)[:, None, None].repeat(2, 1).repeat(2, 2)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    ds = load_dataset(str(tmp_path / "d.npz"), limit=5)
    # first of each class (0, 4, 8), then the second of classes 0 and 1 (1, 5)
    assert ds.images[:, 0, 0, 0].tolist() == [0, 1, 4, 5, 8]
    assert ds.labels.tolist() == [0, 0, 1, 1, 2]
    unlabelled = tmp_path / "u.npz"
    np.savez(unlabelled, x=x)
    assert load_dataset(str(unlabelled), limit=5).images[:, 0, 0, 0].tolist() == [0, 1, 2, 3, 4]


def test_unlabelled_rgba_and_non_square(tmp_path: Path) -> None:
    x = np.zeros((2, 4, 6, 4), np.uint8)  # transparent black -> white after compositing
    np.savez(tmp_path / "d.npz", x=x)
    ds = load_dataset(str(tmp_path / "d.npz"))
    assert ds.labels is None and ds.images.shape == (2, 4, 4, 3)
    assert (ds.images == 255).all()


def test_keras_layout_honours_split(tmp_path: Path) -> None:
    np.savez(
        tmp_path / "k.npz",
        x_train=gray_ramp(5),
        y_train=np.arange(5, dtype=np.uint8),
        x_test=gray_ramp(2),
        y_test=np.array([3, 4], np.uint8),
    )
    train = load_dataset(str(tmp_path / "k.npz"), "train")
    test = load_dataset(str(tmp_path / "k.npz"), "test", resolution=16, channels=3)
    assert train.split == "train" and len(train) == 5
    assert test.split == "test" and test.images.shape == (2, 16, 16, 3)
    assert test.labels.tolist() == [3, 4]
    assert train.fingerprint != test.fingerprint


@pytest.mark.parametrize(
    ("arrays", "match"),
    [
        ({"x": np.zeros((2, 4, 4), np.float32)}, "dtype float32"),
        ({"x": np.zeros((2, 3, 8, 8), np.uint8)}, "NCHW"),
        ({"x": np.zeros((0, 4, 4), np.uint8)}, "no images"),
        ({"pixels": np.zeros((2, 4, 4), np.uint8)}, "no image array"),
        ({"x": np.zeros((2, 4, 4), np.uint8), "y": np.array([0])}, "1 labels for 2 images"),
        ({"x": np.zeros((2, 4, 4), np.uint8), "y": np.array([0, -1])}, "negative label"),
        ({"x": np.zeros((2, 4, 4), np.uint8), "y": np.array([0.5, 1.0])}, "integer"),
        ({"x_train": np.zeros((2, 4, 4), np.uint8)}, "no 'x_test'"),
    ],
)
def test_bad_arrays_are_data_errors(tmp_path: Path, arrays: dict, match: str) -> None:
    np.savez(tmp_path / "bad.npz", **arrays)
    split = "test" if "x_train" in arrays else "train"
    with pytest.raises(DataError, match=match) as err:
        load_dataset(str(tmp_path / "bad.npz"), split)
    assert_one_line(str(err.value))


def test_object_arrays_are_never_unpickled(tmp_path: Path) -> None:
    np.savez(tmp_path / "obj.npz", x=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(DataError, match="cannot read") as err:
        load_dataset(str(tmp_path / "obj.npz"))
    assert_one_line(str(err.value))


def test_not_an_npz(tmp_path: Path) -> None:
    (tmp_path / "x.npz").write_bytes(b"garbage")
    with pytest.raises(DataError) as err:
        load_dataset(str(tmp_path / "x.npz"))
    assert_one_line(str(err.value))
