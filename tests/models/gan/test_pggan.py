import numpy as np
import pytest
import torch
import torch.nn.functional as F

from imagegen.data.base import DataSpec
from imagegen.errors import ConfigError
from imagegen.models import create_model
from imagegen.models.gan.pggan import schedule
from imagegen.models.layers.equalized import minibatch_stddev
from tests.conftest import TINY, halves_dataset

SPEC = DataSpec("t", 1, 16, 0)  # levels 4x4, 8x8, 16x16


def test_schedule_gives_equal_shares_and_fades_each_new_level_in():
    assert schedule(0.0, 3, 0.5) == (0, 1.0)
    assert schedule(0.3, 3, 0.5) == (0, 1.0)
    level, alpha = schedule(0.4, 3, 0.5)  # 0.2 into level 1's share of 1/3
    assert level == 1 and alpha == pytest.approx(0.4)
    assert schedule(0.6, 3, 0.5) == (1, 1.0)
    assert schedule(0.999, 3, 0.5)[0] == 2 and schedule(1.0, 3, 0.5) == (2, 1.0)


def test_a_final_share_gives_the_full_resolution_that_much_of_the_budget():
    # final 0.6: levels 0 and 1 get 0.2 each, level 2 starts at 0.4 and fades in until 0.7
    assert schedule(0.19, 3, 0.5, 0.6) == (0, 1.0)
    level, alpha = schedule(0.25, 3, 0.5, 0.6)
    assert level == 1 and alpha == pytest.approx(0.5)
    level, alpha = schedule(0.55, 3, 0.5, 0.6)
    assert level == 2 and alpha == pytest.approx(0.5)
    assert schedule(0.71, 3, 0.5, 0.6) == (2, 1.0)
    assert schedule(0.5, 1, 0.5, 0.6) == (0, 1.0)
    with pytest.raises(ConfigError, match="final_share"):
        create_model("pggan", SPEC, {**TINY["pggan"], "final_share": 1.0}, seed=0)


def test_generator_fade_in_blends_the_upsampled_old_image_with_the_new_one():
    model = create_model("pggan", SPEC, TINY["pggan"], seed=0).eval()
    z = torch.randn(3, 8)
    g = model.G
    old = F.interpolate(g(z, None, 0, 1.0), scale_factor=2, mode="nearest")
    new = g(z, None, 1, 1.0)
    assert new.shape == (3, 1, 8, 8)
    torch.testing.assert_close(g(z, None, 1, 0.0), old)
    torch.testing.assert_close(g(z, None, 1, 0.3), 0.7 * old + 0.3 * new)


def test_discriminator_fade_in_and_real_images_follow_the_same_blend():
    model = create_model("pggan", SPEC, TINY["pggan"], seed=0).eval()
    x = torch.randn(4, 1, 8, 8)
    d = model.D
    torch.testing.assert_close(d(x, None, 1, 0.0), d(F.avg_pool2d(x, 2), None, 0, 1.0))
    assert not torch.allclose(d(x, None, 1, 0.5), d(x, None, 1, 0.0))
    model.begin_step(0, 0.4)  # level 1 (8x8), alpha 0.4
    assert model.resolution() == 8
    full = torch.randn(4, 1, 16, 16)
    x8 = F.avg_pool2d(full, 2)
    coarse = F.interpolate(F.avg_pool2d(x8, 2), scale_factor=2, mode="nearest")
    torch.testing.assert_close(model.real_at_level(full), 0.6 * coarse + 0.4 * x8)
    # samples come out at full size, upsampled from the current level
    s = model.sample(2, generator=torch.Generator().manual_seed(0))
    assert s.shape == (2, 1, 16, 16)
    torch.testing.assert_close(s[:, :, ::2, ::2], s[:, :, 1::2, 1::2])


def test_a_checkpoint_remembers_its_level():
    model = create_model("pggan", SPEC, TINY["pggan"], seed=0)
    assert int(model.level) == 2 and float(model.alpha) == 1.0  # fresh: full resolution
    model.begin_step(0, 0.0)
    state = model.state_dict()
    other = create_model("pggan", SPEC, TINY["pggan"], seed=1)
    other.load_state_dict(state)
    assert int(other.level) == 0 and other.resolution() == 4


def test_minibatch_stddev_appends_the_group_spread():
    x = torch.zeros(4, 2, 3, 3)
    x[1] = 2.0  # group of 4: per-feature std over the group = sqrt(var([0, 2, 0, 0])) = sqrt(0.75)
    out = minibatch_stddev(x, group=4)
    assert out.shape == (4, 3, 3, 3)
    torch.testing.assert_close(out[:, 2], torch.full((4, 3, 3), 0.75**0.5), atol=1e-4, rtol=0)


def test_drift_term_joins_the_discriminator_loss():
    ds = halves_dataset(resolution=16)
    model = create_model("pggan", ds.spec, TINY["pggan"], seed=0)
    out = model.loss("D", ds.batch(np.arange(8)), torch.Generator().manual_seed(0))
    assert out.logs["loss/D_reg"] > 0 and out.logs["loss/gp"] >= 0


def test_discriminator_layers_keep_the_feature_scale_with_hes_gain():
    # Equalised layers divide by sqrt(fan_in); the leaky ReLU's sqrt(2) gain restores He's
    # constant. Without it each layer halves the power: the features reaching D's dense layer had
    # a mean square of about 0.004 at init here (with it 0.14-0.36: only the pools shrink them).
    model = create_model("pggan", SPEC, TINY["pggan"], seed=0)
    seen = []
    hook = model.D.fc.register_forward_hook(lambda m, args, out: seen.append(args[0]))
    x = torch.randn(256, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        model.D(x, None, 2, 1.0)
    hook.remove()
    assert 0.05 < seen[0].pow(2).mean().item() < 5.0


def test_min_width_floors_the_channels_of_the_high_resolutions():
    cfg = {**TINY["pggan"], "width": 64}
    halving = create_model("pggan", SPEC, {**cfg, "min_width": 16}, seed=0)
    floored = create_model("pggan", SPEC, {**cfg, "min_width": 32}, seed=0)
    # 4x4 keeps the width; 8x8 and 16x16 halve to 32 and 16, or stop at the floor of 32
    assert [c.weight.shape[1] for c in halving.G.to_rgb] == [64, 32, 16]
    assert [c.weight.shape[1] for c in floored.G.to_rgb] == [64, 32, 32]
    assert [c.weight.shape[0] for c in floored.D.from_rgb] == [64, 32, 32]
    img = floored.G(torch.randn(2, cfg["z_dim"]), None, 2, 1.0)
    assert img.shape == (2, 1, 16, 16) and floored.D(img, None, 2, 1.0).shape == (2,)
    with pytest.raises(ConfigError, match="min_width"):
        create_model("pggan", SPEC, {**cfg, "min_width": 128}, seed=0)
