"""The on-disk cache of reference statistics: hits, misses, stale and corrupt files."""

from __future__ import annotations

import numpy as np
import pytest

from imagegen.errors import ConfigError
from imagegen.metrics.fid import FeatureStats
from imagegen.metrics.inception import InceptionFeatures
from imagegen.metrics.reference import cache_root, reference_stats


def test_second_call_is_a_cache_hit_with_identical_stats(
    tmp_path, fake_extract, toy_dataset, random_images
):
    ds = toy_dataset(random_images(20))
    net = InceptionFeatures()
    first = reference_stats(ds, net, cache_dir=tmp_path)
    second = reference_stats(ds, net, cache_dir=tmp_path)
    assert len(fake_extract) == 1
    np.testing.assert_array_equal(first.mu, second.mu)
    np.testing.assert_array_equal(first.sigma, second.sigma)
    files = list((tmp_path / "fid_stats").iterdir())
    assert len(files) == 1 and files[0].name.startswith("toy-test-")
    assert FeatureStats.load(files[0]).meta["fingerprint"] == ds.fingerprint


def test_changed_fingerprint_resize_or_n_miss_the_cache(
    tmp_path, fake_extract, toy_dataset, random_images
):
    images = random_images(20)
    reference_stats(toy_dataset(images), InceptionFeatures(), cache_dir=tmp_path)
    changed = images.copy()
    changed[0, 0, 0, 0] ^= 1
    reference_stats(toy_dataset(changed), InceptionFeatures(), cache_dir=tmp_path)
    reference_stats(toy_dataset(images), InceptionFeatures(resize="clean"), cache_dir=tmp_path)
    stats = reference_stats(toy_dataset(images), InceptionFeatures(), n=10, cache_dir=tmp_path)
    assert [c["n"] for c in fake_extract] == [20, 20, 20, 10]
    assert fake_extract[2]["resize"] == "clean"
    assert stats.n == 10
    assert len(list((tmp_path / "fid_stats").iterdir())) == 4


def test_corrupt_or_stale_cache_files_are_recomputed(
    tmp_path, fake_extract, toy_dataset, random_images
):
    ds = toy_dataset(random_images(20))
    good = reference_stats(ds, InceptionFeatures(), cache_dir=tmp_path)
    (path,) = (tmp_path / "fid_stats").iterdir()

    path.write_bytes(b"garbage")
    again = reference_stats(ds, InceptionFeatures(), cache_dir=tmp_path)
    np.testing.assert_array_equal(again.mu, good.mu)
    assert FeatureStats.load(path).meta["key"] == good.meta["key"]

    # Right file name, wrong content: a stats file whose stored key belongs to something else.
    FeatureStats(mu=np.zeros(6), sigma=np.eye(6), n=20, meta={"key": "other"}).save(path)
    again = reference_stats(ds, InceptionFeatures(), cache_dir=tmp_path)
    np.testing.assert_array_equal(again.mu, good.mu)
    assert len(fake_extract) == 3


def test_cache_dir_argument_beats_env_which_beats_home(tmp_path, monkeypatch):
    monkeypatch.setenv("IMAGEGEN_CACHE", str(tmp_path / "env"))
    assert cache_root() == tmp_path / "env" / "fid_stats"
    assert cache_root(tmp_path / "arg") == tmp_path / "arg" / "fid_stats"
    monkeypatch.delenv("IMAGEGEN_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "imagegen" / "fid_stats"


def test_n_ref_below_two_is_a_config_error(tmp_path, fake_extract, toy_dataset, random_images):
    with pytest.raises(ConfigError, match="n_ref"):
        reference_stats(toy_dataset(random_images(5)), InceptionFeatures(), n=1, cache_dir=tmp_path)
