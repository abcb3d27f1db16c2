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
from common import ROOT, commit, machine  # noqa: E402

COMMIT_AT_START = commit()  # the code that runs is the code checked out when the benchmark started


def run_one(name: str, args: argparse.Namespace) -> dict:
    cfg = yaml.safe_load((ROOT / "benchmarks" / "configs" / f"mnist_{name}.yaml").read_text())
    train = ig.load_dataset("mnist", split="train", data_root=args.data_root)
    test = ig.load_dataset("mnist", split="test", data_root=args.data_root)
    out = Path(args.out) / f"mnist_{name}"
    tcfg = ig.TrainConfig.from_dict(
        {**cfg.get("train", {}), "minutes": args.minutes, "steps": None, "seed": args.seed}
    )
    model = ig.create_model(name, train.spec, cfg.get("model", {}), seed=args.seed)
    t0 = time.time()
    ig.train(model, train, out, tcfg, progress=True)
    train_s = time.time() - t0
    run = ig.load_run(out)
    t1 = time.time()
    images = run.sample(args.n, seed=args.seed + 1)
    sample_s = time.time() - t1
    result = ig.evaluate(images, test, metrics=["fid"], progress=None)
    grid = make_grid(images[:64], scale=auto_scale(28))
    img = ROOT / "docs" / "img" / f"mnist_{name}.png"
    save_png(img, grid, {"model": name, "run": str(out), "seed": args.seed + 1})
    state = json.loads((out / "config.json").read_text())
    rec = {
        "benchmark": "mnist_fid",
        "model": name,
        "commit": COMMIT_AT_START,
        "machine": machine(),
        "command": f"python benchmarks/mnist_fid.py --models {name} --minutes {args.minutes} --n {args.n}",
        "minutes_budget": args.minutes,
        "train_seconds": round(train_s, 1),
        "steps": run.step,
        "images_seen": run.step * tcfg.batch_size,
        "sample_seconds": round(sample_s, 1),
        "samples_per_second": round(args.n / sample_s, 1),
        "fid": round(result["fid"], 3),
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
    args = p.parse_args()
    for name in args.models.split(","):
        run_one(name.strip(), args)
    subprocess.run(["python", str(ROOT / "benchmarks" / "report.py")], check=True)


if __name__ == "__main__":
    main()
