"""A small CNN classifier per labelled dataset, trained on the fly and cached, for conditional accuracy.

Conditional accuracy asks a classifier whether a sample shows the class it was generated for; the
classifier's own test accuracy is its ceiling and is reported beside it. No pretrained classifier
for MNIST/CIFAR-10/shapes ships offline, so imagegen trains one (seconds to minutes on a CPU) and
caches it as safetensors under ``<cache>/classifiers/``, keyed by the training and test data
fingerprints and the recipe, so a changed dataset never reuses a stale classifier.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

from imagegen.data.base import ImageDataset
from imagegen.errors import ImagegenError
from imagegen.safe_weights import load_into, read_safetensors

log = logging.getLogger(__name__)

RECIPE_VERSION = 1
WIDTHS = (16, 32, 64)


def classifier_cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """``<cache_dir | $IMAGEGEN_CACHE | ~/.cache/imagegen>/classifiers``."""
    if cache_dir is None:
        cache_dir = os.environ.get("IMAGEGEN_CACHE") or Path.home() / ".cache" / "imagegen"
    return Path(cache_dir).expanduser() / "classifiers"


class SmallCNN(nn.Module):
    """Stages of two 3x3 conv-BN-ReLU layers, 2x max-pool between stages, global pool, linear.

    Args:
        channels: image channels (1 or 3).
        resolution: image side; stages are added while the feature map stays >= 4 pixels.
        num_classes: outputs.
    """

    def __init__(self, channels: int, resolution: int, num_classes: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in, size = channels, resolution
        for i, w in enumerate(WIDTHS):
            if i > 0:
                if size < 8:
                    break
                layers.append(nn.MaxPool2d(2))
                size //= 2
            for _ in range(2):
                layers += [
                    nn.Conv2d(c_in, w, 3, padding=1, bias=False),
                    nn.BatchNorm2d(w),
                    nn.ReLU(),
                ]
                c_in = w
        self.body = nn.Sequential(*layers)
        self.feature_dim = c_in
        self.head = nn.Linear(c_in, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` in [-1, 1] -> ``(B, feature_dim)`` globally pooled features."""
        return self.body(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@dataclass
class TrainedClassifier:
    """A trained :class:`SmallCNN` with its held-out accuracy and provenance."""

    net: SmallCNN
    test_accuracy: float
    meta: dict

    def _batches(self, images: np.ndarray, batch_size: int = 512):
        self.net.eval()
        with torch.inference_mode():
            for start in range(0, images.shape[0], batch_size):
                x = torch.from_numpy(images[start : start + batch_size]).permute(0, 3, 1, 2)
                yield x.float() / 127.5 - 1.0

    def predict(self, images: np.ndarray) -> np.ndarray:
        """uint8 ``(N, H, W, C)`` -> int64 ``(N,)`` predicted classes."""
        return np.concatenate([self.net(x).argmax(1).numpy() for x in self._batches(images)])

    def features(self, images: np.ndarray) -> np.ndarray:
        """uint8 ``(N, H, W, C)`` -> float64 ``(N, feature_dim)`` penultimate features."""
        return np.concatenate(
            [self.net.features(x).double().numpy() for x in self._batches(images)]
        )


def _check_pair(train: ImageDataset, test: ImageDataset) -> None:
    if train.labels is None or train.spec.num_classes < 2:
        raise ImagegenError(
            f"dataset '{train.spec.name}' has no class labels: a classifier needs a labelled dataset"
        )
    if test.labels is None:
        raise ImagegenError(f"the test split of '{test.spec.name}' has no labels")
    if (train.spec.channels, train.spec.resolution) != (test.spec.channels, test.spec.resolution):
        raise ImagegenError("train and test images differ in shape: load both splits alike")


def _key(train: ImageDataset, test: ImageDataset, steps: int, seed: int) -> str:
    payload = {
        "version": RECIPE_VERSION,
        "widths": WIDTHS,
        "train": train.fingerprint,
        "test": test.fingerprint,
        "steps": steps,
        "seed": seed,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def accuracy(clf: TrainedClassifier, data: ImageDataset) -> float:
    """Share of ``data`` the classifier labels correctly."""
    return float((clf.predict(data.images) == np.asarray(data.labels)).mean())


def _shift(x: torch.Tensor, g: torch.Generator, pad: int) -> torch.Tensor:
    """Random translations by up to ``pad`` pixels (replicate padding, then a random crop)."""
    b, _, h, w = x.shape
    x = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    dy, dx = torch.randint(0, 2 * pad + 1, (2,), generator=g).tolist()
    return x[:, :, dy : dy + h, dx : dx + w]


def train_classifier(
    train: ImageDataset,
    test: ImageDataset,
    *,
    steps: int = 1000,
    batch_size: int = 128,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> TrainedClassifier:
    """Train a :class:`SmallCNN` on ``train`` (Adam, cosine LR, random shifts) and test it."""
    _check_pair(train, test)
    spec = train.spec
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = SmallCNN(spec.channels, spec.resolution, spec.num_classes)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    pad = max(1, spec.resolution // 10)
    bs = min(batch_size, len(train))
    net.train()
    for step in range(steps):
        idx = torch.randint(0, len(train), (bs,), generator=g).numpy()
        batch = train.batch(idx)
        loss = F.cross_entropy(net(_shift(batch.x, g, pad)), batch.y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if progress is not None and (step + 1) % 50 == 0:
            progress(step + 1, steps)
    clf = TrainedClassifier(net.eval(), 0.0, {})
    clf.test_accuracy = accuracy(clf, test)
    clf.meta = {
        "dataset": spec.name,
        "train_fingerprint": train.fingerprint,
        "test_fingerprint": test.fingerprint,
        "steps": steps,
        "seed": seed,
        "recipe_version": RECIPE_VERSION,
        "test_accuracy": clf.test_accuracy,
        "n_test": len(test),
    }
    return clf


def dataset_classifier(
    train: ImageDataset,
    test: ImageDataset,
    *,
    steps: int = 1000,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> TrainedClassifier:
    """The cached classifier for this (train, test) pair, trained and cached on a miss.

    Args:
        train: labelled training split (the classifier learns from it).
        test: labelled held-out split (its accuracy is reported as ``test_accuracy``).
        steps: optimisation steps of batch 128.
        seed: initial weights and batch order.
        cache_dir: base cache folder (``$IMAGEGEN_CACHE`` or ``~/.cache/imagegen`` when None).
        progress: ``progress(step, steps)`` while training (not called on a cache hit).
    """
    _check_pair(train, test)
    key = _key(train, test, steps, seed)
    root = classifier_cache_root(cache_dir)
    weights, info = root / f"{key[:24]}.safetensors", root / f"{key[:24]}.json"
    spec = train.spec
    if weights.is_file() and info.is_file():
        try:
            meta = json.loads(info.read_text())
            if meta.get("key") != key:
                raise ValueError("key mismatch")
            net = SmallCNN(spec.channels, spec.resolution, spec.num_classes)
            load_into(net, read_safetensors(weights), weights)
            log.info("classifier from cache %s", weights)
            return TrainedClassifier(net.eval(), float(meta["test_accuracy"]), meta)
        except (OSError, ValueError, KeyError, ImagegenError) as e:
            log.warning("ignoring unreadable classifier cache %s (%s); retraining", weights, e)
    log.info("training a %s classifier (%d steps) for conditional accuracy", spec.name, steps)
    clf = train_classifier(train, test, steps=steps, seed=seed, progress=progress)
    clf.meta["key"] = key
    try:
        root.mkdir(parents=True, exist_ok=True)
        _atomic(weights, lambda p: save_file(clf.net.state_dict(), p))
        _atomic(info, lambda p: Path(p).write_text(json.dumps(clf.meta, indent=1)))
    except OSError as e:
        log.warning("could not cache the classifier in %s: %s", root, e)
    return clf


def _atomic(path: Path, write: Callable[[str], None]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def conditional_accuracy(clf: TrainedClassifier, images: np.ndarray, labels: np.ndarray) -> float:
    """Share of ``images`` (uint8 NHWC) that ``clf`` assigns to their requested ``labels``."""
    labels = np.asarray(labels).reshape(-1)
    if labels.shape[0] != images.shape[0]:
        raise ImagegenError(f"{labels.shape[0]} labels for {images.shape[0]} images")
    return float((clf.predict(images) == labels).mean())
