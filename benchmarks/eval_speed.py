"""Benchmark: FID feature-extractor throughput per execution path, and FID-10k wall time on MNIST.

    python benchmarks/eval_speed.py [--batches 3] [--fid-n 10000] [--data-root ../shared/data]

Paths compared on the same random 299x299 batches (batch 50):
- ``torchscript-nchw``: the shipped TorchScript file on NCHW input (plain fp32, the baseline);
- ``torchscript-cl``: the same file on channels_last input (imagegen's previous default);
- ``eager-cl``: imagegen's default, the eager rebuild with channels_last activations (exact);
- ``eager-cl-bf16``: the approximate mode (bf16 autocast), measured only where the CPU has native
  bf16 (elsewhere it is emulated and hundreds of times slower, which the JSON says).
Each row records the largest feature difference relative to the baseline. Then FID of the first
``--fid-n`` MNIST training images against the MNIST test set is timed end to end through
``imagegen.evaluate`` (reference statistics cached beforehand, as in everyday use). Writes
benchmarks/results/eval_speed.json; benchmarks/report.py renders it into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

import imagegen as ig
from imagegen import devices
from imagegen.metrics import InceptionFeatures, reference_stats
from imagegen.metrics.inception import _load_network, default_weights_path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, commit, machine  # noqa: E402

COMMIT_AT_START = commit()


def throughput(fn, batches: list[torch.Tensor]) -> tuple[float, torch.Tensor]:
    """Images/s of ``fn`` over ``batches`` after one warm-up batch, and its outputs."""
    with torch.inference_mode():
        fn(batches[0][:2])
        t = time.perf_counter()
        out = torch.cat([fn(b).float() for b in batches])
    return sum(len(b) for b in batches) / (time.perf_counter() - t), out


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--batches", type=int, default=3)
    p.add_argument("--fid-n", type=int, default=10000)
    p.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    args = p.parse_args()

    g = torch.Generator().manual_seed(0)
    batches = [torch.rand(50, 3, 299, 299, generator=g) * 1.99 - 1 for _ in range(args.batches)]
    cl = [b.contiguous(memory_format=torch.channels_last) for b in batches]
    script = torch.jit.load(str(default_weights_path())).eval()
    eager = _load_network(str(default_weights_path()), "cpu")
    rows = []
    base_ips, base = throughput(script, batches)

    def add(path: str, ips: float, out: torch.Tensor | None, note: str = "") -> None:
        rel = None if out is None else float((out - base).abs().max() / base.abs().max())
        rows.append(
            {
                "path": path,
                "images_per_second": round(ips, 2),
                "speedup": round(ips / base_ips, 2),
                "max_rel_diff": rel,
                "note": note,
            }
        )
        print(rows[-1], flush=True)

    add("torchscript-nchw", base_ips, base, "baseline: plain fp32 NCHW")
    add("torchscript-cl", *throughput(script, cl))
    add("eager-cl", *throughput(eager, cl), "imagegen default (exact)")
    if devices.bf16_is_slow(torch.device("cpu")):
        rows.append(
            {
                "path": "eager-cl-bf16",
                "images_per_second": None,
                "speedup": None,
                "max_rel_diff": None,
                "note": f"not measured: bf16 is emulated on this CPU "
                f"(matmul {1 / devices.cpu_bf16_speedup():.0f}x slower than fp32)",
            }
        )
    else:

        def bf16(x: torch.Tensor) -> torch.Tensor:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return eager(x)

        add("eager-cl-bf16", *throughput(bf16, cl), "approximate mode")

    train = ig.load_dataset("mnist", split="train", data_root=args.data_root, limit=args.fid_n)
    test = ig.load_dataset("mnist", split="test", data_root=args.data_root)
    reference_stats(test, InceptionFeatures())  # cached once, as in everyday use
    t = time.perf_counter()
    fid = ig.evaluate(train.images, test)["fid"]
    fid_seconds = time.perf_counter() - t
    print(f"FID-{args.fid_n} of MNIST train vs test: {fid:.3f} in {fid_seconds:.0f} s", flush=True)
    rec = {
        "benchmark": "eval_speed",
        "commit": COMMIT_AT_START,
        "machine": machine(),
        "command": f"python benchmarks/eval_speed.py --batches {args.batches} --fid-n {args.fid_n}",
        "rows": rows,
        "fid_n": args.fid_n,
        "fid_train_vs_test": round(fid, 4),
        "fid_seconds": round(fid_seconds, 1),
    }
    (ROOT / "benchmarks" / "results" / "eval_speed.json").write_text(
        json.dumps(rec, indent=2) + "\n"
    )
    import subprocess

    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "report.py")], check=True)


if __name__ == "__main__":
    main()
