import pytest

from imagegen.errors import ConfigError
from imagegen.models import create_model
from tests.conftest import halves_dataset


def test_bad_loss_name():
    ds = halves_dataset()
    with pytest.raises(ConfigError, match="ns, hinge, lsgan, wasserstein"):
        create_model("dcgan", ds.spec, loss="wgan")
