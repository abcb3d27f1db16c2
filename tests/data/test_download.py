"""Downloads without a network: offline failure, checksum mismatch, atomic success, safe extraction."""

from __future__ import annotations

import hashlib
import io
import pickle
import sys
import tarfile
import time
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from imagegen.data import download, load_dataset
from imagegen.data.download import FILES, RemoteFile, fetch
from imagegen.errors import DataError
from tests.data.conftest import assert_one_line

# The package attribute `imagegen.data.download` is the function; the module is in sys.modules.
download_mod = sys.modules["imagegen.data.download"]


class _Response(io.BytesIO):
    def __enter__(self) -> _Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve(
    monkeypatch: pytest.MonkeyPatch, payloads: dict[str, bytes], calls: list[str] | None = None
) -> None:
    def urlopen(url: str, timeout: float) -> _Response:
        assert timeout <= 60
        if calls is not None:
            calls.append(url)
        name = url.rsplit("/", 1)[-1]
        if name not in payloads:
            raise urllib.error.HTTPError(url, 404, "Not Found", None, None)
        return _Response(payloads[name])

    monkeypatch.setattr(download_mod.urllib.request, "urlopen", urlopen)


def test_offline_fails_fast_with_manual_instructions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def offline(url: str, timeout: float):
        calls.append(url)
        raise urllib.error.URLError(OSError("Temporary failure in name resolution"))

    monkeypatch.setattr(download_mod.urllib.request, "urlopen", offline)
    t = time.perf_counter()
    with pytest.raises(DataError) as err:
        download("mnist", tmp_path)
    assert time.perf_counter() - t < 1.0
    msg = str(err.value)
    assert_one_line(msg)
    assert "name resolution" in msg and str(tmp_path / "mnist") in msg
    assert len(calls) == 1  # no retries against other mirrors when the network is down
    assert not any(p.is_file() for p in (tmp_path / "mnist").iterdir())


def test_checksum_mismatch_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    serve(monkeypatch, {"f.bin": b"tampered"})
    remote = RemoteFile("f.bin", ("https://example.invalid/f.bin",), "sha256", "0" * 64)
    with pytest.raises(DataError, match="checksum mismatch") as err:
        fetch(remote, tmp_path / "f.bin")
    assert_one_line(str(err.value))
    assert list(tmp_path.iterdir()) == []


def test_http_error_tries_the_next_mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"payload"
    calls: list[str] = []
    serve(monkeypatch, {"good.bin": data}, calls)
    remote = RemoteFile(
        "good.bin",
        ("https://a.invalid/missing/nothing", "https://b.invalid/good.bin"),
        "sha256",
        hashlib.sha256(data).hexdigest(),
    )
    out = fetch(remote, tmp_path / "good.bin")
    assert out.read_bytes() == data and len(calls) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.bin"]


def fake_mnist_files() -> dict[str, bytes]:
    import gzip

    from tests.data.test_idx import idx_bytes

    out = {}
    for prefix, n in (("train", 5), ("t10k", 2)):
        out[f"{prefix}-images-idx3-ubyte.gz"] = gzip.compress(
            idx_bytes(np.full((n, 28, 28), 7, np.uint8))
        )
        out[f"{prefix}-labels-idx1-ubyte.gz"] = gzip.compress(
            idx_bytes(np.arange(n, dtype=np.uint8))
        )
    return out


def test_mnist_download_then_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = fake_mnist_files()
    serve(monkeypatch, files)
    pinned = tuple(
        RemoteFile(r.name, r.urls, "sha256", hashlib.sha256(files[r.name]).hexdigest())
        for r in FILES["mnist"][1]
    )
    monkeypatch.setitem(FILES, "mnist", ("mnist", pinned))
    folder = download("mnist", tmp_path)
    assert folder == (tmp_path / "mnist").resolve()
    assert sorted(p.name for p in folder.iterdir()) == sorted(files)
    ds = load_dataset("mnist", data_root=str(tmp_path))
    assert len(ds) == 5 and (ds.images == 7).all()


def cifar_tar(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def pin_cifar(monkeypatch: pytest.MonkeyPatch, archive: bytes) -> None:
    serve(monkeypatch, {"cifar-10-python.tar.gz": archive})
    (r,) = FILES["cifar10"][1]
    monkeypatch.setitem(
        FILES,
        "cifar10",
        (".", (RemoteFile(r.name, r.urls, "md5", hashlib.md5(archive).hexdigest()),)),
    )


def test_cifar10_download_extracts_safely(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    batch = pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [3, 4]}, protocol=2)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    pin_cifar(monkeypatch, cifar_tar({f"cifar-10-batches-py/{n}": batch for n in names}))
    out = download("cifar10", tmp_path)
    assert out == (tmp_path / "cifar-10-batches-py").resolve()
    assert not (tmp_path / "cifar-10-python.tar.gz").exists()
    assert load_dataset("cifar10", "test", data_root=str(tmp_path)).labels.tolist() == [3, 4]
    assert download("cifar10", tmp_path) == out  # already there: no network needed


def test_cifar10_archive_with_path_traversal_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "root"
    pin_cifar(
        monkeypatch, cifar_tar({"../escaped.txt": b"x", "cifar-10-batches-py/test_batch": b"y"})
    )
    with pytest.raises(DataError, match="cannot extract") as err:
        download("cifar10", root)
    assert_one_line(str(err.value))
    assert not (tmp_path / "escaped.txt").exists()
    assert not (root / "cifar-10-batches-py").exists()


def test_unknown_and_builtin_names(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="choose one of mnist, cifar10") as err:
        download("imagenet", tmp_path)
    assert_one_line(str(err.value))
    assert download("digits", tmp_path) == tmp_path
