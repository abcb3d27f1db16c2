"""Folders and zips of image files: classes, splits, sizes, channels, corrupt files, order."""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imagegen.data import load_dataset
from imagegen.errors import DataError
from tests.data.conftest import assert_one_line, png_bytes, solid, write


def class_folder(root: Path, per_class: int = 3) -> Path:
    """cats are red, dogs are blue; file k of a class has green channel 10 * k."""
    for name, color in (("dogs", (0, 0, 255)), ("cats", (255, 0, 0))):
        for k in range(per_class):
            write(root / name / f"{k:02d}.png", solid((color[0], 10 * k, color[2])))
    return root


def test_folder_with_class_subfolders(tmp_path: Path) -> None:
    ds = load_dataset(str(class_folder(tmp_path / "pets")))
    assert ds.spec.class_names == ("cats", "dogs")  # sorted folder names
    assert ds.spec.num_classes == 2 and ds.spec.channels == 3 and ds.spec.resolution == 8
    assert len(ds) == 6 and ds.split == "all"
    red = ds.images[:, 0, 0, 0] == 255
    assert (ds.labels[red] == 0).all() and (ds.labels[~red] == 1).all()
    # classes interleaved: cats/00, dogs/00, cats/01, dogs/01, ...
    assert ds.labels.tolist() == [0, 1, 0, 1, 0, 1]
    assert ds.images[:, 0, 0, 1].tolist() == [0, 0, 10, 10, 20, 20]


def test_limit_keeps_a_balanced_deterministic_prefix(tmp_path: Path) -> None:
    root = class_folder(tmp_path / "pets", per_class=5)
    full = load_dataset(str(root))
    ds = load_dataset(str(root), limit=4)
    assert ds.labels.tolist() == [0, 1, 0, 1]
    np.testing.assert_array_equal(ds.images, full.images[:4])
    assert ds.preprocessing["limit"] == 4
    assert ds.fingerprint != full.fingerprint


def test_test_split_of_unsplit_folder_returns_all(tmp_path: Path) -> None:
    root = class_folder(tmp_path / "pets")
    assert load_dataset(str(root), "test").split == "all"
    assert len(load_dataset(str(root), "test")) == 6


def test_unlabelled_folder_and_gray_channel_choice(tmp_path: Path) -> None:
    for k in range(3):
        write(tmp_path / "faces" / f"{k}.png", solid(40 * k, mode="L"))
    ds = load_dataset(str(tmp_path / "faces"))
    assert ds.labels is None and ds.spec.num_classes == 0
    assert ds.spec.channels == 1
    assert ds.images[:, 0, 0, 0].tolist() == [0, 40, 80]


def test_mixed_gray_and_colour_gives_rgb(tmp_path: Path) -> None:
    write(tmp_path / "m" / "a.png", solid(90, mode="L"))
    write(tmp_path / "m" / "b.png", solid((1, 2, 3)))
    ds = load_dataset(str(tmp_path / "m"))
    assert ds.spec.channels == 3
    assert ds.images[0, 0, 0].tolist() == [90, 90, 90]


def test_mixed_sizes_use_the_most_common_shorter_side(tmp_path: Path) -> None:
    for k in range(3):
        write(tmp_path / "s" / f"a{k}.png", solid((9, 9, 9), size=(12, 10)))
    write(tmp_path / "s" / "big.png", solid((9, 9, 9), size=(40, 40)))
    ds = load_dataset(str(tmp_path / "s"))
    assert ds.spec.resolution == 10 and len(ds) == 4
    assert "resize" in ds.preprocessing
    assert load_dataset(str(tmp_path / "s"), resolution=6).images.shape == (4, 6, 6, 3)


def test_channels_argument_converts(tmp_path: Path) -> None:
    root = class_folder(tmp_path / "pets")
    gray = load_dataset(str(root), channels=1)
    assert gray.images.shape[-1] == 1 and gray.preprocessing["channels"] == 1
    # 601-2 luma of pure red with green 0: (255 * 19595 + 0x8000) >> 16 = 76
    assert gray.images[0, 0, 0, 0] == 76


def corrupt_folder(root: Path) -> Path:
    write(root / "good1.png", solid((1, 1, 1)))
    write(root / "good2.jpg", solid((200, 200, 200)), quality=95)
    (root / "empty.png").write_bytes(b"")
    (root / "text.png").write_text("not an image")
    full = png_bytes(
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (16, 16, 3), np.uint8))
    )
    (root / "truncated.png").write_bytes(full[: len(full) // 2])
    (root / "notes.txt").write_text("ignored: not an image extension")
    return root


def test_corrupt_files_are_skipped_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = corrupt_folder(tmp_path / "c")
    with caplog.at_level(logging.WARNING, logger="imagegen.data"):
        ds = load_dataset(str(root))
    assert len(ds) == 2
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    msg = warnings[0].getMessage()
    assert "3 unreadable" in msg
    for name in ("empty.png", "text.png", "truncated.png"):
        assert name in msg
    assert "notes.txt" not in msg


def test_corrupt_files_raise_when_asked(tmp_path: Path) -> None:
    root = corrupt_folder(tmp_path / "c")
    with pytest.raises(DataError) as err:
        load_dataset(str(root), on_error="raise", resolution=8)
    assert_one_line(str(err.value))
    assert "empty.png" in str(err.value)  # the first bad file in sorted order
    assert "on_error='skip'" in str(err.value)


def test_no_readable_images_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.png").write_bytes(b"")
    with pytest.raises(DataError, match="no readable images") as err:
        load_dataset(str(tmp_path / "bad"))
    assert_one_line(str(err.value))


def test_no_image_files_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "none").mkdir()
    (tmp_path / "none" / "a.txt").write_text("x")
    with pytest.raises(DataError, match="no image files") as err:
        load_dataset(str(tmp_path / "none"))
    assert_one_line(str(err.value))


def split_zip(path: Path, top: str = "") -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{top}train/", b"")
        for c, color in (("bird", (0, 200, 0)), ("cat", (200, 0, 0))):
            for k in range(2):
                z.writestr(f"{top}train/{c}/{k}.png", png_bytes(solid(color)))
        # test has only 'cat': its label must still be 1, as in train
        z.writestr(f"{top}test/cat/0.png", png_bytes(solid((200, 0, 0))))
        z.writestr(f"{top}test/cat/bad.png", b"garbage")
        z.writestr("__MACOSX/._junk.png", b"resource fork")
    return path


def test_zip_with_train_and_test_splits(tmp_path: Path) -> None:
    path = split_zip(tmp_path / "animals.zip")
    train = load_dataset(str(path), "train")
    assert train.split == "train" and len(train) == 4
    assert train.spec.class_names == ("bird", "cat")
    test = load_dataset(str(path), "test")
    assert test.split == "test" and len(test) == 1
    assert test.spec.class_names == ("bird", "cat") and test.labels.tolist() == [1]
    assert test.images[0, 0, 0].tolist() == [200, 0, 0]


def test_zip_with_a_single_top_folder(tmp_path: Path) -> None:
    ds = load_dataset(str(split_zip(tmp_path / "a.zip", top="animals/")), "train")
    assert len(ds) == 4 and ds.spec.class_names == ("bird", "cat")


def test_missing_split_folder_is_an_error(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "t.zip", "w") as z:
        z.writestr("train/a/0.png", png_bytes(solid((1, 2, 3))))
    with pytest.raises(DataError, match="no test/ folder") as err:
        load_dataset(str(tmp_path / "t.zip"), "test")
    assert_one_line(str(err.value))


def test_not_a_zip_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "x.zip").write_bytes(b"nope")
    with pytest.raises(DataError, match="not a readable .zip") as err:
        load_dataset(str(tmp_path / "x.zip"))
    assert_one_line(str(err.value))


def test_every_supported_extension_loads(tmp_path: Path) -> None:
    formats = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "bmp": "BMP", "gif": "GIF"}
    formats |= {"webp": "WEBP", "tif": "TIFF", "tiff": "TIFF"}
    for ext, fmt in formats.items():
        write(
            tmp_path / "f" / f"img.{ext.upper() if ext == 'png' else ext}",
            solid((0, 0, 0)),
            format=fmt,
        )
    ds = load_dataset(str(tmp_path / "f"), on_error="raise")
    assert len(ds) == len(formats)
    assert int(ds.images.max()) <= 8  # black survives every codec (lossy ones within a few levels)


def test_worker_processes_decode_what_this_process_decodes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # a folder with corrupt files and a zip with a top folder and a bad member, in 2 processes
    folder = corrupt_folder(tmp_path / "c")
    archive = split_zip(tmp_path / "a.zip", top="animals/")
    for source, split in ((folder, "train"), (archive, "train"), (archive, "test")):
        here = load_dataset(str(source), split)
        with caplog.at_level(logging.WARNING, logger="imagegen.data"):
            caplog.clear()
            spawned = load_dataset(str(source), split, workers=2)
        np.testing.assert_array_equal(spawned.images, here.images)
        assert (spawned.labels is None and here.labels is None) or np.array_equal(
            spawned.labels, here.labels
        )
        if source == folder:  # the skipped files are still reported, once
            warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
            assert len(warnings) == 1 and "3 unreadable" in warnings[0]


def test_bad_worker_count_is_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="workers must be") as err:
        load_dataset(str(class_folder(tmp_path / "pets")), workers=-1)
    assert_one_line(str(err.value))
