import numpy as np
import pytest
import torch

from imagegen.data.base import DataSpec
from imagegen.errors import ConfigError
from imagegen.models import create_model
from imagegen.sampling import generate, to_uint8
from tests.conftest import TINY


def test_to_uint8_rounds_and_clamps():
    x = torch.tensor([-1.5, -1.0, 0.0, 1.0, 2.0]).view(1, 1, 1, 5)
    np.testing.assert_array_equal(to_uint8(x)[0, 0, :, 0], [0, 0, 128, 255, 255])


def test_batches_progress_and_labels():
    model = create_model("vae", DataSpec("t", 1, 8, 3), TINY["vae"], conditional=True, seed=0)
    seen = []
    a = generate(
        model, 7, seed=0, batch_size=3, labels=2, progress=lambda d, n: seen.append((d, n))
    )
    assert a.shape == (7, 8, 8, 1) and seen == [(3, 7), (6, 7), (7, 7)]
    b = generate(model, 7, seed=0, batch_size=3, labels=[2] * 7)
    np.testing.assert_array_equal(a, b)
    c = generate(model, 7, seed=0, batch_size=3, labels=0)
    assert not np.array_equal(a, c)  # the label changes the images
    assert model.training  # generate restores the mode it found


def test_balanced_default_labels_for_conditional_models():
    model = create_model("dcgan", DataSpec("t", 1, 8, 3), TINY["dcgan"], conditional=True, seed=0)
    a = generate(model, 6, seed=0)
    b = generate(model, 6, seed=0, labels=[0, 1, 2, 0, 1, 2])
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("n", [0, -1])
def test_bad_n(n):
    model = create_model("vae", DataSpec("t", 1, 8, 0), TINY["vae"])
    with pytest.raises(ConfigError, match="at least 1"):
        generate(model, n)
