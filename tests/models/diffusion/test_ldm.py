"""Latent diffusion on a frozen VQ-VAE / VAE run: scale factor, frozen weights, self-contained runs."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from imagegen.data import load_dataset
from imagegen.data.base import DataSpec
from imagegen.errors import ConfigError, RunError
from imagegen.models import create_model
from imagegen.sampling import create_ldm, load_run
from imagegen.training import train
from tests.cli.test_cli import run_cli
from tests.conftest import TINY

UNET = {k: TINY["ldm"][k] for k in ("channels", "attention", "timesteps", "sample_steps")}


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", split="train")


def _run(tmp_path_factory, digits, name):
    model = create_model(name, digits.spec, TINY[name], seed=0)
    out = tmp_path_factory.mktemp(name) / "run"
    train(model, digits, out, steps=2, batch_size=8, sample_every=0, log_every=1)
    return out


@pytest.fixture(scope="module")
def vq_run(tmp_path_factory, digits):
    return _run(tmp_path_factory, digits, "vqvae")


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory, digits):
    return _run(tmp_path_factory, digits, "vae")


def test_scale_factor_gives_unit_variance_latents(vq_run, digits):
    model = create_ldm(vq_run, digits.spec, UNET)
    assert float(model.latent_scale) == 0.0
    batch = digits.batch(np.arange(32))
    z = model.latents(batch.x)
    x_0 = model.diffused(batch)
    torch.testing.assert_close(model.latent_scale, 1 / z.std(), rtol=1e-5, atol=0)
    assert abs(x_0.std().item() - 1) < 1e-4
    again = model.diffused(digits.batch(np.arange(32, 64)))  # s is measured once, then kept
    torch.testing.assert_close(again, model.latents(digits.batch(np.arange(32, 64)).x) / z.std())


def test_training_latents_are_encoded_once_per_image_and_flip(vq_run, digits, monkeypatch):
    model = create_ldm(vq_run, digits.spec, UNET).train()
    batch = digits.batch(np.arange(8))
    first = model.training_latents(batch)
    torch.testing.assert_close(first, model.latents(batch.x))
    calls = []
    encode = model.autoencoder.encode
    monkeypatch.setattr(model.autoencoder, "encode", lambda x: calls.append(len(x)) or encode(x))
    again = model.training_latents(digits.batch(np.array([3, 5, 9, 2])))  # 9 is new
    assert calls == [1]
    torch.testing.assert_close(again[:2], first[[3, 5]])
    flips = torch.tensor([True, False, False, False])
    mirrored = model.training_latents(digits.batch(np.array([3, 5, 9, 2]), flips))
    assert calls == [1, 1]  # image 3 flipped is another image
    torch.testing.assert_close(
        mirrored[0], model.latents(digits.batch(np.array([3]), flips[:1]).x)[0]
    )


def test_training_leaves_the_autoencoder_frozen_and_the_run_self_contained(
    vq_run, digits, tmp_path
):
    own = tmp_path / "vq"
    shutil.copytree(vq_run, own)
    ae = load_run(own).model.state_dict()
    model = create_ldm(own, digits.spec, UNET)
    assert all(torch.equal(model.autoencoder.state_dict()[k], v) for k, v in ae.items())
    assert set(map(id, model.param_groups()["main"])) == set(map(id, model.unet.parameters()))
    unet_before = [p.detach().clone() for p in model.unet.parameters()]
    out = tmp_path / "ldm"
    train(model, digits, out, steps=3, batch_size=8, sample_every=0, log_every=1)
    assert all(torch.equal(model.autoencoder.state_dict()[k], v) for k, v in ae.items())
    after = list(model.unet.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(unet_before, after, strict=True))
    shutil.rmtree(own)  # the ldm run must not need the autoencoder's run any more
    run = load_run(out)
    assert float(run.model.latent_scale) > 0
    images = run.sample(4, seed=0)
    assert images.shape == (4, 8, 8, 1) and images.dtype == np.uint8
    np.testing.assert_array_equal(images, run.sample(4, seed=0))


def test_vq_samples_decode_at_the_nearest_codes(vq_run, digits):
    model = create_ldm(vq_run, digits.spec, UNET).eval()
    model.latent_scale.fill_(2.0)
    x_0 = torch.randn(3, *model.shape)
    ae = model.autoencoder
    want = ae.decode(ae.snap(x_0 / 2.0)).clamp(-1, 1)
    torch.testing.assert_close(model.to_images(x_0), want)


def test_kl_autoencoder_latents_are_diffused_as_maps_and_decoded_as_they_are(
    tmp_path_factory, digits
):
    model = create_ldm(_run(tmp_path_factory, digits, "klvae"), digits.spec, UNET).eval()
    ae = model.autoencoder
    assert model.shape == ae.latent_shape and len(model.shape) == 3
    model.latent_scale.fill_(2.0)
    x_0 = torch.randn(3, *model.shape)
    torch.testing.assert_close(model.to_images(x_0), ae.decode(x_0 / 2.0).clamp(-1, 1))
    x = model.sample(2, generator=torch.Generator().manual_seed(0))
    assert x.shape == (2, 1, 8, 8) and torch.isfinite(x).all()


def test_vector_latents_need_a_one_level_unet(vae_run, digits):
    model = create_ldm(vae_run, digits.spec, UNET)
    assert model.shape == (TINY["vae"]["latent_dim"], 1, 1)
    x = model.sample(2, generator=torch.Generator().manual_seed(0))
    assert x.shape == (2, 1, 8, 8)
    with pytest.raises(ConfigError, match="one-level"):
        create_ldm(vae_run, digits.spec, {**UNET, "channels": [32, 32], "attention": [False] * 2})


def test_ldm_needs_an_autoencoder_run(vq_run, tmp_path_factory, digits):
    with pytest.raises(ConfigError, match="autoencoder_run"):
        create_model("ldm", digits.spec, UNET)
    gan = _run(tmp_path_factory, digits, "dcgan")
    with pytest.raises(RunError, match="not an autoencoder"):
        create_ldm(gan, digits.spec, UNET)
    with pytest.raises(RunError, match="trained on"):
        create_ldm(vq_run, DataSpec("big", 1, 16, 0), UNET)


def test_cli_trains_and_samples_an_ldm(vq_run, tmp_path, capsys):
    out = tmp_path / "ldm"
    args = [
        "train",
        "ldm",
        "--data",
        "digits",
        "--steps",
        "2",
        "--batch-size",
        "8",
        "--out",
        str(out),
        "--set",
        f"model.autoencoder_run={vq_run}",
        "--set",
        "model.channels=[32]",
        "--set",
        "model.attention=[false]",
        "--set",
        "model.sample_steps=3",
        "--eval-n",
        "0",
    ]
    code, _, err = run_cli(capsys, *args)
    assert code == 0, err
    code, _, err = run_cli(capsys, "sample", str(out), "--n", "4", "--out", str(tmp_path / "g.png"))
    assert code == 0, err
    assert (tmp_path / "g.png").is_file()
