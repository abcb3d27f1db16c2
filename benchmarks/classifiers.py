"""Benchmark: the conditional-accuracy classifier of each built-in dataset, trained from scratch.

    python benchmarks/classifiers.py [--datasets digits,shapes,mnist,cifar10] [--steps 1000]

Trains the SmallCNN that ``imagegen eval --metrics acc`` uses (in a temporary cache, so every run
trains) and reports its accuracy on the held-out split and the training time. Writes
benchmarks/results/classifiers.json; report.py renders it into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import imagegen as ig
from imagegen.metrics import dataset_classifier

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, commit, machine  # noqa: E402

COMMIT_AT_START = commit()


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--datasets", default="digits,shapes,mnist,cifar10")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    args = p.parse_args()
    rows = []
    for name in args.datasets.split(","):
        train = ig.load_dataset(name, "train", data_root=args.data_root)
        test = ig.load_dataset(name, "test", data_root=args.data_root)
        with tempfile.TemporaryDirectory() as cache:
            t = time.perf_counter()
            clf = dataset_classifier(train, test, steps=args.steps, cache_dir=cache)
            seconds = time.perf_counter() - t
        rows.append(
            {
                "dataset": name,
                "shape": f"{train.spec.resolution}x{train.spec.resolution}x{train.spec.channels}",
                "classes": train.spec.num_classes,
                "n_train": len(train),
                "n_test": len(test),
                "test_accuracy": round(clf.test_accuracy, 4),
                "train_seconds": round(seconds, 1),
            }
        )
        print(rows[-1], flush=True)
    rec = {
        "benchmark": "classifiers",
        "commit": COMMIT_AT_START,
        "machine": machine(),
        "command": f"python benchmarks/classifiers.py --datasets {args.datasets} "
        f"--steps {args.steps}",
        "steps": args.steps,
        "rows": rows,
    }
    (ROOT / "benchmarks" / "results" / "classifiers.json").write_text(
        json.dumps(rec, indent=2) + "\n"
    )
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "report.py")], check=True)


if __name__ == "__main__":
    main()
