"""Benchmark: diffusion sampling speed, images/s of a K-step DPM-Solver++ sampler per MNIST config,
under fp32 / bf16 autocast, NCHW / channels_last, and batch size.

    python benchmarks/sample_speed.py [--steps 50] [--n 256] [--batch-sizes 64,256]

Speed does not depend on the weights, so each config's model is freshly initialised (the ldm's KL
autoencoder too, from its config): no trained run is needed. Configs: `ddpm`
(configs/mnist_ddpm.yaml, pixel space), `ddpm_cfg` (configs/mnist_ddpm_cfg.yaml, class-conditional
at guidance 2: two UNet passes per step, batched as one), `ldm_kl` (configs/mnist_ldm_kl.yaml,
4 x 7 x 7 latents, then the decoder of configs/mnist_klvae.yaml) and `ldm_lean` (the same denoiser,
configs/mnist_ldm_lean.yaml, with the half-width decoder of configs/mnist_klvae_lean.yaml). Each
row draws --n images through `imagegen.generate` after one warm-up batch; a run replaces the rows
of the configs it measures and keeps the others (each row names its commit). bf16 changes the
samples (the sampler's arithmetic stays fp32, the UNet's does not), so whether it pays is a
question of FID as well: this benchmark measures only the time.
Writes benchmarks/results/sample_speed.json; benchmarks/report.py adds it to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import yaml

from imagegen.data.base import DataSpec
from imagegen.models import create_model
from imagegen.sampling.generate import generate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, commit, machine  # noqa: E402

CONFIGS = {
    "ddpm": "mnist_ddpm",
    "ddpm_cfg": "mnist_ddpm_cfg",
    "ldm_kl": "mnist_ldm_kl",
    "ldm_lean": "mnist_ldm_lean",
}
AUTOENCODERS = {"ldm_kl": "mnist_klvae", "ldm_lean": "mnist_klvae_lean"}  # each ldm's first stage
SPEC = DataSpec("mnist", 1, 28, 10)


def model_config(name: str) -> dict:
    cfg = yaml.safe_load((ROOT / "benchmarks" / "configs" / f"{CONFIGS[name]}.yaml").read_text())
    mcfg = dict(cfg["model"])
    if name in AUTOENCODERS:  # an untrained first stage of the same shape instead of the run's
        ae_path = ROOT / "benchmarks" / "configs" / f"{AUTOENCODERS[name]}.yaml"
        ae = yaml.safe_load(ae_path.read_text())
        mcfg.pop("autoencoder_run")
        mcfg.update(autoencoder_model="klvae", autoencoder_config=ae["model"], scale=1.0)
    return mcfg


def images_per_second(
    name: str, precision: str, channels_last: bool, batch_size: int, n: int, steps: int
) -> float:
    model = create_model(
        "ldm" if name in AUTOENCODERS else "ddpm", SPEC, model_config(name), seed=0
    )
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    options = {"sampler": "dpm", "steps": steps, "precision": precision}
    generate(model, min(batch_size, 8), batch_size=batch_size, **options)  # warm-up
    t = time.perf_counter()
    generate(model, n, batch_size=batch_size, **options)
    return n / (time.perf_counter() - t)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--models", default=",".join(CONFIGS))
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--n", type=int, default=256, help="images per row")
    p.add_argument("--batch-sizes", default="64,256")
    args = p.parse_args()
    names = args.models.split(",")
    for name in names:
        if name not in CONFIGS:
            raise SystemExit(f"unknown config '{name}': choose from {', '.join(CONFIGS)}")
    command = (
        f"python benchmarks/sample_speed.py --models {args.models} --steps {args.steps} "
        f"--n {args.n} --batch-sizes {args.batch_sizes}"
    )
    sampler = f"dpm (DPM-Solver++ 2M), {args.steps} steps"
    dest = ROOT / "benchmarks" / "results" / "sample_speed.json"
    old = json.loads(dest.read_text()) if dest.is_file() else {"rows": []}
    # rows from another machine or step count are not comparable: replaced, not kept
    same = (old.get("machine"), old.get("sampler")) == (machine(), sampler)
    kept = [r for r in old["rows"] if same and r["model"] not in names]
    tree = commit()
    rows = []
    for name in names:
        for batch_size in [int(b) for b in args.batch_sizes.split(",")]:
            for precision in ("fp32", "bf16"):
                for cl in (False, True):
                    ips = images_per_second(name, precision, cl, batch_size, args.n, args.steps)
                    rows.append(
                        {
                            "model": name,
                            "batch_size": batch_size,
                            "precision": precision,
                            "channels_last": cl,
                            "images_per_second": round(ips, 2),
                            "commit": tree,
                            "command": command,
                        }
                    )
                    print(rows[-1], flush=True)
    out = {
        "benchmark": "sample_speed",
        "sampler": sampler,
        "threads": torch.get_num_threads(),
        "machine": machine(),
        "rows": kept + rows,
    }
    dest.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
