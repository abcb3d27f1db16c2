"""Benchmark: train each model on MNIST for a fixed wall-time budget, then FID-N against the test set.

    python benchmarks/mnist_fid.py --models dcgan,vae,ddpm --minutes 20 --n 10000 \
        --data-root ../shared/data

Each model writes benchmarks/results/mnist_<model>.json (commit, machine, config, budget, images seen,
FID and its metric card) and a sample grid under docs/img/; docs/benchmarks.md is then rebuilt from
every results file by benchmarks/report.py. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

import imagegen as ig
from imagegen.viz import auto_scale, make_grid, save_png

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, commit, machine, reuse_budget  # noqa: E402

COMMIT_AT_START = commit()  # the code that runs is the code checked out when the benchmark started


def run_one(name: str, args: argparse.Namespace) -> dict:
    """Train (unless ``--reuse``), sample, score; write the results file. {} with --train-only."""
    cfg = yaml.safe_load((ROOT / "benchmarks" / "configs" / f"mnist_{name}.yaml").read_text())
    train = ig.load_dataset("mnist", split="train", data_root=args.data_root)
    test = ig.load_dataset("mnist", split="test", data_root=args.data_root)
    out = Path(args.out) / f"mnist_{name}"
    reuse_budget(out, args)
    tcfg = ig.TrainConfig.from_dict(
        {**cfg.get("train", {}), "minutes": args.minutes, "steps": None, "seed": args.seed}
    )
    if not (args.reuse and (out / "checkpoints").is_dir()):
        model = ig.create_model(name, train.spec, cfg.get("model", {}), seed=args.seed)
        ig.train(model, train, out, tcfg, progress=True)
    if args.train_only:
        return {}
    # the trainer's own clock: training time only (periodic evaluation excluded)
    last = sorted((out / "checkpoints").glob("step_*/state.json"))[-1]
    train_s = json.loads(last.read_text())["elapsed"]
    run = ig.load_run(out)
    options = {}
    if args.sampler:
        kind, steps = args.sampler.split(":")
        options = {"sampler": kind, "steps": int(steps)}
    t1 = time.time()
    images = run.sample(args.n, seed=args.seed + 1, **options)
    sample_s = time.time() - t1
    t2 = time.time()
    result = ig.evaluate(images, test, metrics=["fid"], progress=None)
    fid_s = time.time() - t2
    grid = make_grid(images[:64], scale=auto_scale(28))
    img = ROOT / "docs" / "img" / f"mnist_{name}.png"
    save_png(img, grid, {"model": name, "run": str(out), "seed": args.seed + 1})
    state = json.loads((out / "config.json").read_text())
    rec = {
        "benchmark": "mnist_fid",
        "model": name,
        "commit": COMMIT_AT_START,
        "machine": machine(),
        "command": f"python benchmarks/mnist_fid.py --models {name} --minutes {args.minutes} "
        f"--n {args.n}" + (f" --sampler {args.sampler}" if args.sampler else ""),
        "sampler": args.sampler or "model default",
        "minutes_budget": args.minutes,
        "train_seconds": round(train_s, 1),
        "steps": run.step,
        "images_seen": run.step * tcfg.batch_size,
        "sample_seconds": round(sample_s, 1),
        "samples_per_second": round(args.n / sample_s, 1),
        "fid": round(result["fid"], 3),
        "fid_seconds": round(fid_s, 1),
        "n_generated": args.n,
        "card": result["card"],
        "model_config": state["model_config"],
        "train_config": state["train"],
        "grid": str(img.relative_to(ROOT)),
    }
    dest = ROOT / "benchmarks" / "results" / f"mnist_{name}.json"
    dest.write_text(json.dumps(rec, indent=2) + "\n")
    print(
        f"{name}: FID {rec['fid']:.2f} after {rec['steps']} steps ({rec['images_seen']} images)",
        flush=True,
    )
    return rec


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--models", default="dcgan,vae,ddpm")
    p.add_argument("--minutes", type=float, default=20.0)
    p.add_argument("--n", type=int, default=10000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "out"))
    p.add_argument("--sampler", default="", help="ddpm only: KIND:STEPS, e.g. dpm:20, ddpm:100")
    p.add_argument("--train-only", action="store_true", help="train, score later with --reuse")
    p.add_argument(
        "--reuse", action="store_true", help="evaluate the run already in --out, do not train"
    )
    args = p.parse_args()
    for name in args.models.split(","):
        run_one(name.strip(), args)
    subprocess.run(["python", str(ROOT / "benchmarks" / "report.py")], check=True)


if __name__ == "__main__":
    main()
