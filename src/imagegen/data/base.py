"""The in-memory image dataset every loader returns.

Images are stored once as uint8 ``(N, H, W, C)`` arrays; :meth:`ImageDataset.batch` turns a set of
indices into the float ``[-1, 1]`` NCHW tensors the models consume.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass(frozen=True)
class DataSpec:
    """What a model needs to know about its data.

    Attributes:
        name: dataset name or path it was loaded from.
        channels: 1 (grayscale) or 3 (RGB).
        resolution: height == width in pixels.
        num_classes: number of class labels, or 0 when unlabelled.
        class_names: one name per class (empty when unlabelled).
    """

    name: str
    channels: int
    resolution: int
    num_classes: int = 0
    class_names: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "channels": self.channels,
            "resolution": self.resolution,
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
        }

    @classmethod
    def from_dict(cls, d: dict) -> DataSpec:
        return cls(
            name=d["name"],
            channels=int(d["channels"]),
            resolution=int(d["resolution"]),
            num_classes=int(d.get("num_classes", 0)),
            class_names=tuple(d.get("class_names", ())),
        )


@dataclass
class Batch:
    """A training batch.

    Attributes:
        x: float32 ``(B, C, H, W)`` in ``[-1, 1]``.
        y: int64 ``(B,)`` class labels, or None for unlabelled data.
        captions: one caption per image, or None.
        index: int64 ``(B,)`` positions of the images in their dataset, or None; with
            ``flipped`` (bool ``(B,)``, None: no flips) they identify each image exactly, so a
            model may cache what it computes from a fixed image (a frozen encoder's codes).
    """

    x: torch.Tensor
    y: torch.Tensor | None = None
    captions: list[str] | None = None
    index: torch.Tensor | None = None
    flipped: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> Batch:
        return Batch(
            self.x.to(device),
            None if self.y is None else self.y.to(device),
            self.captions,
            self.index,
            self.flipped,
        )


@dataclass
class ImageDataset:
    """Images held in memory with optional labels and captions.

    Attributes:
        images: uint8 ``(N, H, W, C)``, C in {1, 3}, H == W.
        labels: int64 ``(N,)`` in ``[0, num_classes)`` or None.
        captions: list of N strings or None.
        spec: the :class:`DataSpec` describing the images.
        split: "train" or "test" (or "all" for sources without a split).
        source: human-readable description of where the data came from.
        preprocessing: how the images were transformed on load (part of the fingerprint).
        attributes: optional per-image categorical factors, ``{name: int64 (N,)}`` (e.g. the
            ``shapes`` dataset's shape, colour, size, position, background); not in the fingerprint.
        attribute_names: for each key of ``attributes``, the names of its values, so that
            ``attribute_names[k][attributes[k][i]]`` is image i's value as a word.
    """

    images: np.ndarray
    spec: DataSpec
    labels: np.ndarray | None = None
    captions: list[str] | None = None
    split: str = "train"
    source: str = ""
    preprocessing: dict = field(default_factory=dict)
    attributes: dict[str, np.ndarray] | None = None
    attribute_names: dict[str, tuple[str, ...]] | None = None
    _fingerprint: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8 or self.images.ndim != 4:
            raise ValueError(
                f"images must be uint8 (N, H, W, C), got {self.images.dtype} {self.images.shape}"
            )
        n, h, w, c = self.images.shape
        if h != w or c not in (1, 3):
            raise ValueError(f"images must be square with 1 or 3 channels, got {self.images.shape}")
        if self.labels is not None and len(self.labels) != n:
            raise ValueError(f"{len(self.labels)} labels for {n} images")
        if self.captions is not None and len(self.captions) != n:
            raise ValueError(f"{len(self.captions)} captions for {n} images")
        for key, values in (self.attributes or {}).items():
            if len(values) != n:
                raise ValueError(f"attribute {key!r} has {len(values)} values for {n} images")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def fingerprint(self) -> str:
        """sha256 over the pixels, labels, split and preprocessing (16 hex digits)."""
        if self._fingerprint is None:
            h = hashlib.sha256()
            h.update(
                repr((self.images.shape, self.split, sorted(self.preprocessing.items()))).encode()
            )
            h.update(np.ascontiguousarray(self.images).tobytes())
            if self.labels is not None:
                h.update(np.ascontiguousarray(self.labels, dtype=np.int64).tobytes())
            self._fingerprint = h.hexdigest()[:16]
        return self._fingerprint

    def batch(self, indices: np.ndarray | torch.Tensor, flip: torch.Tensor | None = None) -> Batch:
        """Gather images as a :class:`Batch` with x in ``[-1, 1]``.

        Args:
            indices: int array of positions.
            flip: optional bool ``(B,)``; True mirrors that image left-right.
        """
        idx = np.asarray(indices, dtype=np.int64)
        x = torch.from_numpy(self.images[idx]).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
        flipped = None
        if flip is not None and bool(flip.any()):
            x[flip] = x[flip].flip(-1)
            flipped = flip.clone()
        y = (
            None
            if self.labels is None
            else torch.from_numpy(np.asarray(self.labels[idx], dtype=np.int64))
        )
        caps = None if self.captions is None else [self.captions[i] for i in idx]
        # explicit NCHW strides: with one channel, the permuted view's strides also read as
        # channels-last, and oneDNN then runs every layer (and GroupNorm's slow path) in NHWC
        x = x.clone(memory_format=torch.contiguous_format)
        return Batch(x, y, caps, torch.tensor(idx), flipped)

    def subset(self, n: int, seed: int = 0) -> ImageDataset:
        """A deterministic random subset of n images (all of them if n >= len)."""
        if n >= len(self):
            return self
        idx = np.sort(np.random.default_rng(seed).choice(len(self), size=n, replace=False))
        return ImageDataset(
            images=self.images[idx],
            spec=self.spec,
            labels=None if self.labels is None else self.labels[idx],
            captions=None if self.captions is None else [self.captions[i] for i in idx],
            split=self.split,
            source=self.source,
            preprocessing={**self.preprocessing, "subset": [int(n), int(seed)]},
            attributes=None
            if self.attributes is None
            else {k: v[idx] for k, v in self.attributes.items()},
            attribute_names=self.attribute_names,
        )
