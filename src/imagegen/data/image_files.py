"""Load a folder or a ``.zip`` of image files.

Layout rules, the same for a folder and a zip (a zip whose members all sit under one top folder,
as ``zip -r x.zip x/`` makes, is read as if that folder were the root):

- Top-level ``train/`` and/or ``test/`` folders are splits: ``split`` picks one (DataError when
  it is absent) and other top-level entries are ignored. Without them the whole source is one
  split and the dataset's ``split`` is ``"all"`` whichever split was asked for.
- Inside the chosen root, subfolders are classes: label ``i`` is the ``i``-th name in sorted order
  of the union of class folders over both splits (so labels agree between train and test);
  files nested deeper belong to their top class folder. No subfolders: unlabelled.
- Image files have the extensions in :data:`imagegen.data.decode.IMAGE_EXTENSIONS`; other files,
  dotfiles and ``__MACOSX/`` are ignored silently.
- Order: labelled sources interleave classes (first image of each class, then the second, ...;
  file names sorted within a class), so any prefix, and so ``limit``, is class-balanced.
  Unlabelled sources are in sorted path order.
- Size: every image is centre-cropped and resampled to ``resolution``, by default the shorter side
  of the most common image size. Channels: 1 when every image is grayscale, else 3.
- Unreadable files (empty, truncated, not an image, too many pixels): ``on_error="skip"`` leaves
  them out and logs one warning naming them all; ``on_error="raise"`` raises a DataError naming
  the first one.
- Decoding runs on a thread pool in this process, or with ``workers=N`` on N worker processes
  (spawned, so they share no state with a process that has torch threads running); each worker
  opens the folder or zip itself and returns decoded arrays, never anything a file supplied.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import threading
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imagegen.data.base import ImageDataset
from imagegen.data.decode import (
    IMAGE_EXTENSIONS,
    UnreadableImage,
    decode_image,
    image_size,
    is_image_name,
)
from imagegen.data.options import LoadOptions
from imagegen.data.preprocess import RESIZE_RULE, finalize
from imagegen.errors import DataError

logger = logging.getLogger(__name__)

MAX_MEMBER_BYTES = 256 * 1024 * 1024
SPLIT_DIRS = ("train", "test")
_CHUNK = 2048
_TASK = 64
_MAX_LISTED = 20


@dataclass(frozen=True)
class _Entry:
    name: str  # "/"-separated path below the source root, as shown in messages
    label: int | None


class _Folder:
    """Reads files below a directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def names(self) -> list[str]:
        out = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "__MACOSX"]
            rel = Path(dirpath).relative_to(self.root).as_posix()
            prefix = "" if rel == "." else rel + "/"
            out.extend(prefix + f for f in filenames)
        return sorted(out)

    def read(self, name: str) -> bytes:
        try:
            return (self.root / name).read_bytes()
        except OSError as e:
            raise UnreadableImage(f"cannot read file ({e.strerror or e})") from None

    def size(self, name: str) -> tuple[int, int]:
        try:
            with (self.root / name).open("rb") as f:
                if os.fstat(f.fileno()).st_size == 0:
                    raise UnreadableImage("empty file (0 bytes)")
                return image_size(f)
        except OSError as e:
            raise UnreadableImage(f"cannot read file ({e.strerror or e})") from None

    def close(self) -> None:
        pass


class _Zip:
    """Reads members of a zip archive; one handle per thread, since handles share a file position."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as e:
            raise DataError(
                f"{path} is not a readable .zip archive ({e}): re-create it, or unzip it and pass the folder"
            ) from None
        self._handles = [zf]
        self._local = threading.local()
        self._local.zf = zf
        self._lock = threading.Lock()
        self._infos = {
            i.filename: i
            for i in zf.infolist()
            if not i.is_dir() and not i.filename.startswith("__MACOSX/")
        }
        self.prefix = _single_top_folder(list(self._infos))

    def names(self) -> list[str]:
        n = len(self.prefix)
        return sorted(k[n:] for k in self._infos)

    def read(self, name: str) -> bytes:
        info = self._infos[self.prefix + name]
        if info.file_size > MAX_MEMBER_BYTES:
            raise UnreadableImage(
                f"member is {info.file_size} bytes, over the {MAX_MEMBER_BYTES} limit"
            )
        zf = getattr(self._local, "zf", None)
        if zf is None:
            zf = zipfile.ZipFile(self.path)
            self._local.zf = zf
            with self._lock:
                self._handles.append(zf)
        try:
            return zf.read(info)
        except Exception as e:  # BadZipFile (CRC), zlib.error, RuntimeError (encrypted), ...
            raise UnreadableImage(f"cannot extract from zip ({' '.join(str(e).split())})") from None

    def size(self, name: str) -> tuple[int, int]:
        # Members are small in practice (thumbnails); reading them whole keeps CRC checks on.
        return image_size(self.read(name))

    def close(self) -> None:
        for zf in self._handles:
            zf.close()


def load_image_files(
    path: Path,
    opts: LoadOptions,
    *,
    name: str | None = None,
    default_resolution: int | None = None,
) -> ImageDataset:
    """Load a folder or ``.zip`` of images following the module's layout rules.

    Args:
        path: a directory or a ``.zip`` file.
        opts: split, resolution, channels, limit, on_error.
        name: dataset name to record (default: the path).
        default_resolution: side to use when ``opts.resolution`` is None, skipping the header scan
            that finds the most common size (named datasets know theirs).

    Returns:
        uint8 images ``(N, R, R, C)``; labels when there are class folders.

    Raises:
        DataError: no split folder for ``split``, no image files, no readable image, or
            (``on_error="raise"``) the first unreadable file.
    """
    src: _Folder | _Zip = _Zip(path) if path.is_file() else _Folder(path)
    try:
        entries, class_names, split = _layout(src.names(), opts.split, path)
        images, labels, notes = _decode(entries, src, opts, default_resolution, path)
    finally:
        src.close()
    return finalize(
        images,
        opts,
        name=name or str(path),
        split=split,
        source=str(path) if split == "all" else f"{path} ({split}/)",
        labels=labels if class_names else None,
        class_names=class_names,
        notes=notes,
    )


def _single_top_folder(names: list[str]) -> str:
    tops = {n.split("/", 1)[0] for n in names}
    if len(tops) == 1 and all("/" in n for n in names):
        top = tops.pop()
        if top not in SPLIT_DIRS:
            return top + "/"
    return ""


def _layout(names: list[str], split: str, path: Path) -> tuple[list[_Entry], list[str], str]:
    images = [n for n in names if is_image_name(n) and not _hidden(n)]
    if not images:
        raise DataError(
            f"no image files in {path}: expected {', '.join(IMAGE_EXTENSIONS)} files, "
            "optionally in class subfolders and train/ test/ split folders"
        )
    present = {n.split("/", 1)[0] for n in images if "/" in n and n.split("/", 1)[0] in SPLIT_DIRS}
    if present:
        if split not in present:
            raise DataError(
                f"{path} has {'/ and '.join(sorted(present))}/ but no {split}/ folder of images: "
                f"add {split}/ or load split={sorted(present)[0]!r}"
            )
        roots = [d + "/" for d in sorted(present)]
        base, out_split = split + "/", split
    else:
        roots, base, out_split = [""], "", "all"
    classes = sorted(
        {
            n[len(r) :].split("/", 1)[0]
            for r in roots
            for n in images
            if n.startswith(r) and "/" in n[len(r) :]
        }
    )
    files = [n[len(base) :] for n in images if n.startswith(base)]
    if not classes:
        return [_Entry(base + f, None) for f in files], [], out_split
    index = {c: i for i, c in enumerate(classes)}
    loose = [f for f in files if "/" not in f]
    if loose:
        logger.warning(
            "ignoring %d image file(s) directly in %s%s next to class folders, e.g. %r: move them "
            "into a class folder",
            len(loose),
            path,
            "/" + base if base else "",
            loose[0],
        )
    by_class: dict[int, list[str]] = {}
    for f in files:
        if "/" in f:
            by_class.setdefault(index[f.split("/", 1)[0]], []).append(base + f)
    ranked = [(r, c, n) for c, ns in by_class.items() for r, n in enumerate(ns)]
    ranked.sort()
    return [_Entry(n, c) for _, c, n in ranked], classes, out_split


def _hidden(name: str) -> bool:
    return any(part.startswith(".") for part in name.split("/"))


def _decode(
    entries: list[_Entry],
    src: _Folder | _Zip,
    opts: LoadOptions,
    default_resolution: int | None,
    path: Path,
) -> tuple[np.ndarray, np.ndarray, dict]:
    bad: list[tuple[str, str]] = []
    known_bad: set[str] = set()
    want = opts.limit or len(entries)
    target = opts.resolution or default_resolution
    resized = opts.resolution is not None
    if target is None:
        target, resized = _common_side(entries, src, opts, path, want, bad, known_bad)

    pool: Executor
    if opts.workers:
        spawn = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(max_workers=opts.workers, mp_context=spawn)
        where = (str(path), isinstance(src, _Zip))
        work = functools.partial(_decode_in_worker, where, target=target)
    else:
        pool = ThreadPoolExecutor(max_workers=max(2, min(8, os.cpu_count() or 1)))
        work = functools.partial(_decode_all, src, target=target)
    arrays: list[np.ndarray] = []
    labels: list[int] = []
    todo = [e for e in entries if e.name not in known_bad]
    with pool:
        for chunk in _chunks(todo, lambda: want - len(arrays)):
            # Tasks of _TASK files: per-task overhead matters for thumbnails, threads for photos.
            tasks = [[e.name for e in chunk[i : i + _TASK]] for i in range(0, len(chunk), _TASK)]
            results = [r for rs in pool.map(work, tasks) for r in rs]
            for e, (arr, reason) in zip(chunk, results, strict=True):
                if arr is None:
                    _bad(e.name, reason, opts, path, bad)
                elif len(arrays) < want:
                    arrays.append(arr)
                    labels.append(-1 if e.label is None else e.label)
    if not arrays:
        raise _none_readable(path, bad)
    if bad:
        listed = "; ".join(f"{n} ({r})" for n, r in bad[:_MAX_LISTED])
        more = f"; and {len(bad) - _MAX_LISTED} more" if len(bad) > _MAX_LISTED else ""
        logger.warning(
            "skipped %d unreadable image file(s) in %s: %s%s", len(bad), path, listed, more
        )
    channels = 1 if all(a.shape[-1] == 1 for a in arrays) else 3
    images = np.stack([a if a.shape[-1] == channels else np.repeat(a, 3, axis=-1) for a in arrays])
    notes = {
        "decode": "EXIF orientation applied; alpha composited on white; 16-bit scaled to 8-bit"
    }
    if resized:
        notes["resize"] = f"files -> {target}: {RESIZE_RULE}"
    return images, np.asarray(labels, dtype=np.int64), notes


def _decode_all(
    src: _Folder | _Zip, names: list[str], target: int
) -> list[tuple[np.ndarray | None, str]]:
    """Decode ``names``: (array, "") for each readable file, (None, reason) for the others."""
    out: list[tuple[np.ndarray | None, str]] = []
    for name in names:
        try:
            out.append((decode_image(src.read(name), target), ""))
        except UnreadableImage as err:
            out.append((None, str(err)))
    return out


_WORKER_SOURCES: dict[tuple[str, bool], _Folder | _Zip] = {}


def _decode_in_worker(
    where: tuple[str, bool], names: list[str], *, target: int
) -> list[tuple[np.ndarray | None, str]]:
    """:func:`_decode_all` in a worker process, which opens the source once and keeps it."""
    if where not in _WORKER_SOURCES:
        path, is_zip = where
        _WORKER_SOURCES[where] = _Zip(Path(path)) if is_zip else _Folder(Path(path))
    return _decode_all(_WORKER_SOURCES[where], names, target)


def _common_side(
    entries: list[_Entry],
    src: _Folder | _Zip,
    opts: LoadOptions,
    path: Path,
    want: int,
    bad: list[tuple[str, str]],
    known_bad: set[str],
) -> tuple[int, bool]:
    """Shorter side of the most common size among the first ``want`` readable headers, and
    whether any of them differs from that square."""
    sizes: Counter[tuple[int, int]] = Counter()
    seen = 0
    for e in entries:
        try:
            sizes[src.size(e.name)] += 1
        except UnreadableImage as err:
            _bad(e.name, str(err), opts, path, bad)
            known_bad.add(e.name)
            continue
        seen += 1
        if seen >= want:
            break
    if not sizes:
        raise _none_readable(path, bad)
    (w, h), _ = sizes.most_common(1)[0]
    side = min(w, h)
    return side, any(size != (side, side) for size in sizes)


def _chunks(todo: list[_Entry], remaining: Callable[[], int]) -> Iterator[list[_Entry]]:
    i = 0
    while i < len(todo) and remaining() > 0:
        size = min(_CHUNK, max(16, remaining()))
        yield todo[i : i + size]
        i += size


def _bad(name: str, reason: str, opts: LoadOptions, path: Path, bad: list[tuple[str, str]]) -> None:
    if opts.on_error == "raise":
        raise DataError(
            f"cannot read image {name!r} in {path}: {reason}; fix or delete the file, "
            "or pass on_error='skip' to leave unreadable files out"
        )
    bad.append((name, reason))


def _none_readable(path: Path, bad: list[tuple[str, str]]) -> DataError:
    first = f", e.g. {bad[0][0]!r}: {bad[0][1]}" if bad else ""
    return DataError(
        f"no readable images in {path} ({len(bad)} unreadable{first}): check the files are "
        "valid PNG/JPEG/BMP/GIF/WebP/TIFF images"
    )
