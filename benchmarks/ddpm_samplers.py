"""Benchmark: one trained DDPM run, FID-N per sampler and step count.

    python benchmarks/ddpm_samplers.py --run benchmarks/out/mnist_ddpm \
        --samplers dpm:20,dpm:20:karras,dpm:50,ddim:50,ddpm:100 --n 1000

Samples ``--n`` images (EMA weights, seed 1) from the run with each ``KIND:STEPS[:SPACING]`` (the
spacing, "trailing" or "karras", defaults to the model's ``sample_spacing``) and scores them
with FID against the MNIST test set, timing the sampling. FID-1k is biased upwards against FID-10k:
compare the rows with each other only. Writes benchmarks/results/ddpm_samplers.json (rows of
earlier runs on the same checkpoint are kept, each with its commit); report.py renders it into
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import imagegen as ig

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, commit, machine  # noqa: E402

COMMIT_AT_START = commit()


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--run", default=str(ROOT / "benchmarks" / "out" / "mnist_ddpm"))
    p.add_argument("--samplers", default="dpm:20,dpm:50,ddim:50,ddpm:100")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    args = p.parse_args()
    test = ig.load_dataset("mnist", split="test", data_root=args.data_root)
    run = ig.load_run(args.run)
    rows = []
    for spec in args.samplers.split(","):
        kind, steps, *spacing = spec.split(":")  # KIND:STEPS[:SPACING]
        options = {"spacing": spacing[0]} if spacing else {}
        t = time.perf_counter()
        images = run.sample(args.n, seed=1, sampler=kind, steps=int(steps), **options)
        sample_s = time.perf_counter() - t
        fid = ig.evaluate(images, test, metrics=["fid"])["fid"]
        rows.append(
            {
                "sampler": kind,
                "steps": int(steps),
                **options,
                "fid": round(fid, 2),
                "sample_images_per_second": round(args.n / sample_s, 1),
                "commit": COMMIT_AT_START,
            }
        )
        print(rows[-1], flush=True)
    dest = ROOT / "benchmarks" / "results" / "ddpm_samplers.json"
    if dest.is_file():  # keep the other rows measured on the same checkpoint
        old = json.loads(dest.read_text())
        if (old["run"], old["run_step"], old["n"]) == (args.run, run.step, args.n):

            def key(r):
                return r["sampler"], r["steps"], r.get("spacing")

            done = {key(r) for r in rows}
            rows = [r for r in old["rows"] if key(r) not in done] + rows
    rec = {
        "benchmark": "ddpm_samplers",
        "run": args.run,
        "commit": COMMIT_AT_START,
        "machine": machine(),
        "command": f"python benchmarks/ddpm_samplers.py --run {os.path.relpath(args.run, ROOT)} "
        f"--samplers SAMPLERS --n {args.n}",
        "run_step": run.step,
        "model_config": run.config["model_config"],
        "n": args.n,
        "rows": rows,
    }
    dest.write_text(json.dumps(rec, indent=2) + "\n")
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "report.py")], check=True)


if __name__ == "__main__":
    main()
