import math

import numpy as np
import pytest
import torch

from imagegen.data.base import DataSpec
from imagegen.errors import ConfigError
from imagegen.models import create_model
from imagegen.models.gan.biggan import orthogonal_penalty, truncated_normal
from tests.conftest import TINY, halves_dataset

COND = {**TINY["biggan"], "conditional": True}


def test_orthogonal_penalty_is_the_off_diagonal_gram_norm():
    w = torch.tensor([[1.0, 2.0], [3.0, 4.0], [0.0, 1.0]])
    gram = w @ w.T  # off-diagonal entries 11, 2, 4 (each twice)
    assert orthogonal_penalty([w]).item() == pytest.approx(2 * (11**2 + 2**2 + 4**2))
    q, _ = torch.linalg.qr(torch.randn(6, 6))
    assert orthogonal_penalty([q.view(6, 6, 1, 1) * 3.0]).item() == pytest.approx(0.0, abs=1e-8)
    assert gram.shape == (3, 3)


def test_orthogonal_init_starts_g_near_zero_penalty_and_keeps_spectral_norm():
    spec = DataSpec("mnist", 1, 28, 10)
    cfg = {"z_dim": 96, "width": 64, "embed_dim": 16}
    ortho = create_model("biggan", spec, cfg, seed=0)
    default = create_model("biggan", spec, {**cfg, "ortho_init": False}, seed=0)
    p_ortho = orthogonal_penalty(ortho._regularised()).item()
    p_default = orthogonal_penalty(default._regularised()).item()
    assert p_ortho < p_default / 100
    for m in ortho.D.modules():
        if isinstance(m, torch.nn.Conv2d | torch.nn.Linear):
            raw = m.parametrizations.weight.original.flatten(1)
            rows, cols = raw.shape
            gram = raw @ raw.T if rows <= cols else raw.T @ raw  # the smaller side is orthonormal
            assert torch.allclose(gram, torch.eye(min(rows, cols)), atol=1e-4)
            top = torch.linalg.matrix_norm(m.weight.flatten(1), 2).item()
            assert top == pytest.approx(1.0, abs=1e-3)  # power iteration re-estimated


def test_spectral_generators_have_no_input_bias_to_outgrow_z():
    spec = DataSpec("mnist", 1, 28, 10)
    big = create_model("biggan", spec, {"z_dim": 96, "width": 32, "embed_dim": 16}, seed=0)
    assert big.G.fc.bias is None
    assert torch.equal(big.G.fc(torch.zeros(2, 32)), torch.zeros(2, 32 * 7 * 7))  # all from z
    plain = create_model("cgan", spec, {"z_dim": 16, "width": 32, "embed_dim": 8}, seed=0)
    assert plain.G.fc.bias is not None  # no spectral norm: the weight can keep pace


def test_generator_step_carries_the_orthogonal_penalty_and_d_runs_twice_per_g():
    ds = halves_dataset()
    model = create_model("biggan", ds.spec, COND, seed=0)
    out = model.loss("G", ds.batch(np.arange(8)), torch.Generator().manual_seed(0))
    expected = 1e-4 * orthogonal_penalty(model._regularised()).item()
    assert out.logs["loss/G_reg"].item() == pytest.approx(expected, rel=1e-5)
    assert {p.name: p.interval for p in model.phases()} == {"D": 1, "G": 2}


def test_hierarchical_latent_reaches_every_block_and_the_label_every_norm():
    spec = DataSpec("t", 1, 32, 3)  # 3 up-blocks: z of 12 = 3 for the input + 3 x 3
    model = create_model("biggan", spec, COND, seed=0).eval()
    z = torch.randn(2, 12)
    y = torch.tensor([0, 1])
    base = model.G(z, y)
    for lo in range(0, 12, 3):
        z2 = z.clone()
        z2[:, lo : lo + 3] += 1.0
        assert not torch.allclose(model.G(z2, y), base)
    assert not torch.allclose(model.G(z, y + 1), base)
    with pytest.raises(ConfigError, match="z_dim >= 4"):
        create_model("biggan", spec, {**COND, "z_dim": 3})


def test_truncated_normal_stays_inside_and_has_the_right_spread():
    tau = 0.5
    z = truncated_normal((20000, 4), tau, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert z.abs().max() <= tau
    # variance of N(0, 1) truncated to [-a, a]: 1 - 2 a phi(a) / (2 Phi(a) - 1)
    phi = math.exp(-(tau**2) / 2) / math.sqrt(2 * math.pi)
    big_phi = 0.5 * (1 + math.erf(tau / math.sqrt(2)))
    var = 1 - 2 * tau * phi / (2 * big_phi - 1)
    assert z.var().item() == pytest.approx(var, rel=0.03)
    assert abs(z.mean().item()) < 0.01


def test_truncation_sampling_is_seeded_and_shrinks_variety():
    spec = DataSpec("t", 1, 8, 3)
    model = create_model("biggan", spec, COND, seed=0).eval()
    y = torch.zeros(16, dtype=torch.long)
    a = model.sample(16, generator=torch.Generator().manual_seed(1), labels=y, truncation=0.1)
    b = model.sample(16, generator=torch.Generator().manual_seed(1), labels=y, truncation=0.1)
    torch.testing.assert_close(a, b)
    full = model.sample(16, generator=torch.Generator().manual_seed(1), labels=y)
    assert a.std(0).mean() < 0.5 * full.std(0).mean()
    with pytest.raises(ConfigError, match="truncation"):
        model.sample(2, generator=torch.Generator(), labels=y[:2], truncation=-1.0)
