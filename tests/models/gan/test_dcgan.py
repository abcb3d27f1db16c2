import pytest
import torch

from imagegen.errors import ConfigError
from imagegen.models import create_model
from imagegen.models.gan.dcgan import d_loss, g_loss
from tests.conftest import halves_dataset


def test_losses_match_definitions():
    real = torch.tensor([2.0, -1.0])
    fake = torch.tensor([0.5, -3.0])
    sp = torch.nn.functional.softplus
    assert torch.allclose(d_loss("ns", real, fake), sp(-real).mean() + sp(fake).mean())
    assert torch.allclose(d_loss("hinge", real, fake), torch.tensor((0 + 2 + 1.5 + 0) / 2))
    assert torch.allclose(
        d_loss("lsgan", real, fake), 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake**2).mean()
    )
    assert torch.allclose(g_loss("ns", fake), sp(-fake).mean())
    assert torch.allclose(g_loss("hinge", fake), -fake.mean())
    assert torch.allclose(g_loss("lsgan", fake), 0.5 * ((fake - 1) ** 2).mean())


def test_bad_loss_name():
    ds = halves_dataset()
    with pytest.raises(ConfigError, match="ns, hinge, lsgan"):
        create_model("dcgan", ds.spec, loss="wasserstein")
