import numpy as np
import torch
from torch import nn

from imagegen.data.base import DataSpec
from imagegen.models import create_model
from imagegen.sampling import generate, load_run
from imagegen.training import train
from tests.conftest import TINY, halves_dataset


def _layers(module):
    return [m for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding))]


def _spectral(m) -> bool:
    return hasattr(m, "parametrizations") and "weight" in m.parametrizations


def test_spectral_norm_on_every_discriminator_layer_and_none_in_the_generator():
    spec = DataSpec("t", 1, 28, 10)
    for conditional in (False, True):
        model = create_model("sngan", spec, TINY["sngan"], conditional=conditional, seed=0)
        d_layers, g_layers = _layers(model.D), _layers(model.G)
        assert len(d_layers) > 8 and all(_spectral(m) for m in d_layers)
        assert g_layers and not any(_spectral(m) for m in g_layers)


def test_unconditional_by_default_and_projection_when_conditional():
    spec = DataSpec("t", 1, 8, 3)
    plain = create_model("sngan", spec, TINY["sngan"], seed=0).eval()
    assert plain.G.embed is None and plain.D.embed is None
    x = torch.randn(4, 1, 8, 8)
    torch.testing.assert_close(plain.D(x), plain.D.psi(plain.D.features(x)).squeeze(1))
    cond = create_model("sngan", spec, TINY["sngan"], conditional=True, seed=0).eval()
    y = torch.tensor([0, 1, 2, 1])
    assert not torch.allclose(cond.D(x, y), cond.D(x, (y + 1) % 3))


def _half_contrast(images: np.ndarray) -> np.ndarray:
    """Per image: mean of the top half minus the bottom half (pixels in [0, 1]); +-1 for the
    two classes of the halves data."""
    x = images[..., 0].astype(np.float64) / 255
    return x[:, :4].mean((1, 2)) - x[:, 4:].mean((1, 2))


def test_samples_move_from_noise_to_the_halves_of_the_data(tmp_path):
    ds = halves_dataset()
    model = create_model("sngan", ds.spec, TINY["sngan"], seed=0)
    assert np.abs(_half_contrast(generate(model, 64, seed=0))).mean() < 0.3
    run = train(
        model,
        ds,
        tmp_path / "r",
        steps=300,
        batch_size=16,
        ema_decay=0.0,
        log_every=50,
        sample_every=0,
        ckpt_every=0,
        grid_size=4,
    )
    assert np.abs(_half_contrast(load_run(run).sample(64, seed=0))).mean() > 0.8
