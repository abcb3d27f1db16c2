"""Standing statistics: the EMA generator's BatchNorm statistics re-estimated from its own weights."""

import numpy as np
import torch

from imagegen.models import create_model
from imagegen.models.gan.adversarial import batch_norms
from imagegen.sampling import load_run
from imagegen.training import train
from tests.conftest import TINY, halves_dataset

FAST = dict(log_every=10, sample_every=0, ckpt_every=0, grid_size=4)


def test_statistics_are_the_average_over_fresh_batches_of_gs_own_activations():
    ds = halves_dataset()
    model = create_model("dcgan", ds.spec, TINY["dcgan"], seed=0).eval()
    norms = batch_norms(model.G)
    assert norms
    for m in norms:  # stale statistics, as the live G would hand the EMA copy
        m.running_mean.fill_(3.0)
        m.running_var.fill_(50.0)
    seen: dict[int, list[torch.Tensor]] = {i: [] for i in range(len(norms))}
    hooks = [
        m.register_forward_hook(lambda mod, inp, out, i=i: seen[i].append(inp[0].detach()))
        for i, m in enumerate(norms)
    ]
    params = {k: v.clone() for k, v in model.named_parameters()}
    model.recalibrate(seed=5, batches=3, batch_size=16)
    for h in hooks:
        h.remove()
    for i, m in enumerate(norms):
        assert len(seen[i]) == 3
        dims = [0, 2, 3] if seen[i][0].dim() == 4 else [0]
        mean = torch.stack([x.mean(dims) for x in seen[i]]).mean(0)
        var = torch.stack([x.var(dims, unbiased=True) for x in seen[i]]).mean(0)
        torch.testing.assert_close(m.running_mean, mean, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(m.running_var, var, rtol=1e-4, atol=1e-5)
        assert not m.training and m.momentum == 0.1  # modes and momentum restored
    assert not model.G.training
    assert all(torch.equal(p, params[k]) for k, p in model.named_parameters())


def test_recalibration_is_deterministic_and_changes_the_samples():
    ds = halves_dataset()
    a = create_model("dcgan", ds.spec, TINY["dcgan"], seed=0).eval()
    b = create_model("dcgan", ds.spec, TINY["dcgan"], seed=0).eval()
    before = a.sample(4, generator=torch.Generator().manual_seed(1))
    a.recalibrate(seed=2)
    b.recalibrate(seed=2)
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    after = a.sample(4, generator=torch.Generator().manual_seed(1))
    assert not torch.allclose(before, after)


def test_conditional_biggan_keeps_its_spectral_norms_and_a_norm_free_stylegan_is_untouched():
    ds = halves_dataset()
    big = create_model("biggan", ds.spec, {**TINY["biggan"], "conditional": True}, seed=0).eval()
    state = {k: v.clone() for k, v in big.state_dict().items()}
    big.recalibrate(seed=0, batches=2, batch_size=8)
    changed = {k for k, v in big.state_dict().items() if not torch.equal(v, state[k])}
    assert changed and all(
        k.endswith(("running_mean", "running_var", "num_batches_tracked")) for k in changed
    )
    style = create_model("stylegan", ds.spec, TINY["stylegan"], seed=0).eval()
    state = {k: v.clone() for k, v in style.state_dict().items()}
    style.recalibrate(seed=0)
    assert all(torch.equal(v, state[k]) for k, v in style.state_dict().items())


def test_a_trained_runs_ema_carries_standing_statistics_the_live_model_does_not(tmp_path):
    ds = halves_dataset()
    model = create_model("dcgan", ds.spec, TINY["dcgan"], seed=0)
    run = train(model, ds, tmp_path / "r", steps=5, batch_size=8, ema_decay=0.9, seed=4, **FAST)
    ema, live = load_run(run).model, load_run(run, ema=False).model
    saved = [m.running_mean.clone() for m in batch_norms(ema.G)]
    ema.recalibrate(seed=4)  # what the trainer did before it saved: the same numbers again
    for s, m in zip(saved, batch_norms(ema.G), strict=True):
        torch.testing.assert_close(m.running_mean, s)
    assert not all(
        np.allclose(m.running_mean, n.running_mean)
        for m, n in zip(batch_norms(ema.G), batch_norms(live.G), strict=True)
    )
