"""A JSON-ready summary of a loaded dataset (what ``imagegen data describe`` prints)."""

from __future__ import annotations

from typing import Any

import numpy as np

from imagegen.data.base import ImageDataset


def describe(ds: ImageDataset) -> dict[str, Any]:
    """Summarise a dataset in plain Python types.

    Returns:
        ``{"name", "split", "n", "resolution", "channels", "num_classes", "classes",
        "has_captions", "attributes", "fingerprint", "source", "preprocessing"}`` where
        ``classes`` maps each class name to its image count (in label order; empty when
        unlabelled) and ``attributes`` maps each attribute to its value names.
    """
    classes: dict[str, int] = {}
    if ds.labels is not None and ds.spec.class_names:
        counts = np.bincount(ds.labels, minlength=len(ds.spec.class_names))
        classes = {name: int(c) for name, c in zip(ds.spec.class_names, counts, strict=False)}
    return {
        "name": ds.spec.name,
        "split": ds.split,
        "n": len(ds),
        "resolution": ds.spec.resolution,
        "channels": ds.spec.channels,
        "num_classes": ds.spec.num_classes,
        "classes": classes,
        "has_captions": ds.captions is not None,
        "attributes": {k: list(v) for k, v in (ds.attribute_names or {}).items()},
        "fingerprint": ds.fingerprint,
        "source": ds.source,
        "preprocessing": dict(ds.preprocessing),
    }
