"""Benchmark: training-step time per model under fp32 / bf16 autocast, NCHW / channels_last.

    python benchmarks/throughput.py [--steps 8] [--batch-size 64]

Uses each model's MNIST benchmark config on random 28x28 inputs (speed does not depend on the pixel
values) and writes benchmarks/results/throughput.json; benchmarks/report.py adds it to
docs/benchmarks.md. This is what the `train.precision` and `train.channels_last` defaults rest on.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import yaml

from imagegen.data.base import Batch, DataSpec
from imagegen.models import create_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, commit, machine  # noqa: E402


def step_seconds(
    name: str, precision: str, channels_last: bool, steps: int, batch_size: int
) -> float:
    cfg = yaml.safe_load((ROOT / "benchmarks" / "configs" / f"mnist_{name}.yaml").read_text())
    model = create_model(name, DataSpec("mnist", 1, 28, 10), cfg.get("model", {}), seed=0)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opts = {k: torch.optim.Adam(v, lr=1e-4) for k, v in model.param_groups().items()}
    x = torch.rand(batch_size, 1, 28, 28) * 2 - 1
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    batch = Batch(x, y=torch.arange(batch_size) % 10)  # labels for the conditional models
    g = torch.Generator().manual_seed(0)
    times = []
    for step in range(-2, steps):  # two warm-up steps, then ``steps`` timed ones
        t = time.perf_counter()
        for phase in model.phases():
            if step % phase.interval:  # as the trainer: e.g. lazy R1, n_critic
                continue
            opt = opts[phase.group]
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
                out = model.loss(phase.name, batch, g)
            out.loss.float().backward()
            opt.step()
        times.append(time.perf_counter() - t)
    return sum(times[2:]) / steps  # the mean: steps with an interval phase cost more


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--models", default="dcgan,vae,ddpm")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=64)
    args = p.parse_args()
    rows = []
    for name in args.models.split(","):
        for precision in ("fp32", "bf16"):
            for cl in (False, True):
                s = step_seconds(name, precision, cl, args.steps, args.batch_size)
                rows.append(
                    {
                        "model": name,
                        "precision": precision,
                        "channels_last": cl,
                        "step_seconds": round(s, 4),
                        "images_per_second": round(args.batch_size / s, 1),
                    }
                )
                print(rows[-1], flush=True)
    out = {
        "benchmark": "throughput",
        "command": f"python benchmarks/throughput.py --steps {args.steps} --batch-size {args.batch_size}",
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": machine(),
        "commit": commit(),
        "rows": rows,
    }
    (ROOT / "benchmarks" / "results" / "throughput.json").write_text(
        json.dumps(out, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
