import numpy as np
import pytest
import torch
from torch import nn

from imagegen.data.base import DataSpec
from imagegen.errors import ConfigError
from imagegen.models import create_model
from tests.conftest import TINY, halves_dataset


@pytest.mark.parametrize("arch", ["resnet", "dcgan"])
def test_critic_steps_per_generator_step_and_no_batch_norm_in_the_critic(arch):
    spec = DataSpec("t", 1, 16, 0)  # 4x4 -> 16x16: two strided blocks in the dcgan critic
    model = create_model("wgan_gp", spec, {**TINY["wgan_gp"], "arch": arch}, seed=0)
    phases = {p.name: p for p in model.phases()}
    assert phases["D"].interval == 1 and phases["G"].interval == 5  # n_critic = 5
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.D.modules())
    assert any(isinstance(m, nn.GroupNorm) and m.num_groups == 1 for m in model.D.modules())
    # each image's critic value depends on that image alone, in training mode too
    x = torch.randn(4, 1, 16, 16)
    model.train()
    alone = model.D(x[:1], None)
    with_others = model.D(torch.cat([x[:1], -x[1:]]), None)[:1]
    torch.testing.assert_close(alone, with_others)


def test_critic_loss_is_the_wasserstein_estimate_plus_lambda_times_the_penalty():
    ds = halves_dataset()
    batch = ds.batch(np.arange(16))
    losses = {}
    for lam in (0.0, 10.0):
        model = create_model("wgan_gp", ds.spec, {**TINY["wgan_gp"], "gp_weight": lam}, seed=0)
        out = model.loss("D", batch, torch.Generator().manual_seed(0))
        losses[lam] = out
        w = out.logs["D(G(z))"] - out.logs["D(x)"]  # E[D(G(z))] - E[D(x)]
        gp = out.logs.get("loss/gp", torch.tensor(0.0))
        torch.testing.assert_close(out.loss.detach(), w + lam * gp)
    assert losses[10.0].logs["loss/gp"] > 0


def test_penalty_gradient_reaches_the_critic_and_the_generator_step_leaves_it():
    ds = halves_dataset()
    model = create_model("wgan_gp", ds.spec, TINY["wgan_gp"], seed=0)
    batch = ds.batch(np.arange(16))
    model.loss("D", batch, torch.Generator().manual_seed(0)).loss.backward()
    assert all(p.grad is None for p in model.G.parameters())
    assert all(p.grad is not None for p in model.D.parameters() if p.requires_grad)


def test_bad_critic_norm_names_the_choices():
    ds = halves_dataset()
    with pytest.raises(ConfigError, match="layer, none"):
        create_model("wgan_gp", ds.spec, critic_norm="batch")
