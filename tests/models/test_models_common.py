"""Contract tests every model must pass (tiny configs, CPU)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from imagegen.data.base import DataSpec
from imagegen.errors import ConfigError
from imagegen.models import MODELS, create_model
from imagegen.sampling import generate
from tests.conftest import TINY, halves_dataset

NAMES = sorted(MODELS)


def _classes(name: str, wanted: int = 0) -> int:
    """Models that only train on labelled data (a CVAE) get 3 classes where a test wants none."""
    return max(wanted, 3) if MODELS[name].needs_labels else wanted


def _labels(model, n: int):
    return torch.arange(n) % model.spec.num_classes if model.conditional else None


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("res,ch", [(8, 1), (28, 1), (32, 3)])
def test_sample_shape_and_range(name, res, ch):
    spec = DataSpec("t", ch, res, 10)
    model = create_model(name, spec, TINY[name], seed=0).eval()
    x = model.sample(3, generator=torch.Generator().manual_seed(0), labels=_labels(model, 3))
    assert x.shape == (3, ch, res, res)
    assert x.dtype == torch.float32
    assert x.min() >= -1 and x.max() <= 1
    assert torch.isfinite(x).all()


@pytest.mark.parametrize("name", NAMES)
def test_one_step_changes_only_phase_params_and_loss_finite(name):
    ds = halves_dataset()
    model = create_model(name, ds.spec, TINY[name], seed=0)
    groups = model.param_groups()
    g = torch.Generator().manual_seed(0)
    batch = ds.batch(np.arange(16))
    for phase in model.phases():
        before = {k: [p.detach().clone() for p in ps] for k, ps in groups.items()}
        opt = torch.optim.Adam(groups[phase.group], lr=1e-3)
        opt.zero_grad()
        out = model.loss(phase.name, batch, g)
        assert out.loss.ndim == 0 and torch.isfinite(out.loss)
        out.loss.backward()
        opt.step()
        for k, ps in groups.items():
            changed = any(not torch.equal(a, b) for a, b in zip(before[k], ps, strict=True))
            assert changed == (k == phase.group), (phase, k)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_samples_and_different_seed_differs(name):
    spec = DataSpec("t", 1, 8, _classes(name))
    model = create_model(name, spec, TINY[name], seed=0)
    a = generate(model, 6, seed=1)
    b = generate(model, 6, seed=1)
    c = generate(model, 6, seed=2)
    assert a.dtype == np.uint8 and a.shape == (6, 8, 8, 1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("name", NAMES)
def test_seeded_init_is_reproducible(name):
    spec = DataSpec("t", 1, 8, _classes(name))
    a = create_model(name, spec, TINY[name], seed=3).state_dict()
    b = create_model(name, spec, TINY[name], seed=3).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("name", NAMES)
def test_conditional_needs_labels(name):
    spec = DataSpec("t", 1, 8, 3)
    model = create_model(name, spec, TINY[name], conditional=True, seed=0)
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ConfigError, match="label"):
        model.sample(2, generator=g)
    with pytest.raises(ConfigError, match="out of range"):
        model.sample(2, generator=g, labels=torch.tensor([0, 3]))
    x = model.sample(2, generator=g, labels=torch.tensor([0, 2]))
    assert x.shape == (2, 1, 8, 8)
    unlabelled = DataSpec("u", 1, 8, 0)
    with pytest.raises(ConfigError, match="labelled dataset"):
        create_model(name, unlabelled, TINY[name], conditional=True)


@pytest.mark.parametrize("name", NAMES)
def test_unknown_config_key_is_rejected(name):
    with pytest.raises(ConfigError, match="valid keys"):
        create_model(name, DataSpec("t", 1, 8, _classes(name)), {"no_such_key": 1})


def test_unknown_model_name():
    with pytest.raises(ConfigError, match="choose one of"):
        create_model("gan9000", DataSpec("t", 1, 8, 0))
