"""Fetch the named datasets that need files (``mnist``, ``cifar10``) into the data root.

Every file is streamed into a temporary file next to its destination, checked against a pinned
checksum, then renamed into place, so an interrupted or corrupted download never leaves a file
that looks finished. Network failures raise a :class:`~imagegen.errors.DataError` at once that
says where to put the files by hand. ``digits`` and ``shapes`` need no download.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from imagegen.data.root import resolve_data_root
from imagegen.errors import DataError

logger = logging.getLogger(__name__)

TIMEOUT_S = 30.0
_BLOCK = 1 << 20


@dataclass(frozen=True)
class RemoteFile:
    """One file to fetch: its name, the mirrors that serve it and its checksum."""

    name: str
    urls: tuple[str, ...]
    algorithm: str  # a hashlib name
    digest: str


_MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
_MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

#: What each dataset downloads, and the folder under the data root it goes to.
FILES: dict[str, tuple[str, tuple[RemoteFile, ...]]] = {
    "mnist": (
        "mnist",
        tuple(
            RemoteFile(name, tuple(m + name for m in _MNIST_MIRRORS), "sha256", digest)
            for name, digest in _MNIST_SHA256.items()
        ),
    ),
    "cifar10": (
        ".",
        (
            RemoteFile(
                "cifar-10-python.tar.gz",
                ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
                "md5",
                "c58f30108f718f92721af3b95e74349a",
            ),
        ),
    ),
}
NO_DOWNLOAD = ("digits", "shapes")


def download(
    name: str, root: str | os.PathLike[str] | None = None, *, timeout: float = TIMEOUT_S
) -> Path:
    """Download and verify a named dataset into the data root.

    Args:
        name: "mnist" or "cifar10" ("digits" and "shapes" need nothing and return at once).
        root: data root; None uses :func:`imagegen.data.resolve_data_root`.
        timeout: seconds to wait on the network for each connection and read.

    Returns:
        The folder :func:`imagegen.data.load_dataset` will read: ``<root>/mnist`` (four IDX gz
        files) or ``<root>/cifar-10-batches-py``; for digits/shapes the root itself.

    Raises:
        DataError: unknown name, no network, or a checksum mismatch (nothing is left behind).
    """
    key = name.lower()
    base = resolve_data_root(root)
    if key in NO_DOWNLOAD:
        logger.info("%s is built in; nothing to download", key)
        return base
    if key not in FILES:
        raise DataError(f"cannot download {name!r}: choose one of {', '.join(FILES)}")
    sub, files = FILES[key]
    folder = (base / sub).resolve()
    if key == "cifar10" and (folder / "cifar-10-batches-py" / "test_batch").is_file():
        logger.info("%s already extracted", folder / "cifar-10-batches-py")
        return folder / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for remote in files:
        dest = folder / remote.name
        if dest.is_file() and _digest(dest, remote.algorithm) == remote.digest:
            logger.info("%s already present and verified", dest)
            continue
        fetch(remote, dest, timeout=timeout)
    if key == "cifar10":
        return _extract_cifar10(folder / files[0].name, folder)
    return folder


def fetch(remote: RemoteFile, dest: Path, *, timeout: float = TIMEOUT_S) -> Path:
    """Download ``remote`` to ``dest`` atomically after checking its checksum.

    Mirrors are tried in order only when a server answers with an HTTP error; a failure to reach
    the network at all raises at once.

    Raises:
        DataError: naming the URL, the reason, and where to place the file by hand.
    """
    manual = f"download it yourself and put it at {dest}"
    last = ""
    for url in remote.urls:
        logger.info("downloading %s", url)
        try:
            return _fetch_one(url, remote, dest, timeout)
        except urllib.error.HTTPError as e:
            last = f"{url} answered HTTP {e.code}"
            continue
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise DataError(
                f"cannot download {remote.name} from {url} ({' '.join(str(reason).split())}): "
                f"check the network, or {manual}"
            ) from None
    raise DataError(f"cannot download {remote.name} ({last}): {manual}")


def _fetch_one(url: str, remote: RemoteFile, dest: Path, timeout: float) -> Path:
    h = hashlib.new(remote.algorithm)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{remote.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            while block := resp.read(_BLOCK):
                h.update(block)
                out.write(block)
        if h.hexdigest() != remote.digest:
            raise DataError(
                f"checksum mismatch for {remote.name} from {url} ({remote.algorithm} {h.hexdigest()}, "
                f"expected {remote.digest}): try again later, or put a verified copy at {dest}"
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    logger.info("saved %s", dest)
    return dest


def _digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with path.open("rb") as f:
        while block := f.read(_BLOCK):
            h.update(block)
    return h.hexdigest()


def _extract_cifar10(archive: Path, folder: Path) -> Path:
    target = folder / "cifar-10-batches-py"
    tmp = Path(tempfile.mkdtemp(prefix=".cifar10.", dir=folder))
    try:
        try:
            with tarfile.open(archive, "r:gz") as tar:
                # filter="data" refuses absolute paths, "..", devices and links that leave tmp
                tar.extractall(tmp, filter="data")
        except (tarfile.TarError, OSError, EOFError) as e:
            raise DataError(
                f"cannot extract {archive} ({' '.join(str(e).split())}): delete it and download again"
            ) from None
        extracted = tmp / "cifar-10-batches-py"
        if not extracted.is_dir():
            raise DataError(
                f"{archive} has no cifar-10-batches-py/ folder: delete it and download again"
            )
        if target.exists():
            shutil.rmtree(target)
        os.replace(extracted, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    archive.unlink(missing_ok=True)
    logger.info("extracted %s", target)
    return target
