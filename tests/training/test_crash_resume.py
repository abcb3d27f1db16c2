"""A run killed with SIGKILL resumes in a new process exactly as if it had never stopped.

Each model family trains 8 steps straight in one process. Another process trains the same run
with checkpoints every 3 steps and is SIGKILLed, either right after a checkpoint is committed or
between checkpoints (after it logged steps the checkpoint does not hold); a third process resumes
it to step 8. Weights, EMA weights and every per-step loss record must be bit-identical. With 40
images in batches of 16 an epoch is not a whole number of steps, so checkpoints fall mid-epoch.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from imagegen.sampling import load_run

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from imagegen.models import create_model
    from imagegen.training import checkpoint as ckpt, logger, train
    from tests.conftest import TINY, halves_dataset

    name, out, kind, at, resume = sys.argv[1:6]
    at = int(at)
    if kind == "checkpoint":  # die right after the checkpoint of step `at` is committed
        save = ckpt.save_checkpoint
        def save_then_die(root, step, *args, **kwargs):
            path = save(root, step, *args, **kwargs)
            if step == at:
                os.kill(os.getpid(), signal.SIGKILL)
            return path
        ckpt.save_checkpoint = save_then_die
    if kind == "log":  # die after logging step `at`, between checkpoints
        log = logger.MetricsLogger.log
        def log_then_die(self, step, *args, **kwargs):
            log(self, step, *args, **kwargs)
            if step == at:
                os.kill(os.getpid(), signal.SIGKILL)
        logger.MetricsLogger.log = log_then_die
    ds = halves_dataset(n=40)
    train(
        create_model(name, ds.spec, TINY[name], seed=0), ds, out, steps=8, batch_size=16,
        flip=True, ema_decay=0.9, log_every=1, sample_every=0, ckpt_every=3, grid_size=4,
        keep_last=5, resume=resume == "1",
    )
    """
)


def _start(name: str, out: Path, kind: str = "none", at: int = 0, resume: bool = False):
    args = [sys.executable, "-c", SCRIPT, name, str(out), kind, str(at), "1" if resume else "0"]
    return subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _losses(run: Path) -> list[dict]:
    recs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in ("time", "imgs_per_s")} for r in recs]


@pytest.mark.parametrize(
    "name,kind,at",
    [("dcgan", "checkpoint", 6), ("vae", "log", 5), ("ddpm", "checkpoint", 3)],
)
def test_sigkilled_run_resumes_bit_exactly_in_a_new_process(tmp_path, name, kind, at):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    procs = [_start(name, straight), _start(name, killed, kind, at)]  # the two CPUs run both
    (_, err_a), (_, err_b) = (p.communicate(timeout=300) for p in procs)
    assert procs[0].returncode == 0, err_a.decode()[-2000:]
    assert procs[1].returncode == -signal.SIGKILL, err_b.decode()[-2000:]
    steps_logged = [r["step"] for r in _losses(killed)]
    assert steps_logged[-1] == at  # it died where it was told to
    resumed = _start(name, killed, resume=True)
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err.decode()[-2000:]
    assert _losses(killed) == _losses(straight)  # steps 1..8 once each, the same numbers
    assert [r["step"] for r in _losses(killed)] == list(range(1, 9))
    for ema in (False, True):
        a = load_run(straight, ema=ema).model.state_dict()
        b = load_run(killed, ema=ema).model.state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), f"ema={ema}"
