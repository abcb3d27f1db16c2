import numpy as np
import pytest
import torch

from imagegen.data.base import DataSpec
from imagegen.errors import ConfigError
from imagegen.models import create_model
from tests.conftest import TINY, halves_dataset


def test_add_noise_matches_closed_form():
    model = create_model("ddpm", DataSpec("t", 1, 8, 0), TINY["ddpm"], seed=0)
    sched = model.noise_scheduler
    betas = torch.linspace(
        1e-4, 0.02, 100, dtype=torch.float64
    )  # diffusers' linear schedule, T=100
    alpha_bar = torch.cumprod(1 - betas, 0)
    assert torch.allclose(sched.alphas_cumprod.double(), alpha_bar, atol=1e-6)
    x0 = torch.rand(2, 1, 8, 8) * 2 - 1
    eps = torch.randn(2, 1, 8, 8)
    t = torch.tensor([3, 77])
    x_t = sched.add_noise(x0, eps, t)
    ab = alpha_bar[t].float().view(-1, 1, 1, 1)
    assert torch.allclose(x_t, ab.sqrt() * x0 + (1 - ab).sqrt() * eps, atol=1e-5)
    # analytic x_0 recovery from the true noise
    assert torch.allclose((x_t - (1 - ab).sqrt() * eps) / ab.sqrt(), x0, atol=1e-4)


def test_ddim_is_deterministic_and_ddpm_depends_on_noise():
    model = create_model("ddpm", DataSpec("t", 1, 8, 0), TINY["ddpm"], seed=0).eval()
    a = model.sample(2, generator=torch.Generator().manual_seed(5), sampler="ddim", steps=4)
    b = model.sample(2, generator=torch.Generator().manual_seed(5), sampler="ddim", steps=4)
    assert torch.equal(a, b)
    c = model.sample(2, generator=torch.Generator().manual_seed(5), sampler="ddpm", steps=4)
    assert c.shape == a.shape and not torch.equal(a, c)


def _alpha_bar(T: int = 100) -> torch.Tensor:
    return torch.cumprod(1 - torch.linspace(1e-4, 0.02, T, dtype=torch.float64), 0)


def test_v_and_sample_targets_match_their_definitions():
    spec = DataSpec("t", 1, 8, 0)
    x0 = torch.rand(3, 1, 8, 8) * 2 - 1
    eps = torch.randn(3, 1, 8, 8)
    t = torch.tensor([0, 40, 99])
    ab = _alpha_bar()[t].float().view(-1, 1, 1, 1)
    v_model = create_model("ddpm", spec, {**TINY["ddpm"], "prediction": "v"}, seed=0)
    # v = sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) x_0 (Salimans & Ho 2022)
    assert torch.allclose(
        v_model.target(x0, eps, t), ab.sqrt() * eps - (1 - ab).sqrt() * x0, atol=1e-5
    )
    x0_model = create_model("ddpm", spec, {**TINY["ddpm"], "prediction": "sample"}, seed=0)
    assert torch.equal(x0_model.target(x0, eps, t), x0)


@pytest.mark.parametrize("prediction", ["epsilon", "v", "sample"])
def test_min_snr_weights_x0_errors_alike_for_every_prediction(prediction):
    """Min-SNR-gamma (Hang et al. 2023) in x_0 terms is min(SNR, gamma) whatever is predicted."""
    cfg = {**TINY["ddpm"], "prediction": prediction, "loss_weighting": "min_snr", "snr_gamma": 5}
    model = create_model("ddpm", DataSpec("t", 1, 8, 0), cfg, seed=0)
    t = torch.arange(100)
    ab = _alpha_bar()
    snr = ab / (1 - ab)
    w = model.loss_weight(t).double()
    # Squared x_0 error = squared eps error / SNR = squared v error / (SNR + 1).
    to_x0 = {"epsilon": 1 / snr, "v": 1 / (snr + 1), "sample": torch.ones_like(snr)}[prediction]
    # float32 alpha_bar near 1 leaves 1 - alpha_bar with ~1e-3 relative error
    assert torch.allclose(w / to_x0, snr.clamp(max=5), rtol=5e-3)
    cap = 5.0 if prediction == "sample" else 1.0
    assert w.max() <= cap + 1e-4


def test_uniform_weighting_is_the_simple_loss():
    model = create_model("ddpm", DataSpec("t", 1, 8, 0), TINY["ddpm"], seed=0)
    assert torch.equal(model.loss_weight(torch.tensor([0, 50, 99])), torch.ones(3))


def test_lognormal_t_sampling_draws_ln_sigma_from_the_normal_it_names():
    """t is the step whose sigma_t = sqrt((1 - alpha_bar_t) / alpha_bar_t) is next above the draw."""
    cfg = {
        **TINY["ddpm"],
        "timesteps": 1000,
        "t_sampling": "lognormal",
        "p_mean": -0.5,
        "p_std": 0.7,
    }
    model = create_model("ddpm", DataSpec("t", 1, 8, 0), cfg, seed=0)
    t = model.sample_t(200_000, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert t.dtype == torch.int64 and t.min() >= 0 and t.max() <= 999
    ab = torch.cumprod(1 - torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64), 0)
    ln_sigma = (0.5 * ((1 - ab) / ab).log())[t]
    # adjacent steps differ by < 0.02 in ln sigma where this normal has its mass
    assert abs(ln_sigma.mean().item() - (-0.5)) < 0.02
    assert abs(ln_sigma.std().item() - 0.7) < 0.02
    uniform = create_model(
        "ddpm", DataSpec("t", 1, 8, 0), {**TINY["ddpm"], "timesteps": 1000}, seed=0
    )
    t_u = uniform.sample_t(200_000, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert abs(t_u.double().mean().item() - 499.5) < 3
    with pytest.raises(ConfigError, match="t_sampling"):
        create_model("ddpm", DataSpec("t", 1, 8, 0), {**TINY["ddpm"], "t_sampling": "beta"})


def test_p_uniform_mixes_uniform_steps_into_the_lognormal_draws():
    """A share p_uniform of t is uniform over [0, T); the rest keeps the lognormal's law."""
    cfg = {**TINY["ddpm"], "timesteps": 1000, "t_sampling": "lognormal"}
    spec, g = DataSpec("t", 1, 8, 0), torch.Generator
    pure = create_model("ddpm", spec, cfg, seed=0).sample_t(200_000, g().manual_seed(0), "cpu")
    mixed = create_model("ddpm", spec, {**cfg, "p_uniform": 0.25}, seed=0)
    t = mixed.sample_t(200_000, g().manual_seed(0), torch.device("cpu"))
    # P(t >= 600) = 0.75 P_lognormal(t >= 600) + 0.25 * 0.4
    expected = 0.75 * (pure >= 600).double().mean().item() + 0.25 * 0.4
    assert abs((t >= 600).double().mean().item() - expected) < 0.005
    assert (pure >= 600).double().mean().item() < 0.02  # the lognormal alone rarely goes there
    with pytest.raises(ConfigError, match="p_uniform"):
        create_model("ddpm", spec, {**cfg, "p_uniform": 1.5})


@pytest.mark.parametrize("prediction", ["epsilon", "v", "sample"])
def test_every_sampler_runs_for_every_prediction(prediction):
    cfg = {**TINY["ddpm"], "prediction": prediction}
    model = create_model("ddpm", DataSpec("t", 1, 8, 0), cfg, seed=0).eval()
    for sampler in ("ddpm", "ddim", "dpm", "dpm_sde"):
        x = model.sample(3, generator=torch.Generator().manual_seed(0), sampler=sampler, steps=4)
        assert x.shape == (3, 1, 8, 8) and torch.isfinite(x).all()
        assert x.min() >= -1 and x.max() <= 1


def test_dpm_solver_is_deterministic():
    model = create_model("ddpm", DataSpec("t", 1, 8, 0), TINY["ddpm"], seed=0).eval()
    a = model.sample(2, generator=torch.Generator().manual_seed(1), sampler="dpm", steps=5)
    b = model.sample(2, generator=torch.Generator().manual_seed(1), sampler="dpm", steps=5)
    assert torch.equal(a, b)


def test_dpm_sde_draws_fresh_noise_each_step_from_the_seed():
    """SDE-DPM-Solver++ is stochastic: one seed repeats its samples exactly; the same x_T with
    other step noise (another seed, after x_T is drawn) lands elsewhere, which the ODE form never
    does."""
    from imagegen.models.diffusion.sampler import make_scheduler, run_sampler

    model = create_model("ddpm", DataSpec("t", 1, 8, 0), TINY["ddpm"], seed=0).eval()
    a = model.sample(2, generator=torch.Generator().manual_seed(1), sampler="dpm_sde", steps=5)
    b = model.sample(2, generator=torch.Generator().manual_seed(1), sampler="dpm_sde", steps=5)
    assert torch.equal(a, b)
    x_T = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    fn = lambda x, t: torch.zeros_like(x)  # noqa: E731
    out = {}
    for kind in ("dpm", "dpm_sde"):
        for seed in (0, 1):
            sched = make_scheduler(kind, "linear", 100, spacing="karras")
            g = torch.Generator().manual_seed(seed)
            out[kind, seed] = run_sampler(fn, sched, x_T.shape, 5, g, "cpu", x_T=x_T)
    assert torch.equal(out["dpm", 0], out["dpm", 1])
    assert (out["dpm_sde", 0] - out["dpm_sde", 1]).abs().max() > 1e-3


def test_unknown_prediction_and_sampler_are_config_errors():
    spec = DataSpec("t", 1, 8, 0)
    with pytest.raises(ConfigError, match="prediction"):
        create_model("ddpm", spec, {**TINY["ddpm"], "prediction": "noise"})
    model = create_model("ddpm", spec, TINY["ddpm"], seed=0)
    with pytest.raises(ConfigError, match="sampler"):
        model.sample(1, generator=torch.Generator(), sampler="euler")


@pytest.mark.parametrize("kind", ["ddpm", "dpm"])
def test_samplers_clip_their_x0_estimate_to_the_data_range(kind):
    # (DDIM does not: diffusers keeps its eps term from the unclipped x_0, which hurt FID.)
    from imagegen.models.diffusion.sampler import make_scheduler

    steps = []
    for x0 in (1.0, 3.0):  # an x_0 prediction beyond [-1, 1] acts as 1
        s = make_scheduler(kind, "linear", 100, prediction="sample")
        s.set_timesteps(4)
        x_t = torch.zeros(1, 1, 2, 2)
        g = torch.Generator().manual_seed(0)
        out = s.step(torch.full_like(x_t, x0), s.timesteps[0], x_t, generator=g)
        steps.append(out.prev_sample)
    assert torch.allclose(steps[0], steps[1])
    assert steps[0].abs().max() > 0


@pytest.mark.parametrize(
    "kind,spacing", [("ddim", "trailing"), ("dpm", "trailing"), ("dpm", "karras")]
)
def test_deterministic_samplers_land_on_the_data_with_an_exact_denoiser(kind, spacing):
    # One data point x0*: the exact eps at x_t is (x_t - sqrt(ab_t) x0*) / sqrt(1 - ab_t), so a
    # deterministic sampler must end on x0* itself, not on a slightly noised x0* (DDIM's last step
    # must go to alpha_bar = 1).
    from imagegen.models.diffusion.sampler import make_scheduler, run_sampler

    s = make_scheduler(kind, "linear", 1000, spacing=spacing)
    ab = s.alphas_cumprod
    x0 = torch.linspace(-0.9, 0.9, 16).reshape(1, 1, 4, 4)

    def eps(x_t, t):
        a = ab[int(t)]
        return (x_t - a.sqrt() * x0) / (1 - a).sqrt()

    g = torch.Generator().manual_seed(0)
    out = run_sampler(eps, s, (1, 1, 4, 4), 10, g, torch.device("cpu"))
    assert torch.allclose(out, x0, atol=1e-4)


def test_karras_spacing_puts_the_dpm_steps_at_lower_noise():
    """Karras et al. 2022 Eq. 5 (rho = 7): evenly in sigma^(1/7), so for T=1000 linear betas the
    last steps reach t ~ 0 where trailing spacing stops at t = 99."""
    model = create_model(
        "ddpm", DataSpec("t", 1, 8, 0), {**TINY["ddpm"], "timesteps": 1000}, seed=0
    )
    from imagegen.models.diffusion.sampler import make_scheduler

    steps = {}
    for spacing in ("trailing", "karras"):
        s = make_scheduler("dpm", "linear", 1000, spacing=spacing)
        s.set_timesteps(10)
        steps[spacing] = s.timesteps.tolist()
    assert steps["trailing"][0] == 999 and steps["karras"][0] == 999
    assert steps["trailing"][-1] == 99 and steps["karras"][-1] < 5 and steps["karras"][-2] < 50
    a = model.sample(2, generator=torch.Generator().manual_seed(0), sampler="dpm", steps=4)
    b = model.sample(
        2, generator=torch.Generator().manual_seed(0), sampler="dpm", steps=4, spacing="karras"
    )
    assert a.shape == b.shape and not torch.equal(a, b)
    with pytest.raises(ConfigError, match="spacing"):
        model.sample(1, generator=torch.Generator(), spacing="uniform")


@pytest.mark.parametrize(
    "kind,steps,spacing",
    [
        ("ddpm", 1000, "trailing"),
        ("ddim", 500, "trailing"),
        ("dpm", 100, "trailing"),
        ("dpm", 50, "karras"),
        ("dpm_sde", 100, "karras"),
    ],
)
def test_every_sampler_matches_a_gaussian_with_its_exact_noise_predictor(kind, steps, spacing):
    # Data x_0 ~ N(mu, s^2) per pixel: then x_t ~ N(sqrt(ab) mu, ab s^2 + 1 - ab) and the exact
    # eps predictor is E[eps | x_t] = sqrt(1 - ab) (x_t - sqrt(ab) mu) / (ab s^2 + 1 - ab).
    # Every sampler converges to N(mu, s^2) as steps grow; with few trailing steps the last jump
    # (t = 19 -> 0 at 50 steps) loses spread: the std comes out 13% low for DDIM at 50 steps,
    # 25% for DPM-Solver++ at 20, and 20% for ancestral sampling at 50 (whose fixed posterior
    # variance also ignores the spread of x_0 given x_t). Karras spacing ends with small steps.
    # The SDE form of DPM-Solver++ needs more steps than the ODE form (1.2% wide at 100).
    from imagegen.models.diffusion.sampler import make_scheduler, run_sampler

    mu, s = 0.3, 0.2
    sched = make_scheduler(kind, "linear", 1000, spacing=spacing)
    ab = sched.alphas_cumprod.double()

    def eps(x_t, t):
        a = ab[int(t)]
        return ((1 - a).sqrt() * (x_t - a.sqrt() * mu) / (a * s**2 + 1 - a)).float()

    x = run_sampler(eps, sched, (4000, 1, 2, 2), steps, torch.Generator().manual_seed(0), "cpu")
    assert abs(x.mean().item() - mu) < 0.01
    assert abs(x.std().item() / s - 1) < 0.03


@pytest.mark.parametrize("prediction", ["epsilon", "v", "sample"])
def test_predicted_x0_inverts_each_target(prediction):
    from imagegen.models.diffusion.sampler import predicted_x0

    model = create_model(
        "ddpm", DataSpec("t", 1, 8, 0), {**TINY["ddpm"], "prediction": prediction}, seed=0
    )
    x0, eps, t = torch.rand(1, 1, 8, 8) * 2 - 1, torch.randn(1, 1, 8, 8), torch.tensor([60])
    x_t = model.noise_scheduler.add_noise(x0, eps, t)
    ab = model.noise_scheduler.alphas_cumprod[60]
    got = predicted_x0(model.target(x0, eps, t), x_t, ab, prediction)
    torch.testing.assert_close(got, x0, atol=1e-4, rtol=1e-4)


def test_bf16_sampling_is_close_to_fp32_and_checked():
    model = create_model("ddpm", DataSpec("t", 1, 8, 0), TINY["ddpm"], seed=0).eval()
    assert model.sample_options()["precision"] == "fp32"
    a = model.sample(4, generator=torch.Generator().manual_seed(0), sampler="ddim", steps=4)
    b = model.sample(
        4, generator=torch.Generator().manual_seed(0), sampler="ddim", steps=4, precision="bf16"
    )
    assert b.dtype == torch.float32 and not torch.equal(a, b)
    assert (a - b).abs().mean() < 0.05
    with pytest.raises(ConfigError, match="precision"):
        model.sample(1, generator=torch.Generator(), precision="fp16")


@pytest.mark.parametrize(("native", "same_as"), [(False, "fp32"), (True, "bf16")])
def test_auto_sampling_precision_follows_the_cpu(monkeypatch, native, same_as):
    from imagegen import devices

    monkeypatch.setattr(devices, "cpu_bf16_native", lambda: native)
    model = create_model(
        "ddpm", DataSpec("t", 1, 8, 0), {**TINY["ddpm"], "sample_precision": "auto"}, seed=0
    ).eval()

    def draw(precision=None):
        g = torch.Generator().manual_seed(0)
        return model.sample(2, generator=g, sampler="ddim", steps=2, precision=precision)

    assert torch.equal(draw(), draw(same_as))


def test_ddim_inversion_round_trips_with_first_order_error():
    # DDIM (eta 0) is a discretised ODE: inverting it (x_0 -> x_T) and sampling back recovers x_0
    # up to an error that halves when the steps double. Toy: data N(0.2, 0.5^2), exact eps.
    from imagegen.models.diffusion.sampler import ddim_invert, make_scheduler, run_sampler

    mu, s = 0.2, 0.5
    ab = make_scheduler("ddim", "linear", 1000).alphas_cumprod.double()

    def eps(x_t, t):
        a = ab[int(t)]
        return ((1 - a).sqrt() * (x_t - a.sqrt() * mu) / (a * s**2 + 1 - a)).float()

    x0 = mu + s * torch.randn(64, 1, 2, 2, generator=torch.Generator().manual_seed(1))
    err = {}
    for steps in (100, 200):
        x_T = ddim_invert(eps, x0, steps)
        assert torch.equal(x_T, ddim_invert(eps, x0, steps))
        assert abs(x_T.std().item() - 1) < 0.1  # data -> noise
        sched = make_scheduler("ddim", "linear", 1000)
        back = run_sampler(
            eps, sched, x0.shape, steps, torch.Generator(), "cpu", clip=False, x_T=x_T
        )
        err[steps] = (back - x0).abs().mean().item()
    assert err[200] < 0.01
    assert 1.7 < err[100] / err[200] < 2.3


def test_learned_variance_vlb_is_zero_at_the_true_posterior_and_trains():
    spec = DataSpec("t", 1, 8, 0)
    cfg = {**TINY["ddpm"], "variance": "learned_range"}
    model = create_model("ddpm", spec, cfg, seed=0)
    x0 = torch.rand(4, 1, 8, 8) * 1.6 - 0.8
    eps = torch.randn(4, 1, 8, 8)
    t = torch.tensor([1, 10, 50, 99])
    x_t = model.noise_scheduler.add_noise(x0, eps, t)
    exact = model.target(x0, eps, t)
    at_posterior = model.vlb_terms(x0, x_t, t, exact, -torch.ones_like(x0))  # v=-1: beta tilde
    assert at_posterior.abs().max() < 1e-4
    # v=1: variance beta_t, which beta tilde_t approaches as t grows, so the KL shrinks with t
    at_beta = model.vlb_terms(x0, x_t, t, exact, torch.ones_like(x0))
    assert (at_beta > 1e-6).all() and (at_beta.diff() < 0).all()
    t0 = torch.zeros(4, dtype=torch.long)  # t = 0: the decoder's Gaussian NLL, finite
    assert torch.isfinite(model.vlb_terms(x0, x0, t0, model.target(x0, eps, t0), eps)).all()
    out = model.loss("main", halves_dataset().batch(np.arange(8)), torch.Generator())
    assert torch.isfinite(out.loss) and "loss/vlb_bpd" in out.logs
    assert model.unet.config.out_channels == 2
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    model.eval()
    for kind in ("ddpm", "ddim", "dpm"):
        x = model.sample(2, generator=g(), sampler=kind, steps=4)
        assert x.shape == (2, 1, 8, 8) and torch.isfinite(x).all()
