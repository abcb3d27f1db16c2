"""``describe`` summaries and the optional attributes carried by ``subset``."""

from __future__ import annotations

import json

import numpy as np

from imagegen.data import describe, load_dataset


def test_describe_labelled() -> None:
    ds = load_dataset("digits", "test")
    d = describe(ds)
    assert d["name"] == "digits" and d["split"] == "test" and d["n"] == 360
    assert d["resolution"] == 8 and d["channels"] == 1 and d["num_classes"] == 10
    assert list(d["classes"]) == [str(i) for i in range(10)]
    assert sum(d["classes"].values()) == 360
    assert d["classes"]["3"] == int((ds.labels == 3).sum())
    assert d["has_captions"] is False and d["fingerprint"] == ds.fingerprint
    assert d["source"] == "sklearn.datasets.load_digits"
    json.dumps(d)


def test_describe_captions_and_attributes() -> None:
    d = describe(load_dataset("shapes", limit=10))
    assert d["has_captions"] is True and d["attributes"]["size"] == ["small", "large"]
    json.dumps(d)


def test_subset_keeps_attributes_aligned() -> None:
    ds = load_dataset("shapes", limit=40)
    sub = ds.subset(10, seed=3)
    assert len(sub) == 10 and sub.attribute_names == ds.attribute_names
    for v in sub.attributes.values():
        assert len(v) == 10
    # each kept image's caption still agrees with its attributes
    for i in range(10):
        colour = sub.attribute_names["colour"][sub.attributes["colour"][i]]
        assert f" {colour} " in sub.captions[i]
    idx = [ds.captions.index(c) for c in sub.captions]
    np.testing.assert_array_equal(sub.attributes["shape"], ds.attributes["shape"][idx])
