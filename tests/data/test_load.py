"""``load_dataset`` dispatch, argument checks and the data root; ``list_datasets``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from imagegen.data import list_datasets, load_dataset, resolve_data_root
from imagegen.errors import DataError, ImagegenError
from tests.data.conftest import assert_one_line


def test_list_datasets() -> None:
    assert list_datasets() == ["digits", "shapes", "mnist", "cifar10"]


def test_unknown_name_is_a_one_line_data_error() -> None:
    with pytest.raises(DataError) as err:
        load_dataset("mnsit")
    msg = str(err.value)
    assert_one_line(msg)
    assert msg == (
        "dataset 'mnsit' not found: choose one of digits, shapes, mnist, cifar10, "
        "or give a path to a folder, .zip or .npz"
    )
    assert isinstance(err.value, ImagegenError)


def test_empty_name_is_not_the_current_folder() -> None:
    with pytest.raises(DataError, match="empty dataset name"):
        load_dataset("  ")


def test_unsupported_file_type(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("1,2")
    with pytest.raises(DataError, match=r"\.csv is not a dataset format") as err:
        load_dataset(str(tmp_path / "x.csv"))
    assert_one_line(str(err.value))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"split": "val"}, "unknown split 'val'"),
        ({"resolution": 0}, "resolution must be"),
        ({"resolution": 12.5}, "resolution must be"),
        ({"channels": 4}, "channels must be 1"),
        ({"limit": 0}, "limit must be"),
        ({"on_error": "ignore"}, "on_error must be"),
        ({"seed": -1}, "seed must be"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(DataError, match=match) as err:
        load_dataset("digits", **kwargs)
    assert_one_line(str(err.value))


def test_data_root_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_data_root() == Path("~/.cache/imagegen/data").expanduser()
    monkeypatch.setenv("IMAGEGEN_DATA", str(tmp_path / "env"))
    assert resolve_data_root() == tmp_path / "env"
    assert resolve_data_root(str(tmp_path / "arg")) == tmp_path / "arg"
    monkeypatch.setenv("IMAGEGEN_DATA", "~/somewhere")
    assert resolve_data_root() == Path.home() / "somewhere"


def test_names_win_over_paths_and_are_case_insensitive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "digits").mkdir()
    monkeypatch.chdir(tmp_path)
    assert load_dataset("Digits", limit=3).spec.name == "digits"
    with pytest.raises(DataError, match="no image files"):
        load_dataset("./digits")


def test_batch_range_and_flip() -> None:
    ds = load_dataset("shapes", limit=8, resolution=16)
    b = ds.batch(np.arange(8))
    assert b.x.shape == (8, 3, 16, 16) and b.x.dtype == torch.float32
    assert float(b.x.min()) >= -1.0 and float(b.x.max()) <= 1.0
    assert b.y.tolist() == ds.labels.tolist() and b.captions == ds.captions
    flip = torch.tensor([True] + [False] * 7)
    f = ds.batch(np.arange(8), flip=flip)
    assert torch.equal(f.x[0], b.x[0].flip(-1)) and torch.equal(f.x[1:], b.x[1:])
    expected = torch.from_numpy(ds.images[0]).permute(2, 0, 1).float() / 127.5 - 1
    assert torch.allclose(b.x[0], expected)
