"""Benchmark: DDPM training recipes on MNIST at a fixed number of steps, FID-1k at checkpoints.

    python benchmarks/ddpm_recipes.py RECIPE [RECIPE ...] [--n 1000] [--sampler dpm:20] [--reuse]

Recipes are named in benchmarks/configs/ddpm_recipes.yaml (model config, train config, steps,
checkpoints to score). Each trains on the 60,000 MNIST training images for its number of steps
(a fixed step count, not a time budget, so runs compare whatever else the machine is doing), then
samples ``--n`` images at each chosen checkpoint (EMA weights, and the raw weights at the last one)
and scores them with FID against the MNIST test set. FID-1k is biased upwards against FID-10k and is
only for comparing recipes with each other. Appends one line per recipe to
benchmarks/results/ddpm_recipes.jsonl and writes sample grids to benchmarks/out/.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import yaml

import imagegen as ig
from imagegen.viz import make_grid, save_png

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, commit, machine  # noqa: E402

COMMIT_AT_START = commit()


def run_recipe(name: str, recipe: dict, args: argparse.Namespace) -> dict:
    train = ig.load_dataset("mnist", split="train", data_root=args.data_root)
    test = ig.load_dataset("mnist", split="test", data_root=args.data_root)
    model = ig.create_model("ddpm", train.spec, recipe["model"], seed=0)
    out = Path(args.out) / f"recipe_{name}"
    steps = int(recipe["steps"])
    cfg = ig.TrainConfig.from_dict(
        {
            "batch_size": 64,
            "log_every": 50,
            "sample_every": 0,
            "ckpt_every": steps // 4,
            "keep_last": 20,
            **recipe.get("train", {}),
            "steps": steps,
        }
    )
    t0 = time.time()
    if args.reuse:  # score the run trained earlier with another sampler
        last = sorted((out / "checkpoints").glob("step_*/state.json"))[-1]
        train_s = json.loads(last.read_text())["elapsed"]
    else:
        shutil.rmtree(out, ignore_errors=True)
        ig.train(model, train, out, cfg, progress=False)
        train_s = time.time() - t0
    res = {
        "recipe": name,
        "commit": COMMIT_AT_START,
        "machine": machine(),
        "model": recipe["model"],
        "train": recipe.get("train", {}),
        "steps": steps,
        "train_seconds": round(train_s),
        "sampler": args.sampler,
        "n": args.n,
        "fid": {},
    }
    sampler, k, *spacing = args.sampler.split(":")  # KIND:STEPS[:SPACING]
    options = {"spacing": spacing[0]} if spacing else {}
    for step in recipe.get("eval_at", [steps]):
        for ema in (True, False) if step == steps else (True,):
            run = ig.load_run(out, checkpoint=f"step_{step:07d}", ema=ema)
            images = run.sample(args.n, seed=1, sampler=sampler, steps=int(k), **options)
            key = f"{step}" + ("" if ema else " raw")
            res["fid"][key] = round(ig.evaluate(images, test)["fid"], 2)
            save_png(
                out / f"samples_{key.replace(' ', '_')}.png", make_grid(images[:64], scale=3), {}
            )
            print(name, key, res["fid"][key], flush=True)
    with open(ROOT / "benchmarks" / "results" / "ddpm_recipes.jsonl", "a") as f:
        f.write(json.dumps(res) + "\n")
    return res


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("recipes", nargs="+")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--sampler", default="dpm:20", help="KIND:STEPS[:SPACING], e.g. dpm:20:karras")
    p.add_argument("--reuse", action="store_true", help="score the run in --out, do not train")
    p.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "out"))
    args = p.parse_args()
    recipes = yaml.safe_load((ROOT / "benchmarks" / "configs" / "ddpm_recipes.yaml").read_text())
    for name in args.recipes:
        if name not in recipes:
            sys.exit(f"unknown recipe {name}: choose from {', '.join(recipes)}")
        run_recipe(name, recipes[name], args)


if __name__ == "__main__":
    main()
