"""Autoguidance: a weaker model of the same kind replaces the null condition,
f_w = f_guide + w (f - f_guide), for unconditional models too."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from imagegen.data import load_dataset
from imagegen.data.base import DataSpec
from imagegen.errors import ConfigError, RunError
from imagegen.models import create_model
from imagegen.sampling import create_ldm, load_run
from imagegen.training import train
from tests.cli.test_cli import run_cli
from tests.conftest import TINY
from tests.models.diffusion.spies import record_labels

SPEC = DataSpec("t", 1, 8, 3)


def _model(seed=0, **over):
    return create_model("ddpm", SPEC, {**TINY["ddpm"], **over}, seed=seed).eval()


def _draw(model, **options):
    return model.sample(3, generator=torch.Generator().manual_seed(1), **options)


def test_autoguidance_mixes_the_two_predictions_linearly():
    model, guide = _model(), _model(seed=1)
    x_t, t = torch.randn(4, 1, 8, 8), torch.tensor([3, 50, 99, 10])
    with torch.no_grad():
        f, g = model.predict(x_t, t), guide.predict(x_t, t)
        assert not torch.allclose(f, g)
        assert torch.equal(model.autoguided(guide, x_t, t, None, 1.0), f)
        torch.testing.assert_close(model.autoguided(guide, x_t, t, None, 0.0), g)
        torch.testing.assert_close(model.autoguided(guide, x_t, t, None, 2.5), g + 2.5 * (f - g))


def test_an_unconditional_model_samples_with_a_guide():
    model, guide = _model(), _model(seed=1)
    guided = _draw(model, guide=guide, guidance=2.0)
    assert torch.equal(guided, _draw(model, guide=guide, guidance=2.0))  # deterministic
    assert not torch.allclose(guided, _draw(model))
    # a guide that predicts what the model predicts leaves the samples as they were
    twin = _model()
    torch.testing.assert_close(_draw(model, guide=twin, guidance=3.0), _draw(model))


def test_a_conditional_guide_sees_the_same_labels():
    model = _model(conditional=True)
    guide = _model(seed=1, conditional=True)
    y, x_t = torch.tensor([0, 2]), torch.randn(2, 1, 8, 8)
    seen = record_labels(guide)
    fn = model.model_fn(2, y, 1.5, guide=guide)
    with torch.no_grad():
        fn(x_t, torch.tensor(40))
    assert torch.equal(seen[0], y)  # no null class: the model was trained without dropout


def test_an_unconditional_guide_sees_the_null_class_and_mixes_linearly():
    model = _model(conditional=True, label_dropout=0.1)
    guide = _model(seed=1, conditional=True, label_dropout=0.1)
    y, x_t, t = torch.tensor([0, 2]), torch.randn(2, 1, 8, 8), torch.tensor([40, 7])
    null = guide.null_labels(2, y.device)
    with torch.no_grad():
        f, g_null = model.predict(x_t, t, y), guide.predict(x_t, t, null)
        assert not torch.allclose(g_null, guide.predict(x_t, t, y))
        out = model.autoguided(guide, x_t, t, y, 2.5, unconditional=True)
        torch.testing.assert_close(out, g_null + 2.5 * (f - g_null))
    seen = record_labels(guide)
    fn = model.model_fn(2, y, 1.5, guide=guide, guide_unconditional=True)
    with torch.no_grad():
        fn(x_t, torch.tensor(40))
    assert torch.equal(seen[0], null)  # the guide's ∅, the model keeps its labels
    # a guide that is the model itself gives classifier-free guidance (up to batching)
    twin, labels = _model(conditional=True, label_dropout=0.1), torch.tensor([0, 2, 1])
    cfg = _draw(model, labels=labels, guidance=2.0)
    by_twin = _draw(model, labels=labels, guide=twin, guide_unconditional=True, guidance=2.0)
    torch.testing.assert_close(by_twin, cfg, atol=1e-5, rtol=0)
    assert not torch.allclose(_draw(model, labels=labels, guide=twin, guidance=2.0), cfg)


def test_bad_guides_and_scales_are_refused():
    model = _model()
    with pytest.raises(ConfigError, match="guidance 1 is the model alone"):
        _draw(model, guide=_model(seed=1))
    with pytest.raises(ConfigError, match="prediction"):
        _draw(model, guide=_model(prediction="v"), guidance=2.0)
    with pytest.raises(ConfigError, match="conditional"):
        _draw(model, guide=_model(conditional=True), guidance=2.0)
    other = create_model("ddpm", DataSpec("t", 1, 16, 3), TINY["ddpm"], seed=0)
    with pytest.raises(ConfigError, match="shape"):
        _draw(model, guide=other, guidance=2.0)
    vae = create_model("vae", SPEC, TINY["vae"], seed=0)
    with pytest.raises(ConfigError, match="guide is a 'vae' model"):
        _draw(model, guide=vae, guidance=2.0)
    with pytest.raises(ConfigError, match="or a guide run"):
        _draw(model, guidance=2.0)  # unconditional and no guide: nothing to guide by
    with pytest.raises(ConfigError, match="give a guide run"):
        _draw(model, guidance=2.0, guide_unconditional=True)
    cond = _model(conditional=True)
    with pytest.raises(ConfigError, match="no unconditional prediction"):
        _draw(
            cond,
            labels=torch.tensor([0, 1, 2]),
            guide=_model(seed=1, conditional=True),
            guidance=2.0,
            guide_unconditional=True,
        )


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny ddpm run on digits with a checkpoint at step 2 and one at step 4."""
    digits = load_dataset("digits", split="train")
    out = tmp_path_factory.mktemp("ag") / "run"
    model = create_model("ddpm", digits.spec, TINY["ddpm"], seed=0)
    train(model, digits, out, steps=4, batch_size=8, sample_every=0, ckpt_every=2, keep_last=4)
    return digits, out


def test_a_checkpoint_folder_guides_its_own_run_from_python_and_the_cli(runs, tmp_path, capsys):
    _, out = runs
    early = out / "checkpoints" / "step_0000002"
    assert load_run(early).step == 2  # a checkpoint folder loads like RUN + checkpoint=
    r = load_run(out)
    assert r.step == 4
    plain = r.sample(4, seed=3, steps=3)
    guided = r.sample(4, seed=3, steps=3, guide=str(early), guidance=2.0)
    by_model = r.sample(4, seed=3, steps=3, guide=load_run(early).model, guidance=2.0)
    assert np.array_equal(guided, by_model)
    assert not np.array_equal(guided, plain)
    npz = tmp_path / "s.npz"
    code, _, err = run_cli(
        capsys, "sample", str(out), "--n", "4", "--seed", "3", "--steps", "3",
        "--guide", str(early), "--guidance", "2", "--out", str(npz),
    )  # fmt: skip
    assert code == 0, err
    assert np.array_equal(np.load(npz)["x"], guided)
    code, _, err = run_cli(capsys, "sample", str(out), "--n", "2", "--guide", str(early))
    assert code != 0 and "guidance 1 is the model alone" in err
    code, _, err = run_cli(
        capsys, "sample", str(out), "--n", "2", "--guide", str(early), "--guidance", "2",
        "--guide-unconditional",
    )  # fmt: skip
    assert code != 0 and "no unconditional prediction" in err  # trained without label dropout


def test_an_ldm_guide_must_diffuse_the_same_latents(tmp_path):
    digits = load_dataset("digits", split="train")
    ae = create_model("vae", digits.spec, TINY["vae"], seed=0)
    ae_run = tmp_path / "vae"
    train(ae, digits, ae_run, steps=1, batch_size=8, sample_every=0)
    unet = {k: TINY["ldm"][k] for k in ("channels", "attention", "timesteps", "sample_steps")}
    model = create_ldm(ae_run, digits.spec, unet).eval()
    guide = create_ldm(ae_run, digits.spec, unet, seed=1).eval()
    batch = digits.batch(np.arange(16))
    model.diffused(batch)  # measures the latent scale s
    with pytest.raises(ConfigError, match="latent scale"):
        model.sample(2, generator=torch.Generator().manual_seed(0), guide=guide, guidance=2.0)
    guide.diffused(batch)
    out = model.sample(2, generator=torch.Generator().manual_seed(0), guide=guide, guidance=2.0)
    assert (
        out.shape == (2, 1, digits.spec.resolution, digits.spec.resolution)
        and torch.isfinite(out).all()
    )


def test_a_runs_guide_at_makes_its_own_checkpoint_the_default_guide(tmp_path, capsys):
    """model.guide_at = 0.6 of a 6-step run with checkpoints at 2, 4, 6: step 4 guides by its
    null-label prediction unless a guide is given; --guide none samples without it."""
    digits = load_dataset("digits", split="train")
    out = tmp_path / "run"
    cfg = {**TINY["ddpm"], "conditional": True, "label_dropout": 0.2, "guide_at": 0.6}
    model = create_model("ddpm", digits.spec, cfg, seed=0)
    train(model, digits, out, steps=6, batch_size=8, sample_every=0, ckpt_every=2, keep_last=4)
    r = load_run(out)
    four = out / "checkpoints" / "step_0000004"
    assert r.sampling_options({"steps": 3}) == {
        "steps": 3,
        "guide": str(four),
        "guide_unconditional": True,
    }
    assert r.sampling_options({"guide": "none", "guide_unconditional": True}) == {}
    by_default = r.sample(4, seed=3, steps=3, guidance=2.0)
    explicit = r.sample(4, seed=3, steps=3, guidance=2.0, guide=str(four), guide_unconditional=True)
    cfg_only = r.sample(4, seed=3, steps=3, guidance=2.0, guide="none")
    assert np.array_equal(by_default, explicit)
    assert not np.array_equal(by_default, cfg_only)
    npz = tmp_path / "s.npz"
    code, _, err = run_cli(
        capsys, "sample", str(out), "--n", "4", "--seed", "3", "--steps", "3",
        "--guidance", "2", "--guide", "none", "--out", str(npz),
    )  # fmt: skip
    assert code == 0, err
    assert np.array_equal(np.load(npz)["x"], cfg_only)
    with pytest.raises(RunError, match="keeps no checkpoint before step 2"):
        load_run(out, checkpoint="step_0000002").sample(2, seed=0, steps=2)
    with pytest.raises(ConfigError, match="guide_at"):
        create_model("ddpm", digits.spec, {**cfg, "guide_at": 1.0})


def test_a_runs_guide_run_makes_a_separately_trained_run_the_default_guide(tmp_path, monkeypatch):
    """model.guide_run names a smaller run trained on its own: it guides by its null-label
    prediction unless a guide is given; a missing folder is a one-line error naming the fix,
    and guide_run with guide_at is refused."""
    monkeypatch.chdir(tmp_path)  # guide_run is read from the current directory, as given
    digits = load_dataset("digits", split="train")
    base = {**TINY["ddpm"], "conditional": True, "label_dropout": 0.2}
    small = create_model("ddpm", digits.spec, {**base, "attention": (False, False)}, seed=1)
    train(small, digits, "guide", steps=2, batch_size=8, sample_every=0)
    model = create_model("ddpm", digits.spec, {**base, "guide_run": "guide"}, seed=0)
    train(model, digits, "run", steps=2, batch_size=8, sample_every=0)
    r = load_run("run")
    assert r.sampling_options({"steps": 3}) == {
        "steps": 3,
        "guide": "guide",
        "guide_unconditional": True,
    }
    by_default = r.sample(4, seed=3, steps=3, guidance=2.0)
    explicit = r.sample(4, seed=3, steps=3, guidance=2.0, guide="guide", guide_unconditional=True)
    cfg_only = r.sample(4, seed=3, steps=3, guidance=2.0, guide="none")
    assert np.array_equal(by_default, explicit)
    assert not np.array_equal(by_default, cfg_only)
    (tmp_path / "guide").rename(tmp_path / "moved")
    with pytest.raises(RunError, match="model.guide_run='guide'.*--guide none"):
        r.sample(2, seed=0, steps=2)
    moved = r.sample(2, seed=0, steps=2, guidance=2.0, guide="moved", guide_unconditional=True)
    assert moved.shape[0] == 2
    with pytest.raises(ConfigError, match="guide_at=0.3 and guide_run"):
        create_model("ddpm", digits.spec, {**base, "guide_run": "guide", "guide_at": 0.3})
