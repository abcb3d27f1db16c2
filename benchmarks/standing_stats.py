"""Benchmark: what standing statistics change on one trained GAN run.

    python benchmarks/standing_stats.py benchmarks/out/gan_mnist_biggan --data mnist --n 2000

Samples the run's EMA generator twice with the same seeds and labels: once with the batch-norm
statistics the live generator gathered during training (what sampling used before standing
statistics), once with the statistics re-estimated for the EMA weights (what the trainer saves).
Scores both against the test split (FID, precision/recall, and conditional accuracy for
class-conditional models) and writes benchmarks/results/standing_stats_<run>.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import imagegen as ig
from imagegen.models.gan.adversarial import batch_norms
from imagegen.sampling.generate import default_labels

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, commit, machine, score  # noqa: E402


def live_statistics(run_dir: Path):
    """The run's EMA generator carrying the live generator's batch-norm buffers."""
    run = ig.load_run(run_dir)
    live = ig.load_run(run_dir, ema=False).model
    for ema_norm, live_norm in zip(batch_norms(run.model.G), batch_norms(live.G), strict=True):
        for name, buf in live_norm.named_buffers():
            getattr(ema_norm, name).copy_(buf)
    return run


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("run", help="a GAN run folder with EMA weights")
    p.add_argument("--data", default="mnist", choices=["mnist", "cifar10"])
    p.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    run_dir = Path(args.run)
    test = ig.load_dataset(args.data, split="test", data_root=args.data_root)
    runs = {
        "live statistics": live_statistics(run_dir),
        "standing statistics": ig.load_run(run_dir),
    }
    train = None  # the conditional accuracy's classifier trains on it
    if runs["standing statistics"].model.conditional:
        train = ig.load_dataset(args.data, split="train", data_root=args.data_root)
    scores = {}
    for kind, run in runs.items():
        labels = default_labels(run.model, args.n)
        images = run.sample(args.n, seed=args.seed, labels=labels)
        result = score(images, test, ["fid", "pr"], labels, train)
        scores[kind] = {k: v for k, v in result.items() if k != "card"}
        print(kind, {k: round(v, 4) for k, v in scores[kind].items()}, flush=True)
    record = {
        "benchmark": "standing_stats",
        "run": str(run_dir),
        "model": runs["standing statistics"].model.name,
        "step": runs["standing statistics"].step,
        "commit": commit(),
        "machine": machine(),
        "command": f"python benchmarks/standing_stats.py {args.run} --data {args.data} "
        f"--n {args.n}",
        "n_generated": args.n,
        "scores": scores,
    }
    dest = ROOT / "benchmarks" / "results" / f"standing_stats_{run_dir.name}.json"
    dest.write_text(json.dumps(record, indent=2, default=float) + "\n")
    print(f"wrote {dest.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
