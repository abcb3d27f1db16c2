import numpy as np
import pytest
import torch
import torch.nn.functional as F

from imagegen.data.base import DataSpec
from imagegen.errors import ConfigError
from imagegen.models import create_model
from imagegen.models.gan.stylegan import ModulatedConv2d
from tests.conftest import TINY, halves_dataset

SPEC = DataSpec("t", 1, 8, 0)


def test_modulated_conv_equals_explicitly_modulated_and_demodulated_weights():
    torch.manual_seed(0)
    conv = ModulatedConv2d(4, 5, 3, w_dim=6)
    x, w = torch.randn(3, 4, 7, 7), torch.randn(3, 6)
    out = conv(x, w)
    s = conv.affine(w)  # (B, C_in)
    for b in range(3):  # Eq. 1 and 3 of StyleGAN2, one image at a time
        wt = conv.weight * conv.w_gain * s[b][None, :, None, None]  # (C_out, C_in, k, k)
        wt = wt / torch.sqrt(wt.pow(2).sum(dim=(1, 2, 3), keepdim=True) + 1e-8)
        torch.testing.assert_close(out[b : b + 1], F.conv2d(x[b : b + 1], wt, padding=1))


def test_truncation_psi_zero_gives_the_mean_style_and_one_leaves_it():
    model = create_model("stylegan", SPEC, TINY["stylegan"], seed=0)
    with torch.no_grad():
        model.G.w_avg.normal_()
    z = torch.randn(4, 8)
    ws0 = model.styles(z, None, psi=0.0)
    torch.testing.assert_close(ws0, model.G.w_avg.expand_as(ws0))
    ws1 = model.styles(z, None, psi=1.0)
    torch.testing.assert_close(ws1[:, 0], model.G.mapping(z))
    half = model.styles(z, None, psi=0.5)
    torch.testing.assert_close(half, 0.5 * (ws1 + model.G.w_avg))
    with pytest.raises(ConfigError, match="truncation"):
        model.sample(2, generator=torch.Generator(), truncation=-0.5)


def test_style_mixing_switches_styles_at_the_crossover_layer():
    model = create_model("stylegan", SPEC, TINY["stylegan"], seed=0)
    z1, z2 = torch.randn(2, 8), torch.randn(2, 8)
    ws = model.styles(z1, None, mix_z=z2, crossover=2)
    w1, w2 = model.G.mapping(z1), model.G.mapping(z2)
    for i in range(model.G.num_ws):
        torch.testing.assert_close(ws[:, i], w1 if i < 2 else w2)
    # every style reaches the image: perturbing one layer's style changes the output
    base = model.synthesise(ws, None)
    for i in range(model.G.num_ws):
        other = ws.clone()
        other[:, i] += 1.0
        assert not torch.allclose(model.synthesise(other, None), base), i


def test_noise_inputs_are_per_image_and_seeded():
    model = create_model("stylegan", SPEC, TINY["stylegan"], seed=0).eval()
    with torch.no_grad():
        for layer in model.G.synthesis.layers:
            layer.noise_strength.fill_(0.5)
    gens = [torch.Generator().manual_seed(i) for i in range(3)]
    batch = model.sample(3, generator=gens)
    alone = model.sample(1, generator=[torch.Generator().manual_seed(2)])
    torch.testing.assert_close(batch[2:3], alone)
    ws = model.styles(torch.randn(1, 8).expand(2, -1), None)
    a = model.synthesise(ws, torch.Generator().manual_seed(0))
    assert not torch.allclose(a[0], a[1])  # same style, different noise


def test_training_tracks_the_mean_style_and_lazy_r1_has_its_own_phase():
    ds = halves_dataset()
    model = create_model("stylegan", ds.spec, TINY["stylegan"], seed=0).train()
    assert {p.name: p.interval for p in model.phases()} == {"D": 1, "D_reg": 16, "G": 1}
    before = model.G.w_avg.clone()
    model.loss("G", ds.batch(np.arange(8)), torch.Generator().manual_seed(0))
    assert not torch.equal(model.G.w_avg, before)
    out = model.loss("D_reg", ds.batch(np.arange(8)), torch.Generator().manual_seed(0))
    assert out.logs["loss/r1"] > 0
    torch.testing.assert_close(out.loss.detach(), 0.1 / 2 * 16 * out.logs["loss/r1"])
