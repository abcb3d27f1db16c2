"""The one trainer: learning, reproducibility, exact resume, bad steps, run-folder safety."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from imagegen.errors import ConfigError, RunError
from imagegen.models import create_model
from imagegen.models.base import StepOutput
from imagegen.sampling import generate, load_run
from imagegen.training import train
from imagegen.training.trainer import TrainingError
from tests.conftest import TINY, halves_dataset

FAST = dict(log_every=10, sample_every=0, ckpt_every=0, grid_size=4)


def _records(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("name,key", [("vae", "loss/elbo"), ("ddpm", "loss/mse")])
def test_training_lowers_the_loss(tmp_path, name, key):
    ds = halves_dataset()
    model = create_model(name, ds.spec, TINY[name], seed=0)
    run = train(model, ds, tmp_path / name, steps=200, batch_size=16, **FAST)
    recs = _records(run)
    assert recs[-1]["step"] == 200
    assert recs[-1][key] < 0.5 * recs[0][key]


def _template_distance(images: np.ndarray) -> float:
    """Mean distance of each image to the nearer of the two class templates (pixels in [0, 1])."""
    x = images[..., 0].astype(np.float64) / 255
    top = np.zeros((8, 8))
    top[:4] = 1
    d = np.stack([np.abs(x - top).mean((1, 2)), np.abs(x - top[::-1]).mean((1, 2))])
    return float(d.min(0).mean())


def test_gan_samples_move_towards_the_data(tmp_path):
    ds = halves_dataset()
    model = create_model("dcgan", ds.spec, TINY["dcgan"], seed=0)
    before = _template_distance(generate(model, 32, seed=0))
    run = train(model, ds, tmp_path / "gan", steps=300, batch_size=16, ema_decay=0.0, **FAST)
    after = _template_distance(load_run(run).sample(32, seed=0))
    assert after < 0.7 * before


@pytest.mark.parametrize(
    "name",
    [
        *("dcgan", "vae", "ddpm", "beta_vae", "cvae", "vqvae", "hvae"),
        *("wgan_gp", "cgan", "sngan", "sagan", "biggan", "stylegan", "pggan"),
    ],
)
def test_save_load_gives_identical_samples(tmp_path, name):
    ds = halves_dataset()
    model = create_model(name, ds.spec, TINY[name], seed=0, conditional=True)
    run = train(model, ds, tmp_path / name, steps=6, batch_size=8, ema_decay=0.9, **FAST)
    r = load_run(run)
    a = r.sample(6, seed=3, labels=[0, 1, 0, 1, 0, 1])
    b = load_run(run).sample(6, seed=3, labels=[0, 1, 0, 1, 0, 1])
    np.testing.assert_array_equal(a, b)
    assert r.step == 6
    assert (
        (run / "samples.png").is_file()
        and (run / "report.html").is_file()
        and (run / "loss.png").is_file()
    )


@pytest.mark.parametrize("name", ["dcgan", "vae", "ddpm", "vqvae", "hvae", "sagan", "stylegan"])
def test_resume_is_exact(tmp_path, name):
    ds = halves_dataset(n=40)  # 40 / 16 -> epochs of 2 steps: checkpoints fall mid-epoch too
    kw = dict(batch_size=16, flip=True, ema_decay=0.9, **FAST)
    # the budget grows on resume here, which moves budget-relative phase windows (as it moves a
    # decaying learning rate or a KL warm-up): those start at once for this comparison
    cfg = {
        **TINY[name],
        **{"vqvae": {"prior_start": 0.0}, "hvae": {"kl_warmup": 0.0}}.get(name, {}),
    }
    straight = train(create_model(name, ds.spec, cfg, seed=0), ds, tmp_path / "a", steps=7, **kw)
    part = train(create_model(name, ds.spec, cfg, seed=0), ds, tmp_path / "b", steps=3, **kw)
    train(create_model(name, ds.spec, cfg, seed=1), ds, part, steps=7, resume=True, **kw)
    a, b = (
        load_run(straight, ema=False).model.state_dict(),
        load_run(part, ema=False).model.state_dict(),
    )
    assert all(torch.equal(a[k], b[k]) for k in a)
    ea, eb = load_run(straight).model.state_dict(), load_run(part).model.state_dict()
    assert all(torch.equal(ea[k], eb[k]) for k in ea)


def test_resume_with_other_settings_lists_the_differences(tmp_path):
    ds = halves_dataset()
    run = train(
        create_model("vae", ds.spec, TINY["vae"], seed=0),
        ds,
        tmp_path / "r",
        steps=2,
        batch_size=8,
        **FAST,
    )
    other = create_model("vae", ds.spec, {**TINY["vae"], "beta": 2.0})
    with pytest.raises(RunError, match=r"model.beta 1.0 != 2.0.*train.batch_size 8 != 4"):
        train(other, ds, run, steps=4, batch_size=4, resume=True, **FAST)


def test_allow_changes_resumes_with_new_settings_and_records_them(tmp_path, caplog):
    ds = halves_dataset()
    run = train(create_model("vae", ds.spec, TINY["vae"], seed=0), ds, tmp_path / "r", steps=2,
                batch_size=8, **FAST)  # fmt: skip
    other = create_model("vae", ds.spec, {**TINY["vae"], "beta": 2.0})
    train(other, ds, run, steps=4, batch_size=8, resume=True, allow_changes=True, **FAST)
    assert "resuming" in caplog.text and "model.beta 1.0 != 2.0" in caplog.text
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["model_config"]["beta"] == 2.0
    assert cfg["changes"] == [{"step": 2, "diffs": ["model.beta 1.0 != 2.0"]}]
    assert load_run(run).step == 4


def test_existing_run_is_not_overwritten(tmp_path):
    ds = halves_dataset()
    run = train(
        create_model("vae", ds.spec, TINY["vae"]), ds, tmp_path / "r", steps=2, batch_size=8, **FAST
    )
    mtime = (run / "config.json").stat().st_mtime_ns
    with pytest.raises(RunError, match="--resume"):
        train(create_model("vae", ds.spec, TINY["vae"]), ds, run, steps=2, batch_size=8, **FAST)
    assert (run / "config.json").stat().st_mtime_ns == mtime


def test_resume_of_missing_run(tmp_path):
    ds = halves_dataset()
    with pytest.raises(RunError, match="does not exist"):
        train(
            create_model("vae", ds.spec, TINY["vae"]), ds, tmp_path / "nope", steps=2, resume=True
        )


def test_batch_larger_than_data_fails_before_writing(tmp_path):
    ds = halves_dataset(n=8)
    with pytest.raises(ConfigError, match="lower --batch-size"):
        train(create_model("vae", ds.spec, TINY["vae"]), ds, tmp_path / "r", steps=2, batch_size=64)
    assert not (tmp_path / "r").exists()


def test_nonfinite_losses_are_skipped_then_stop_the_run(tmp_path, monkeypatch):
    ds = halves_dataset()
    model = create_model("vae", ds.spec, TINY["vae"], seed=0)
    real_loss = model.loss
    calls = {"n": 0}

    def flaky(phase, batch, generator):
        calls["n"] += 1
        out = real_loss(phase, batch, generator)
        if calls["n"] == 3 or calls["n"] > 5:  # one isolated NaN, then NaN forever
            return StepOutput(out.loss * float("nan"), out.logs)
        return out

    monkeypatch.setattr(model, "loss", flaky)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(TrainingError, match="non-finite steps in a row"):
        train(
            model,
            ds,
            tmp_path / "r",
            steps=50,
            batch_size=8,
            max_bad_steps=4,
            ckpt_every=1,
            log_every=1,
            sample_every=0,
        )
    assert all(
        torch.isfinite(v).all() for v in model.state_dict().values() if v.is_floating_point()
    )
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    # checkpoints written before the failure are loadable and finite
    r = load_run(tmp_path / "r", ema=False)
    assert all(
        torch.isfinite(v).all() for v in r.model.state_dict().values() if v.is_floating_point()
    )


def test_minutes_budget_stops(tmp_path):
    ds = halves_dataset()
    run = train(
        create_model("vae", ds.spec, TINY["vae"]),
        ds,
        tmp_path / "r",
        minutes=0.02,
        steps=None,
        batch_size=8,
        **FAST,
    )
    state = json.loads(next((run / "checkpoints").iterdir()).joinpath("state.json").read_text())
    assert state["step"] > 0 and 1.0 <= state["elapsed"] < 30


def test_a_full_disk_at_a_checkpoint_does_not_end_the_run(tmp_path, monkeypatch, caplog):
    from imagegen.training import checkpoint as ckpt

    real, calls = ckpt.save_checkpoint, []

    def disk_full_at_step_4(root, step, *args, **kwargs):
        calls.append(step)
        if step == 4:
            raise OSError(28, "No space left on device")
        return real(root, step, *args, **kwargs)

    monkeypatch.setattr(ckpt, "save_checkpoint", disk_full_at_step_4)
    ds = halves_dataset()
    model = create_model("vae", ds.spec, TINY["vae"], seed=0)
    settings = dict(batch_size=8, log_every=1, sample_every=0, ckpt_every=2, grid_size=4)
    with caplog.at_level("WARNING"):
        run = train(model, ds, tmp_path / "r", steps=8, keep_last=5, **settings)
    assert calls == [2, 4, 6, 8]  # it went on past the failed save and saved again
    assert [p.name for p in ckpt.list_checkpoints(run / "checkpoints")] == [
        "step_0000002",
        "step_0000006",
        "step_0000008",
    ]
    assert any("No space left" in r.getMessage() for r in caplog.records)

    # the last save failing is an error that names the checkpoint to resume from
    def disk_full_at_the_end(root, step, *args, **kwargs):
        if step == 8:
            raise OSError(28, "No space left on device")
        return real(root, step, *args, **kwargs)

    monkeypatch.setattr(ckpt, "save_checkpoint", disk_full_at_the_end)
    model = create_model("vae", ds.spec, TINY["vae"], seed=0)
    with pytest.raises(RunError, match="resume from step_0000006") as err:
        train(model, ds, tmp_path / "r2", steps=8, keep_last=5, **settings)
    assert "\n" not in str(err.value)


def test_lr_warmup_ramps_linearly_and_resume_continues_it(tmp_path):
    from imagegen.training.config import TrainConfig
    from imagegen.training.trainer import Trainer

    ds = halves_dataset()
    model = create_model("vae", ds.spec, TINY["vae"], seed=0)
    cfg = TrainConfig(steps=3, batch_size=8, lr_warmup=4, **FAST)
    trainer = Trainer(model, ds, tmp_path / "run", cfg)
    base = trainer.base_lr["main"]
    seen = []
    for _ in range(6):
        trainer.train_step()
        seen.append(trainer.opt["main"].param_groups[0]["lr"])
        trainer.step += 1
    assert seen == pytest.approx([base * k / 4 for k in (1, 2, 3, 4)] + [base, base])


def test_lr_decay_after_warmup_reaches_the_final_rate_at_the_end_of_the_budget():
    import math

    from imagegen.training.config import TrainConfig
    from imagegen.training.trainer import lr_factor

    lin = TrainConfig(steps=104, lr_warmup=4, lr_decay="linear", lr_final=0.1)
    assert lr_factor(lin, 1, 0.0) == pytest.approx(0.5)  # warm-up: step 1 of 4
    assert lr_factor(lin, 4, 0.0) == pytest.approx(1.0)  # decay starts after the warm-up
    assert lr_factor(lin, 54, 0.0) == pytest.approx(0.1 + 0.9 * 0.5)
    assert lr_factor(lin, 104, 0.0) == pytest.approx(0.1)
    cos = TrainConfig(steps=100, lr_decay="cosine")
    assert lr_factor(cos, 25, 0.0) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    # a minutes budget decays by wall time; with both, by whichever is nearer its end
    timed = TrainConfig(minutes=10, lr_decay="linear")
    assert lr_factor(timed, 7, 150.0) == pytest.approx(0.75)
    both = TrainConfig(steps=100, minutes=10, lr_decay="linear")
    assert lr_factor(both, 10, 300.0) == pytest.approx(0.5)
    assert lr_factor(TrainConfig(steps=10), 5, 0.0) == 1.0  # constant by default
    with pytest.raises(ConfigError, match="lr_decay"):
        TrainConfig(lr_decay="step")


def test_wsd_holds_the_base_rate_then_decays_over_the_last_cooldown_fraction():
    from imagegen.training.config import TrainConfig
    from imagegen.training.trainer import lr_factor

    wsd = TrainConfig(steps=104, lr_warmup=4, lr_decay="wsd", lr_cooldown=0.25, lr_final=0.1)
    assert lr_factor(wsd, 1, 0.0) == pytest.approx(0.5)  # warm-up as for the other decays
    assert lr_factor(wsd, 4, 0.0) == pytest.approx(1.0)
    assert lr_factor(wsd, 79, 0.0) == pytest.approx(1.0)  # 75% of the budget: still stable
    assert lr_factor(wsd, 91.5, 0.0) == pytest.approx(0.1 + 0.9 * 0.5)  # half the cooldown
    assert lr_factor(wsd, 104, 0.0) == pytest.approx(0.1)
    timed = TrainConfig(minutes=10, lr_decay="wsd", lr_cooldown=0.2)
    assert lr_factor(timed, 7, 420.0) == pytest.approx(1.0)
    assert lr_factor(timed, 7, 540.0) == pytest.approx(0.5)  # 90%: half-way down
    for bad in (0.0, 1.5):
        with pytest.raises(ConfigError, match="lr_cooldown"):
            TrainConfig(lr_decay="wsd", lr_cooldown=bad)


def test_bf16_on_a_cpu_that_emulates_it_warns(tmp_path, monkeypatch, caplog):
    from imagegen import devices

    monkeypatch.setattr(devices, "cpu_bf16_native", lambda: False)
    monkeypatch.setattr(devices, "cpu_bf16_speedup", lambda: 0.01)
    ds = halves_dataset()
    model = create_model("vae", ds.spec, TINY["vae"], seed=0)
    with caplog.at_level("WARNING"):
        train(model, ds, tmp_path / "slow", steps=1, batch_size=8, precision="bf16", **FAST)
    assert any("emulated" in r.message and "fp32" in r.message for r in caplog.records)
    monkeypatch.setattr(devices, "cpu_bf16_native", lambda: True)
    caplog.clear()
    with caplog.at_level("WARNING"):
        train(model, ds, tmp_path / "fast", steps=1, batch_size=8, precision="bf16", **FAST)
    assert not any("emulated" in r.message for r in caplog.records)


@pytest.mark.parametrize(
    ("native", "speedup", "slow"),
    [(True, 0.01, False), (False, 3.0, True), (None, 0.01, True), (None, 3.0, False)],
)
def test_bf16_is_slow_trusts_cpu_flags_and_measures_where_there_are_none(
    monkeypatch, native, speedup, slow
):
    from imagegen import devices

    monkeypatch.setattr(devices, "cpu_bf16_native", lambda: native)
    monkeypatch.setattr(devices, "cpu_bf16_speedup", lambda: speedup)
    assert devices.bf16_is_slow(torch.device("cpu")) is slow
    assert devices.bf16_is_slow(torch.device("meta")) is False


@pytest.mark.parametrize(("native", "resolved"), [(True, "bf16"), (False, "fp32")])
def test_auto_precision_takes_bf16_only_where_it_is_native(
    tmp_path, monkeypatch, caplog, native, resolved
):
    from imagegen import devices

    monkeypatch.setattr(devices, "cpu_bf16_native", lambda: native)
    monkeypatch.setattr(devices, "cpu_bf16_speedup", lambda: 0.01)  # never consulted on x86
    seen = []
    real = devices.autocast
    monkeypatch.setattr(devices, "autocast", lambda d, p: seen.append(p) or real(d, p))
    ds = halves_dataset()
    model = create_model("vae", ds.spec, TINY["vae"], seed=0)
    out = tmp_path / "auto"
    with caplog.at_level("WARNING"):
        train(model, ds, out, steps=1, batch_size=8, precision="auto", **FAST)
    assert not any("emulated" in r.message for r in caplog.records)
    record = json.loads((out / "config.json").read_text())
    assert record["train"]["precision"] == "auto" and record["precision"] == resolved
    assert seen and set(seen) == {resolved}  # the training step ran in the resolved precision
    assert devices.resolve_precision(torch.device("cpu"), "fp32") == "fp32"  # explicit: kept
    assert devices.resolve_precision(torch.device("cpu"), "bf16") == "bf16"


def test_periodic_kid_is_logged_and_plotted(tmp_path, monkeypatch):
    from imagegen.metrics.inception import InceptionFeatures
    from tests.metrics.conftest import _fake_features

    monkeypatch.setattr(
        InceptionFeatures, "extract", lambda self, x, progress=None: _fake_features(x)
    )
    monkeypatch.setenv("IMAGEGEN_CACHE", str(tmp_path / "cache"))
    ds = halves_dataset()
    model = create_model("vae", ds.spec, TINY["vae"], seed=0)
    run = train(
        model,
        ds,
        tmp_path / "run",
        steps=6,
        batch_size=8,
        eval_every=3,
        eval_every_n=16,
        eval_data=ds,
        **FAST,
    )
    evals = [r for r in _records(run) if "eval/kid" in r]
    assert [r["step"] for r in evals] == [3, 6]
    assert all(np.isfinite(r["eval/kid"]) for r in evals)
    assert (run / "eval.png").is_file()


def test_the_best_checkpoint_by_the_periodic_metric_outlives_keep_last(tmp_path, monkeypatch):
    import imagegen.metrics as metrics
    from imagegen.cli.main import main as cli_main
    from imagegen.training import checkpoint as ckpt

    scores = iter([3.0, 1.0, 2.0, 5.0])  # the check at step 4 is the best
    monkeypatch.setattr(metrics, "evaluate", lambda *a, **k: {"kid": next(scores)})
    ds = halves_dataset()
    model = create_model("vae", ds.spec, TINY["vae"], seed=0)
    kw = {**FAST, "ckpt_every": 2, "keep_last": 1}
    run = train(
        model, ds, tmp_path / "run", steps=8, batch_size=8, eval_every=2, eval_data=ds, **kw
    )
    best = ckpt.read_best(run / "checkpoints")
    assert best == {"name": "step_0000004", "metric": "kid", "value": 1.0, "step": 4}
    names = [p.name for p in ckpt.list_checkpoints(run / "checkpoints")]
    assert names == ["step_0000004", "step_0000008"]
    assert load_run(run, checkpoint="step_0000004").step == 4
    with pytest.raises(SystemExit) as e:
        cli_main(["runs", str(tmp_path)])
    assert e.value.code == 0


def test_runs_lists_each_run_with_its_step_and_metrics(tmp_path, capsys):
    from imagegen.cli.main import main as cli_main

    ds = halves_dataset()
    for name in ("vae", "dcgan"):
        train(create_model(name, ds.spec, TINY[name], seed=0), ds, tmp_path / "runs" / name,
              steps=3, batch_size=8, **FAST)  # fmt: skip
    (tmp_path / "runs" / "not_a_run").mkdir()
    with pytest.raises(SystemExit) as e:
        cli_main(["runs", str(tmp_path / "runs")])
    assert e.value.code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert (
        "dcgan on halves  step 3  24 images" in lines[0] and " D=" in lines[0] and " G=" in lines[0]
    )
    assert "vae on halves  step 3  24 images" in lines[1] and "elbo=" in lines[1]
    with pytest.raises(SystemExit) as e:
        cli_main(["runs", str(tmp_path / "empty")])
    assert e.value.code == 2


def test_a_phase_trains_only_inside_its_window_and_its_warmup_starts_there(tmp_path):
    from imagegen.training.config import TrainConfig
    from imagegen.training.trainer import Trainer

    ds = halves_dataset()
    model = create_model("vqvae", ds.spec, {**TINY["vqvae"], "prior_start": 0.5}, seed=0)
    cfg = TrainConfig(steps=6, batch_size=8, lr_warmup=2, ema_decay=0, **FAST)
    trainer = Trainer(model, ds, tmp_path / "run", cfg)
    prior0 = [p.detach().clone() for p in model.prior.parameters()]
    for _ in range(3):  # steps 0-2: 0/6 .. 2/6 of the budget, before the prior's window
        trainer.train_step()
        trainer.step += 1
    assert all(torch.equal(a, b) for a, b in zip(prior0, model.prior.parameters(), strict=True))
    trainer.train_step()  # step 3: half the budget, the prior's first step
    assert trainer.first_step == {"main": 0, "prior": 3}
    assert not all(torch.equal(a, b) for a, b in zip(prior0, model.prior.parameters(), strict=True))
    # its warm-up counts from its own first step: 1 of 2 warm-up steps done
    base = trainer.base_lr["prior"]
    assert trainer.opt["prior"].param_groups[0]["lr"] == pytest.approx(base * 0.5)


def test_grad_clip_bounds_the_gradient_norm_and_logs_it(tmp_path, monkeypatch):
    seen = []
    step = torch.optim.Adam.step

    def spy(self, *args, **kwargs):
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        seen.append(float(torch.stack(torch._foreach_norm(grads)).norm()))
        return step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", spy)
    ds = halves_dataset()
    model = create_model("vae", ds.spec, TINY["vae"], seed=0)
    out = tmp_path / "clip"
    train(model, ds, out, steps=3, batch_size=16, grad_clip=1e-3, sample_every=0, log_every=1)
    assert len(seen) == 3 and max(seen) <= 1e-3 * (1 + 1e-4)
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    norms = [r["grad_norm/main"] for r in logged if "grad_norm/main" in r]
    assert len(norms) == 3 and min(norms) > 1e-3  # before clipping, the norm was larger


def test_compile_compiles_the_trained_networks_and_keeps_the_numbers(tmp_path, monkeypatch):
    compiled = []
    original = torch.nn.Module.compile

    def spy(self, *args, **kwargs):
        compiled.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.nn.Module, "compile", spy)
    ds = halves_dataset()
    runs = {}
    for flag in (False, True):
        model = create_model("vae", ds.spec, TINY["vae"], seed=0)
        kw = dict(steps=4, batch_size=8, ema_decay=0, log_every=1, sample_every=0, ckpt_every=0)
        runs[flag] = train(model, ds, tmp_path / str(flag), compile=flag, grid_size=4, **kw)
        nets = [m for m in model.children() if any(p.requires_grad for p in m.parameters())]
        assert compiled == (nets if flag else [])
    eager, fast = (_records(runs[f]) for f in (False, True))
    assert [r["loss/elbo"] for r in fast] == pytest.approx([r["loss/elbo"] for r in eager], 1e-4)
    # the checkpoint's keys are the plain model's: it loads without compiling
    a = load_run(runs[True]).sample(4, seed=1)
    b = load_run(runs[False]).sample(4, seed=1)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 2
