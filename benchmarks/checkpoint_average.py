"""Benchmark helper: a run folder whose final weights are the mean of a run's last K checkpoints.

    python benchmarks/checkpoint_average.py benchmarks/out/diffusion_cifar10_ldm_cond_l1 \
        benchmarks/out/avg8 --last 8
    python benchmarks/ldm_ab.py c4_avg8 --data cifar10 --reference train \
        --run benchmarks/out/avg8 --set model.sample_precision=bf16 --guidance 2

Asks whether a uniform average along the end of the trajectory (LAWA; a box-shaped cousin of
EDM2's post-hoc EMA) samples better than the last weights of a run trained with a linear decay to
zero. The new folder links the source's earlier checkpoints (so model.guide_at still finds its
guide) and writes the mean as the last checkpoint, through the trainer's own atomic writer. A
measurement tool, not a product feature: on CIFAR-10 it did not pay (docs/diffusion.md).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch

from imagegen.training import checkpoint as ckpt


def mean_weights(paths: list[Path]) -> dict[str, torch.Tensor]:
    """The element-wise mean of the checkpoints' model weights (float64 sums; others: the last)."""
    total: dict[str, torch.Tensor] = {}
    for path in paths:
        for name, v in ckpt.load_tensors(path, "model").items():
            if v.is_floating_point():
                total[name] = total.get(name, 0) + v.double()
            else:
                total[name] = v
    return {
        name: (v / len(paths)).float().contiguous() if v.is_floating_point() else v
        for name, v in total.items()
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path, help="source run folder")
    p.add_argument("out", type=Path, help="new run folder (replaced if it exists)")
    p.add_argument("--last", type=int, default=8, help="how many of the last checkpoints")
    args = p.parse_args()
    found = ckpt.list_checkpoints(args.run / "checkpoints")
    if not 1 <= args.last <= len(found):
        sys.exit(
            f"--last {args.last}: {args.run} keeps {len(found)} checkpoints; use 1..{len(found)}"
        )
    last = found[-args.last :]
    if args.out.exists():
        shutil.rmtree(args.out)
    root = args.out / "checkpoints"
    root.mkdir(parents=True)
    shutil.copy(args.run / "config.json", args.out / "config.json")
    for path in found[:-1]:
        (root / path.name).symlink_to(path.resolve())
    state = json.loads((found[-1] / "state.json").read_text())
    state["averaged"] = [path.name for path in last]
    ckpt.save_checkpoint(
        root, state["step"], {"model": mean_weights(last)}, state, keep_last=len(found)
    )
    print(f"{args.out}: mean of {', '.join(state['averaged'])}")


if __name__ == "__main__":
    main()
