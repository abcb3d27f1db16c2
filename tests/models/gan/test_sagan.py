import numpy as np
import pytest
import torch

from imagegen.data.base import DataSpec
from imagegen.errors import ConfigError
from imagegen.models import create_model
from imagegen.models.layers.gan_blocks import SelfAttention2d
from tests.conftest import TINY, halves_dataset


def _spectral_weights(module):
    for m in module.modules():
        if hasattr(m, "parametrizations") and "weight" in m.parametrizations:
            yield m


def test_spectral_norm_holds_every_layers_top_singular_value_at_one():
    ds = halves_dataset()
    model = create_model("sagan", ds.spec, TINY["sagan"], seed=0).train()
    layers = list(_spectral_weights(model.G)) + list(_spectral_weights(model.D))
    assert len(layers) > 10
    batch = ds.batch(np.arange(8))
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for _ in range(60):  # one power iteration per forward pass in training mode
            model.loss("D", batch, g)
    for m in layers:
        w = m.weight.detach().flatten(1)  # conv (out, in, k, k) -> (out, in*k*k)
        top = torch.linalg.matrix_norm(w, ord=2).item()
        assert top == pytest.approx(1.0, abs=0.03), m


def test_attention_sits_at_half_resolution_in_both_networks_and_starts_as_identity():
    spec = DataSpec("t", 1, 28, 0)
    model = create_model("sagan", spec, TINY["sagan"], seed=0)
    g_attn = [m for m in model.G.modules() if isinstance(m, SelfAttention2d)]
    d_attn = [m for m in model.D.modules() if isinstance(m, SelfAttention2d)]
    assert len(g_attn) == 1 and len(d_attn) == 1
    x = torch.randn(2, g_attn[0].q.in_channels, 14, 14)
    torch.testing.assert_close(g_attn[0](x), x)  # gamma = 0 at the start
    with torch.no_grad():
        g_attn[0].gamma.fill_(1.0)
    y = g_attn[0](x)
    assert not torch.allclose(y, x)
    # every output position mixes all positions: changing one far pixel changes all outputs
    x2 = x.clone()
    x2[:, :, 0, 0] += 1.0
    assert (g_attn[0](x2) - y)[:, :, 13, 13].abs().sum() > 0
    with pytest.raises(ConfigError, match="7, 14"):
        create_model("sagan", spec, {**TINY["sagan"], "attention": 28})


def test_two_time_scale_learning_rates():
    model = create_model("sagan", DataSpec("t", 1, 8, 0), TINY["sagan"], seed=0)
    d, g = model.optim_settings("D"), model.optim_settings("G")
    assert d.lr == pytest.approx(4 * g.lr) and d.betas == (0.0, 0.9)
    assert [p.name for p in model.phases()] == ["D", "G"]
