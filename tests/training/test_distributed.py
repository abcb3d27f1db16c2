"""Data-parallel training: 2 processes under torchrun (gloo, CPU) against 1 process.

torchrun starts two ranks that train a tiny DDPM and a tiny DCGAN (batch-norm, two phases) with a
global batch of 8, 4 images per rank. One process trains the same runs with the batch split into
2 micro-batches (``grad_accum=2``): micro-batch k draws the noise that rank k draws, so after K
steps its weights must equal the ranks' up to float rounding, and the two ranks must hold exactly
the same weights. Only rank 0 writes the run folder: each step is logged once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from imagegen.models import create_model
from imagegen.sampling import load_run
from imagegen.training import train
from tests.conftest import TINY, halves_dataset

ROOT = Path(__file__).resolve().parents[2]
STEPS = 4
SETTINGS = dict(
    steps=STEPS,
    batch_size=8,
    flip=True,
    ema_decay=0.9,
    log_every=1,
    sample_every=0,
    ckpt_every=2,
    grid_size=4,
)
NAMES = ("ddpm", "dcgan")
# Attention's key bias gets a gradient that is zero up to rounding (softmax ignores a shift), which
# Adam blows up to full-size steps of noise: leave attention out so every weight can be compared.
CONFIGS = {"ddpm": {**TINY["ddpm"], "attention": [False, False]}, "dcgan": TINY["dcgan"]}

WORKER = textwrap.dedent(
    f"""
    import os, sys
    from pathlib import Path
    from safetensors.torch import save_file
    from imagegen.models import create_model
    from imagegen.training import train
    from tests.conftest import halves_dataset

    root = Path(sys.argv[1])
    rank = int(os.environ["RANK"])
    ds = halves_dataset(n=40)
    for name in {NAMES!r}:
        model = create_model(name, ds.spec, {CONFIGS!r}[name], seed=0)
        train(model, ds, root / name, **{SETTINGS!r})
        # what each rank holds at the end (the run folder has only rank 0's copy)
        weights = {{k: v.contiguous() for k, v in model.state_dict().items()}}
        save_file(weights, str(root / f"{{name}}-rank{{rank}}.safetensors"))
    """
)


def _records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dist")
    script = root / "worker.py"
    script.write_text(WORKER)
    # the repository root for `tests`, its src for `imagegen` (so an uninstalled checkout runs too)
    path = os.pathsep.join([str(ROOT), str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    proc = subprocess.run(
        [*cmd, str(script), str(root)], cwd=ROOT, env=env, capture_output=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    return root


@pytest.mark.parametrize("name", NAMES)
def test_two_ranks_hold_identical_weights_equal_to_one_process_accumulating(
    two_ranks, tmp_path, name
):
    rank0 = load_file(str(two_ranks / f"{name}-rank0.safetensors"))
    rank1 = load_file(str(two_ranks / f"{name}-rank1.safetensors"))
    ds = halves_dataset(n=40)
    params = [k for k, _ in create_model(name, ds.spec, CONFIGS[name]).named_parameters()]
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0), "ranks diverged"

    model = create_model(name, ds.spec, CONFIGS[name], seed=0)
    train(model, ds, tmp_path / name, grad_accum=2, **SETTINGS)
    single = model.state_dict()
    start = create_model(name, ds.spec, CONFIGS[name], seed=0).state_dict()
    assert sum(not torch.equal(single[k], start[k]) for k in params) > 0.9 * len(params)
    # Equal up to rounding. Summing 2 micro-batch gradients across processes or in one differs in
    # the last bits, and Adam's first steps move a weight by about lr whatever its gradient's
    # size, so where a gradient is ~0 its rounding can flip a step: allow that in a few weights.
    diff = torch.cat([(rank0[k] - single[k]).abs().flatten() for k in params])
    assert (diff > 1e-6).float().mean() < 1e-3, f"{int((diff > 1e-6).sum())} of {diff.numel()}"
    assert diff.max() <= 2 * STEPS * model.optim_settings(next(iter(model.param_groups()))).lr

    # rank 0 wrote one record per step, with the losses of the whole global batch
    dist_recs, single_recs = _records(two_ranks / name), _records(tmp_path / name)
    assert [r["step"] for r in dist_recs] == list(range(1, STEPS + 1))
    for a, b in zip(dist_recs, single_recs, strict=True):
        for k in a:
            if k.startswith("loss/"):
                assert a[k] == pytest.approx(b[k], rel=1e-4, abs=1e-6), (a["step"], k)
    assert json.loads((two_ranks / name / "config.json").read_text())["processes"] == 2
    assert load_run(two_ranks / name).step == STEPS


def test_a_batch_that_does_not_split_into_micro_batches_is_refused(tmp_path):
    from imagegen.errors import ConfigError

    ds = halves_dataset(n=40)
    model = create_model("ddpm", ds.spec, TINY["ddpm"], seed=0)
    with pytest.raises(ConfigError, match="divisible by 3"):
        train(model, ds, tmp_path / "run", steps=1, batch_size=8, grad_accum=3)
    assert not (tmp_path / "run").exists()
