"""Benchmark: the GAN family on MNIST (and the best GAN on CIFAR-10) with a wall-time budget each.

    python benchmarks/gan_family.py --data mnist --models dcgan,wgan_gp,cgan,sngan,sagan,biggan,stylegan,pggan \
        --minutes 30 --n 10000
    python benchmarks/gan_family.py --data cifar10 --models sagan --minutes 60 --n 10000

Per model: train with benchmarks/configs/<data>_<model>[_<variant>].yaml for --minutes, then FID,
KID and precision/recall of N samples (seed 1; balanced classes for conditional models, with
their conditional accuracy) against the test split, and sample / interpolation (/ truncation /
style-mixing) grids under docs/img/. Writes benchmarks/results/gan_<tag>.json, then rebuilds
docs/benchmarks.md. Not part of the test suite. --train-only then --reuse splits training from
scoring.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import imagegen as ig
from imagegen.sampling.gan_pictures import gan_interpolation_grid, style_mix_grid, truncation_grid
from imagegen.sampling.generate import default_labels
from imagegen.viz import auto_scale, make_grid

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    ROOT,
    add_run_args,
    commit,
    machine,
    run_tag,
    save_pictures,
    score,
    train_or_reuse,
)

COMMIT_AT_START = commit()


def pictures(model, tag: str, images) -> dict[str, str]:
    """Sample, interpolation and (where the model has them) truncation and style-mixing grids."""
    pics = {"samples": make_grid(images[:64], scale=auto_scale(model.spec.resolution))}
    pics["interpolate"] = gan_interpolation_grid(model, rows=8)
    if "truncation" in model.sample_options():
        pics["truncation"] = truncation_grid(model, rows=8)[0]
    if hasattr(model, "styles"):
        pics["style_mix"] = style_mix_grid(model, n=6)[0]
    return save_pictures(pics, "gan", tag, {"model": model.name})


def run_one(name: str, args: argparse.Namespace) -> dict:
    tag = run_tag(name, args)
    trained = train_or_reuse(name, tag, "gan", args)
    if trained is None:
        return {}
    cfg, train, test, tcfg, out, train_s = trained
    run = ig.load_run(out)
    model = run.model
    labels = default_labels(model, args.n)
    t = time.time()
    images = run.sample(args.n, seed=args.seed + 1, labels=labels, **cfg.get("sample", {}))
    sample_s = time.time() - t
    t = time.time()
    result = score(images, test, [m for m in args.metrics.split(",") if m], labels, train)
    eval_s = time.time() - t
    state = json.loads((out / "config.json").read_text())
    record = {
        "benchmark": "gan_family",
        "data": args.data,
        "model": name,
        "variant": args.variant,
        "commit": COMMIT_AT_START,
        "machine": machine(),
        "command": f"python benchmarks/gan_family.py --data {args.data} --models {name} "
        + (f"--variant {args.variant} " if args.variant else "")
        + f"--minutes {args.minutes} --n {args.n} --metrics {args.metrics}",
        "minutes_budget": args.minutes,
        "train_seconds": round(train_s, 1),
        "steps": run.step,
        "images_seen": run.step * tcfg.batch_size,
        "sample_options": cfg.get("sample", {}),
        "sample_seconds": round(sample_s, 1),
        "standing_statistics": True,  # the EMA G's batch-norm statistics re-estimated for it
        "eval_seconds": round(eval_s, 1),
        "n_generated": args.n,
        **{k: v for k, v in result.items() if k != "card"},
        "card": result["card"],
        "model_config": state["model_config"],
        "train_config": state["train"],
        "train_precision": state.get("precision", state["train"]["precision"]),  # auto resolved
        "pictures": pictures(model, tag, images),
    }
    dest = ROOT / "benchmarks" / "results" / f"gan_{tag}.json"
    dest.write_text(json.dumps(record, indent=2, default=float) + "\n")
    print(f"{tag}: FID {record['fid']:.2f} after {run.step} steps", flush=True)
    return record


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data", default="mnist", choices=["mnist", "cifar10"])
    p.add_argument("--models", default="dcgan,wgan_gp,cgan,sngan,sagan,biggan,stylegan,pggan")
    p.add_argument(
        "--metrics",
        default="fid,kid,pr",
        help="kid and pr need the reference features (computed once, then cached)",
    )
    p.add_argument("--variant", default="", help="use configs/<data>_<model>_<variant>.yaml")
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--n", type=int, default=10000)
    add_run_args(p)
    args = p.parse_args()
    for name in args.models.split(","):
        run_one(name.strip(), args)
    subprocess.run(["python", str(ROOT / "benchmarks" / "report.py")], check=True)


if __name__ == "__main__":
    main()
