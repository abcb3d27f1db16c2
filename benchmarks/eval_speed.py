"""Benchmark: FID feature-extractor throughput per execution path, and FID-10k wall time on MNIST.

    python benchmarks/eval_speed.py [--batches 3] [--approx-n 1000] [--fid-n 10000] [--data-root ../shared/data]

Paths compared on the same random 299x299 batches (batch 50):
- ``torchscript-nchw``: the shipped TorchScript file on NCHW input (plain fp32, the baseline);
- ``torchscript-cl``: the same file on channels_last input (imagegen's previous default);
- ``eager-cl-folded``: imagegen's default, the eager rebuild, batch norms folded into the
  convolutions, channels_last activations, fused conv+ReLU where oneDNN has it (exact);
- ``eager-cl-bf16``: the approximate mode (bf16 autocast); where the CPU emulates bf16 (far
  slower) only the first 10 images of each batch are timed.
Each row records the largest feature difference relative to the baseline. Then the FID deviation
of the approximate mode: FID of ``--approx-n`` MNIST training images (``--approx-n-slow`` where
bf16 is emulated), clean and with added noise, against as many MNIST test images, once with
exact and once with approximate features on both sides. With ``--fid-n N`` > 0, FID of the first N MNIST training
images against the test set is also timed end to end through ``imagegen.evaluate`` (reference
statistics cached beforehand, as in everyday use); benchmarks/mnist_fid.py records the same
wall time for each model's FID-10k. Writes benchmarks/results/eval_speed.json;
benchmarks/report.py renders it into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

import imagegen as ig
from imagegen import devices
from imagegen.metrics import FeatureStats, InceptionFeatures, frechet_distance, reference_stats
from imagegen.metrics.inception import _load_network, default_weights_path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, commit, machine  # noqa: E402

COMMIT_AT_START = commit()


def throughput(fn, batches: list[torch.Tensor]) -> tuple[float, torch.Tensor]:
    """Images/s of ``fn`` over ``batches`` after a warm-up on the first (same shape: oneDNN builds
    its kernels per shape, the TorchScript executor optimises on its first calls), and its outputs."""
    with torch.inference_mode():
        fn(batches[0])
        fn(batches[0])
        t = time.perf_counter()
        out = torch.cat([fn(b).float() for b in batches])
    return sum(len(b) for b in batches) / (time.perf_counter() - t), out


def fid(a: np.ndarray, b: np.ndarray) -> float:
    sa, sb = FeatureStats.from_features(a), FeatureStats.from_features(b)
    return frechet_distance(sa.mu, sa.sigma, sb.mu, sb.sigma)


def image_sets(n: int, data_root: str) -> list[np.ndarray]:
    """n MNIST test images (reference), training images, and noisy training images (``limit``:
    class-balanced, the same images every run)."""
    test = ig.load_dataset("mnist", split="test", data_root=data_root, limit=n).images
    clean = ig.load_dataset("mnist", split="train", data_root=data_root, limit=n).images
    noise = np.random.default_rng(0).normal(0, 48, clean.shape)
    return [test, clean, np.clip(clean + noise, 0, 255).round().astype(np.uint8)]


def features(precision: str, sets: list[np.ndarray]) -> list[np.ndarray]:
    ext = InceptionFeatures(precision=precision)
    t = time.perf_counter()
    out = [ext.extract(x) for x in sets]
    print(f"{precision}: {sum(map(len, sets)) / (time.perf_counter() - t):.2f} img/s", flush=True)
    return out


def deviation(mode: str, n: int, sets: list[np.ndarray], exact: list[np.ndarray]) -> dict:
    """FID with exact vs ``mode`` features (both sides), for a close and a far set of images."""
    approx = features(mode, [x[:n] for x in sets])
    exact = [f[:n] for f in exact]
    rows = []
    for i, name in ((1, "MNIST train"), (2, "MNIST train + N(0, 48^2) noise")):
        e, a = fid(exact[0], exact[i]), fid(approx[0], approx[i])
        rows.append(
            {
                "set": name,
                "fid_exact": round(e, 3),
                "fid_approx": round(a, 3),
                "deviation": round(a - e, 3),
                "relative": round((a - e) / e, 4),
            }
        )
        print(mode, rows[-1], flush=True)
    return {"mode": mode, "n": n, "rows": rows}


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--batches", type=int, default=3)
    p.add_argument("--approx-n", type=int, default=1000)
    p.add_argument(
        "--approx-n-slow", type=int, default=200, help="images per set for emulated bf16"
    )
    p.add_argument("--fid-n", type=int, default=0)
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
        ref = base
        if out is not None and out.shape != base.shape:  # the first k images of each batch
            k = len(out) // len(batches)
            ref = torch.cat([chunk[:k] for chunk in base.split(len(batches[0]))])
        rel = None if out is None else float((out - ref).abs().max() / ref.abs().max())
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
    add("eager-cl-folded", *throughput(eager, cl), "imagegen default (exact)")
    slow = devices.bf16_is_slow(torch.device("cpu"))

    def bf16(x: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return eager(x)

    note = "approximate mode"
    if slow:  # emulated: a few images say enough
        note += f" (emulated on this CPU: bf16 matmul {1 / devices.cpu_bf16_speedup():.0f}x slower)"
    add("eager-cl-bf16", *throughput(bf16, [b[:10] for b in cl] if slow else cl), note)

    n_approx = min(args.approx_n_slow, args.approx_n) if slow else args.approx_n
    sets = image_sets(n_approx, args.data_root)
    approximate = [deviation("bf16", n_approx, sets, features("fp32", sets))]
    fid = fid_seconds = None
    if args.fid_n > 0:
        train = ig.load_dataset("mnist", split="train", data_root=args.data_root, limit=args.fid_n)
        test = ig.load_dataset("mnist", split="test", data_root=args.data_root)
        reference_stats(test, InceptionFeatures())  # cached once, as in everyday use
        t = time.perf_counter()
        fid = round(ig.evaluate(train.images, test)["fid"], 4)
        fid_seconds = round(time.perf_counter() - t, 1)
        print(f"FID-{args.fid_n} of MNIST train vs test: {fid:.3f} in {fid_seconds:.0f} s")
    rec = {
        "benchmark": "eval_speed",
        "commit": COMMIT_AT_START,
        "machine": machine(),
        "command": f"python benchmarks/eval_speed.py --batches {args.batches} "
        f"--approx-n {args.approx_n} --approx-n-slow {args.approx_n_slow} --fid-n {args.fid_n}",
        "rows": rows,
        "approximate": approximate,
        "fid_n": args.fid_n,
        "fid_train_vs_test": fid,
        "fid_seconds": fid_seconds,
    }
    (ROOT / "benchmarks" / "results" / "eval_speed.json").write_text(
        json.dumps(rec, indent=2) + "\n"
    )
    import subprocess

    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "report.py")], check=True)


if __name__ == "__main__":
    main()
