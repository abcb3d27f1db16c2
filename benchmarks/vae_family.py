"""Benchmark: the VAE family on MNIST (and VQ-VAE on CIFAR-10) with a wall-time budget each.

    python benchmarks/vae_family.py --data mnist --models vae,beta_vae,cvae,vqvae,hvae \
        --minutes 30 --n 10000
    python benchmarks/vae_family.py --data cifar10 --models vqvae --minutes 30 --n 0
    python benchmarks/vae_family.py --data mnist --models vae --variant logistic --n 0
    python benchmarks/vae_family.py --data mnist --models vqvae --temperatures 0.8,0.9,1.0
    python benchmarks/vae_family.py --data mnist --models klvae --minutes 15 --n 0 \
        --reconstruction-fid 10000

Per model: train with benchmarks/configs/<data>_<model>[_<variant>].yaml for --minutes, then on
the test split FID-N of N samples (balanced classes for conditional models, with conditional
accuracy; --n 0 skips FID), the negative ELBO in nats and bits/dim, reconstruction MSE/PSNR/SSIM
(and with --reconstruction-fid N the reconstructions' FID-N: what a latent prior cannot beat),
and active units or codebook usage. --temperatures picks the sampling temperature first, by
FID-<--select-n> against 5,000 training images (never the test split the score uses). Writes benchmarks/results/vae_<tag>.json (tag
<data>_<model>[_<variant>]) and sample / reconstruction /
interpolation (/ traversal) grids under docs/img/, then rebuilds docs/benchmarks.md.
Not part of the test suite. --train-only then --reuse splits training from scoring.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

import imagegen as ig
from imagegen.metrics.reconstruction import reconstruction_metrics
from imagegen.sampling.elbo import evaluate_elbo
from imagegen.sampling.generate import default_labels, to_uint8
from imagegen.sampling.pictures import interpolation_grid, reconstruction_grid, traversal_grid
from imagegen.viz import auto_scale, make_grid

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    ROOT,
    SELECT_REF,
    add_run_args,
    choose_sampling_option,
    commit,
    machine,
    run_tag,
    save_pictures,
    score,
    train_or_reuse,
)

COMMIT_AT_START = commit()


@torch.no_grad()
def reconstructions(model, test, batch_size: int = 500) -> np.ndarray:
    out = []
    for s in range(0, len(test), batch_size):
        b = test.batch(np.arange(s, min(s + batch_size, len(test))))
        out.append(to_uint8(model.reconstruct(b.x, b.y if model.conditional else None)))
    return np.concatenate(out)


def choose_temperature(run, train, args, options: dict) -> dict:
    """The sampling temperature chosen on training images, and the reconstruction floor."""
    temps = [float(v) for v in args.temperatures.split(",")]
    search = choose_sampling_option(
        run, train, "temperature", temps, args.select_n, args.seed + 2, options
    )
    # the floor a prior cannot beat: reconstructions of training images, against the same reference
    held = train.subset(args.select_n, seed=args.seed + 3)
    rec = reconstructions(run.model, held)
    floor = ig.evaluate(rec, train, metrics=["fid"], n_ref=SELECT_REF, progress=None)["fid"]
    print(f"reconstructions: FID-{args.select_n} vs train {floor:.2f}", flush=True)
    return {**search, "reconstruction_fid": round(floor, 3)}


def run_one(name: str, args: argparse.Namespace) -> dict:
    tag = run_tag(name, args)
    trained = train_or_reuse(name, tag, "vae", args)
    if trained is None:
        return {}
    cfg, train, test, tcfg, out, train_s = trained
    run = ig.load_run(out)
    model = run.model
    n = max(args.n, 64)  # --n 0: only the 64 samples of the picture, no FID
    labels = default_labels(model, n)
    options = dict(cfg.get("sample", {}))
    search = None
    if args.temperatures:
        search = choose_temperature(run, train, args, options)
        options["temperature"] = search["chosen"]
    t = time.time()
    images = run.sample(n, seed=args.seed + 1, labels=labels, **options)
    sample_s = time.time() - t
    metrics = [m for m in args.metrics.split(",") if m] if args.n else []
    t = time.time()
    result = {"fid": None, "card": None}
    if metrics:
        result = score(images, test, metrics, labels, train)
        result.setdefault("fid", None)
    eval_s = time.time() - t
    elbo = evaluate_elbo(model, test, seed=args.seed)
    recon = reconstructions(model, test)
    rec = reconstruction_metrics(test.images, recon)
    rec_fid = None
    if args.reconstruction_fid:  # the floor of a latent prior (ldm) on this autoencoder
        m = min(args.reconstruction_fid, len(test))
        rec_fid = ig.evaluate(recon[:m], test, metrics=["fid"], progress=None)["fid"]
        print(f"reconstructions of {m} test images: FID {rec_fid:.2f}", flush=True)
    res = test.spec.resolution
    pics = {}
    scale = auto_scale(res)
    pics["samples"] = make_grid(images[:64], scale=scale)
    pics["reconstruct"] = reconstruction_grid(model, test, n=32, seed=args.seed)
    pics["interpolate"] = interpolation_grid(model, test, rows=8, seed=args.seed)
    if hasattr(model, "traverse"):
        pics["traverse"], dims = traversal_grid(model, test, seed=args.seed)
    files = save_pictures(pics, "vae", tag, {"model": name, "run": str(out)})
    state = json.loads((out / "config.json").read_text())
    record = {
        "benchmark": "vae_family",
        "data": args.data,
        "model": name,
        "commit": COMMIT_AT_START,
        "machine": machine(),
        "variant": args.variant,
        "command": f"python benchmarks/vae_family.py --data {args.data} --models {name} "
        + (f"--variant {args.variant} " if args.variant else "")
        + f"--minutes {args.minutes} --n {args.n}"
        + (f" --metrics '{args.metrics}'" if args.metrics != "fid" else "")
        + (f" --temperatures {args.temperatures} --select-n {args.select_n}" if search else "")
        + (f" --reconstruction-fid {args.reconstruction_fid}" if args.reconstruction_fid else ""),
        "minutes_budget": args.minutes,
        "train_seconds": round(train_s, 1),
        "steps": run.step,
        "images_seen": run.step * tcfg.batch_size,
        "sample_options": options,
        "temperature_search": search,
        "sample_seconds": round(sample_s, 1),
        "eval_seconds": round(eval_s, 1),
        "n_generated": args.n if result["fid"] is not None else 0,
        **{k: v for k, v in result.items() if k != "card"},
        **{f"test_{k}": v for k, v in rec.items()},
        "test_reconstruction_fid": rec_fid,
        **elbo,
        "card": result["card"],
        "model_config": state["model_config"],
        "train_config": state["train"],
        "train_precision": state.get("precision", state["train"]["precision"]),  # auto resolved
        "pictures": files,
    }
    if hasattr(model, "traverse"):
        record["traversal_dims"] = dims
    dest = ROOT / "benchmarks" / "results" / f"vae_{tag}.json"
    dest.write_text(json.dumps(record, indent=2, default=float) + "\n")
    fid = "-" if record["fid"] is None else f"{record['fid']:.2f}"
    print(
        f"{tag}: FID {fid}, -ELBO {elbo['elbo_nats']:.1f} nats "
        f"({elbo['elbo_bpd']:.3f} bits/dim), PSNR {rec['psnr']:.2f} dB after {run.step} steps",
        flush=True,
    )
    return record


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data", default="mnist", choices=["mnist", "cifar10"])
    p.add_argument("--models", default="vae,beta_vae,cvae,vqvae,hvae")
    p.add_argument(
        "--metrics", default="fid", help="beside FID (and acc): kid,pr need 12 min more features"
    )
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--n", type=int, default=10000, help="samples for FID (0: no FID)")
    p.add_argument("--variant", default="", help="use configs/<data>_<model>_<variant>.yaml")
    p.add_argument(
        "--temperatures", default="", help="e.g. 0.8,0.9,1.0: choose one on training images"
    )
    p.add_argument("--select-n", type=int, default=2000, help="samples per temperature tried")
    p.add_argument(
        "--reconstruction-fid",
        type=int,
        default=0,
        help="FID of this many test reconstructions against the test split (0: skip)",
    )
    add_run_args(p)
    args = p.parse_args()
    for name in args.models.split(","):
        run_one(name.strip(), args)
    subprocess.run(["python", str(ROOT / "benchmarks" / "report.py")], check=True)


if __name__ == "__main__":
    main()
