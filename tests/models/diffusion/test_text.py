"""Text-to-image: the offline text encoder, template captions, the cross-attention DDPM."""

from __future__ import annotations

import socket

import numpy as np
import pytest
import torch

from imagegen.data import load_dataset
from imagegen.data.base import DataSpec
from imagegen.data.captions import template_captions
from imagegen.errors import ConfigError
from imagegen.models import create_model
from imagegen.models.text_encoder import TextEncoder, load_text_encoder
from imagegen.training import train
from tests.conftest import TINY

TEXT = {**TINY["ddpm"], "text": True, "label_dropout": 0.2, "text_max_length": 16}


@pytest.fixture(scope="module")
def shapes():
    return load_dataset("shapes", split="train", resolution=8, limit=64)


def test_text_encoder_loads_without_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access is disabled in this test")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    enc = TextEncoder(max_length=16)
    states, mask = enc.encode(["a red circle at the top left", "a red circle at the top left", ""])
    assert states.shape == (3, 16, 384) and mask.shape == (3, 16)
    assert torch.equal(states[0], states[1])
    assert mask[2].sum() == 2  # the empty caption is [CLS] [SEP]
    assert mask[0].sum() > mask[2].sum()
    other, _ = enc.encode(["a blue square at the bottom right"])
    assert not torch.allclose(other[0, 1], states[0, 1])


def test_text_encoder_names_a_bad_folder(tmp_path):
    with pytest.raises(ConfigError, match="config.json"):
        TextEncoder(str(tmp_path))
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ConfigError, match="safetensors"):
        TextEncoder(str(tmp_path))


def test_template_captions_for_labelled_datasets():
    mnist = DataSpec("mnist", 1, 28, 10, tuple(str(i) for i in range(10)))
    assert template_captions(mnist, [7, 0]) == ["a handwritten seven", "a handwritten zero"]
    cifar = DataSpec("cifar10", 3, 32, 3, ("airplane", "bird", "cat"))
    assert template_captions(cifar, [0, 2]) == ["a photo of an airplane", "a photo of a cat"]


def test_caption_dropout_feeds_the_empty_caption(shapes):
    model = create_model("ddpm", shapes.spec, {**TEXT, "label_dropout": 0.5}, seed=0)
    seen = []
    real = model.encode_text

    def spy(captions, device):
        seen.append(list(captions))
        return real(captions, device)

    model.encode_text = spy
    batch = shapes.batch(torch.arange(64).numpy())
    model.loss("main", batch, torch.Generator().manual_seed(0))
    empty = [c == "" for c in seen[0]]
    assert 20 < sum(empty) < 44
    kept = [c for c, e in zip(seen[0], empty, strict=True) if not e]
    assert set(kept) <= set(batch.captions)


def test_text_model_trains_samples_prompts_and_guides(shapes, tmp_path):
    model = create_model("ddpm", shapes.spec, TEXT, seed=0)
    train(model, shapes, tmp_path / "t2i", steps=2, batch_size=8, sample_every=0, log_every=1)
    model.eval()
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    a = model.sample(2, generator=g(), prompt="a large red circle in the center")
    b = model.sample(2, generator=g(), prompt="a small blue cross at the bottom right")
    assert a.shape == (2, 3, 8, 8) and not torch.equal(a, b)
    per_image = model.sample(2, generator=g(), prompt=["a large red circle in the center"] * 2)
    assert torch.equal(per_image, a)
    with pytest.raises(ConfigError, match="prompt"):
        model.sample(2, generator=g())
    x_t, t = torch.randn(2, 3, 8, 8), torch.tensor([5, 50])
    text = model.encode_text(["a red square", "a blue circle"], x_t.device)
    with torch.no_grad():
        assert torch.equal(model.guided(x_t, t, None, 1.0, text), model.predict(x_t, t, None, text))
    assert not torch.equal(
        model.sample(2, generator=g(), prompt="a red square", guidance=4.0),
        model.sample(2, generator=g(), prompt="a red square", guidance=1.0),
    )
    plain = create_model("ddpm", shapes.spec, TINY["ddpm"], seed=0)
    with pytest.raises(ConfigError, match="without text"):
        plain.sample(1, generator=g(), prompt="a red square")


def test_text_unet_attends_with_heads_of_32_channels():
    # UNet2DConditionModel reads attention_head_dim as a head count; 128 channels must not be
    # split into 32 heads of 4
    cfg = {**TEXT, "channels": [64, 128], "attention": [True, True], "mid_attention": True}
    model = create_model("ddpm", DataSpec("t", 3, 16, 0), cfg, seed=0)
    attns = [m for m in model.unet.modules() if type(m).__name__ == "Attention"]
    assert len(attns) >= 4
    for a in attns:
        assert a.inner_dim // a.heads == 32, (a.inner_dim, a.heads)


def test_text_and_class_conditioning_are_exclusive():
    with pytest.raises(ConfigError, match="exclusive"):
        create_model("ddpm", DataSpec("t", 1, 8, 3), {**TEXT, "conditional": True})
    assert load_text_encoder() is load_text_encoder()


def test_negative_prompt_replaces_the_empty_caption_in_guidance(shapes):
    model = create_model("ddpm", shapes.spec, TEXT, seed=0).eval()
    x_t, t = torch.randn(2, 3, 8, 8), torch.tensor([5, 50])
    text = model.encode_text(["a red square"] * 2, x_t.device)
    neg = model.encode_text(["on a red background"] * 2, x_t.device)
    with torch.no_grad():
        f_c, f_neg = model.predict(x_t, t, None, text), model.predict(x_t, t, None, neg)
        torch.testing.assert_close(
            model.guided(x_t, t, None, 4.0, text, neg), f_neg + 4.0 * (f_c - f_neg),
            atol=1e-5, rtol=1e-5,
        )  # fmt: skip

    def draw(**options):
        return model.sample(
            2, generator=torch.Generator().manual_seed(0), prompt="a red square", **options
        )

    assert torch.equal(draw(guidance=4.0, negative_prompt=""), draw(guidance=4.0))
    negative = draw(guidance=4.0, negative_prompt="on a red background")
    assert not torch.equal(negative, draw(guidance=4.0))
    per_image = draw(guidance=4.0, negative_prompt=["on a red background"] * 2)
    assert torch.equal(per_image, negative)
    with pytest.raises(ConfigError, match="guidance"):
        draw(guidance=1.0, negative_prompt="on a red background")
    with pytest.raises(ConfigError, match="one per sample"):
        draw(guidance=4.0, negative_prompt=["a", "b", "c"])
    plain = create_model("ddpm", shapes.spec, TINY["ddpm"], seed=0)
    with pytest.raises(ConfigError, match="without text"):
        plain.sample(1, generator=torch.Generator(), negative_prompt="red")


def test_per_image_negative_prompts_follow_the_batches(shapes):
    from imagegen.sampling.generate import generate

    model = create_model("ddpm", shapes.spec, TEXT, seed=0)
    options = {
        "prompt": ["a red square", "a blue circle", "a green cross"],
        "negative_prompt": ["on a red background", "", "on a green background"],
        "guidance": 4.0,
    }
    whole = generate(model, 3, seed=0, batch_size=3, **options)
    assert np.array_equal(generate(model, 3, seed=0, batch_size=2, **options), whole)
    with pytest.raises(ConfigError, match="2 negative_prompts for 3 images"):
        generate(model, 3, seed=0, **{**options, "negative_prompt": ["a", "b"]})
