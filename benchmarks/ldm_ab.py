"""Benchmark: short A/B runs of latent-diffusion priors at an equal time budget.

    python benchmarks/ldm_ab.py deep4 --base lean_b32 --set model.layers_per_block=4
    python benchmarks/ldm_ab.py lr3 --base lean_deep --set model.lr=0.003 --minutes 5
    python benchmarks/ldm_ab.py c_b64 --data cifar10 --base cond --set train.batch_size=64 \
        --minutes 12 --guidance 2 --reference train

Each run trains benchmarks/configs/<--data>_ldm_<--base>.yaml with the --set overrides for
--minutes (--seed, default 0), then draws --n samples (seed 1; a conditional model's labels cycle
through the classes) with --sampler at --guidance and scores FID-n against the test set, or with
--reference train against SELECT_REF training images (a choice made on the test set would tune
to it). FID-2k is biased upwards against FID-10k and only compares variants with each other; a
rerun at another --seed shows how far two runs of one variant differ. A short budget favours
variants that learn fast, so a winner still needs its full-length run
(benchmarks/diffusion_family.py). Appends one line to benchmarks/results/ldm_ab.jsonl; runs go to
benchmarks/out/ab_<NAME>.

--run DIR scores a run trained elsewhere (e.g. a full hour of diffusion_family.py) the same way,
without training; its record takes the budget and config from the run's own config.json:

    python benchmarks/ldm_ab.py l1_60 --data cifar10 --guidance 2 --reference train \
        --run benchmarks/out/diffusion_cifar10_ldm_cond_l1 --set model.sample_precision=bf16

With --run, --guide step_0004000 autoguides by one of the run's own checkpoints (or by another
run folder) in place of classifier-free guidance, and --interval LO:HI guides only the steps
whose sigma lies in (LO, HI] (Kynkäänniemi et al. 2024).
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
from imagegen.sampling.generate import default_labels

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, SELECT_REF, commit, guide_folder, machine, score  # noqa: E402

COMMIT_AT_START = commit()
RESULTS = ROOT / "benchmarks" / "results" / "ldm_ab.jsonl"


def parse_set(items: list[str]) -> dict[str, dict]:
    """["model.lr=0.003", "train.batch_size=64"] -> {"model": {...}, "train": {...}}."""
    over: dict[str, dict] = {"model": {}, "train": {}}
    for item in items:
        key, sep, value = item.partition("=")
        section, _, name = key.partition(".")
        if not sep or section not in over or not name:
            sys.exit(f"--set {item!r} is not SECTION.KEY=VALUE: e.g. model.layers_per_block=4")
        over[section][name] = yaml.safe_load(value)
    return over


def trained_run(args: argparse.Namespace, train) -> tuple[Path, dict]:
    """(run folder, overrides) of --run, or of a fresh --minutes run of --base with --set."""
    over = parse_set(args.set)
    if args.run:
        out = Path(args.run)
        if not (out / "config.json").is_file() or not (out / "checkpoints").is_dir():
            sys.exit(f"--run {out} is not a trained run: name a folder with checkpoints/ in it")
        if over["train"] or set(over["model"]) - {"sample_precision"}:
            sys.exit("--run scores a trained run: only --set model.sample_precision=... applies")
        cfg = json.loads((out / "config.json").read_text())
        args.minutes = float(cfg["train"]["minutes"])
        args.seed = int(cfg["train"].get("seed") or 0)
        args.base = f"run:{out.name}"
        return out, over
    path = ROOT / "benchmarks" / "configs" / f"{args.data}_ldm_{args.base}.yaml"
    if not path.is_file():
        sys.exit(
            f"no config {path.name}: --base names benchmarks/configs/{args.data}_ldm_<BASE>.yaml"
        )
    cfg = yaml.safe_load(path.read_text())
    mcfg = {**cfg["model"], **over["model"]}
    tcfg = {
        **cfg["train"],
        **over["train"],
        "minutes": args.minutes,
        "steps": None,
        "seed": args.seed,
        "sample_every": 0,
        "ckpt_every": 0,
    }
    out = Path(args.out) / f"ab_{args.name}"
    shutil.rmtree(out, ignore_errors=True)
    model = ig.create_ldm(ROOT / mcfg["autoencoder_run"], train.spec, mcfg, seed=args.seed)
    ig.train(model, train, out, ig.TrainConfig.from_dict(tcfg), progress=True)
    return out, over


def run_variant(args: argparse.Namespace) -> dict:
    if args.guide_unconditional and not args.guide:
        sys.exit("--guide-unconditional needs --guide: the guide whose ∅ prediction to use")
    if args.guide and not args.run:
        sys.exit("--guide needs --run: an A/B run keeps no checkpoints to guide by")
    train = ig.load_dataset(args.data, split="train", data_root=args.data_root)
    out, over = trained_run(args, train)
    run = ig.load_run(out)
    kind, k = args.sampler.split(":")
    t0 = time.time()
    labels = default_labels(run.model, args.n)
    guidance = {} if args.guidance is None else {"guidance": args.guidance}
    # a --run keeps its own sample_precision unless --set names one
    precision = over["model"].get("sample_precision") if args.run else None
    opts = {**guidance, **({"precision": precision} if precision else {})}
    if args.guide:  # autoguidance by a checkpoint of this run, or by another run
        opts["guide"] = guide_folder(args.guide, out)
        if args.guide_unconditional:
            opts["guide_unconditional"] = True
    try:
        interval = [float(v) for v in args.interval.split(":")] if args.interval else []
    except ValueError:
        sys.exit(f"--interval {args.interval!r} is not LO:HI, e.g. 0.3:5")
    if interval:
        opts["guidance_interval"] = interval
    # the guide used: without --guide the run's model.guide_run or guide_at, if any. ``opts``
    # stays as given: run.sample resolves it again, and a resolved "none" would read as no --guide
    used = run.sampling_options(opts)
    guide = Path(used["guide"]).name if used.get("guide") else ""
    images = run.sample(args.n, seed=1, labels=labels, sampler=kind, steps=int(k), **opts)
    sample_s = time.time() - t0
    if args.reference == "train":
        scores = score(images, train, ["fid"], labels, train, n_ref=SELECT_REF)
    else:
        test = ig.load_dataset(args.data, split="test", data_root=args.data_root)
        scores = score(images, test, ["fid"], labels, train)
    res = {
        "name": args.name,
        "data": args.data,
        "base": args.base,
        "set": over,
        "commit": COMMIT_AT_START,
        "machine": machine(),
        "minutes": args.minutes,
        **({"seed": args.seed} if args.seed else {}),
        "steps": run.step,
        "sampler": args.sampler,
        **guidance,
        **({"guide": guide} if guide else {}),
        **({"guide_unconditional": True} if used.get("guide_unconditional") else {}),
        **({"guidance_interval": interval} if interval else {}),
        "n": args.n,
        "reference": args.reference,  # train: SELECT_REF training images
        "fid": round(scores["fid"], 2),
        **({"acc": round(float(scores["acc"]), 4)} if "acc" in scores else {}),
        "sample_images_per_second": round(args.n / sample_s, 1),
        "command": "python benchmarks/ldm_ab.py " + " ".join(sys.argv[1:]),
    }
    with open(RESULTS, "a") as f:
        f.write(json.dumps(res) + "\n")
    print(json.dumps(res), flush=True)
    return res


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("name", help="the variant's name (its run goes to benchmarks/out/ab_NAME)")
    p.add_argument("--data", default="mnist", choices=["mnist", "cifar10"])
    p.add_argument("--base", default="lean_b32", help="configs/<DATA>_ldm_<BASE>.yaml")
    p.add_argument("--set", nargs="*", default=[], help="SECTION.KEY=VALUE overrides")
    p.add_argument("--minutes", type=float, default=5.0)
    p.add_argument("--n", type=int, default=2000)
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="training seed (a rerun at another seed measures the noise)",
    )
    p.add_argument("--sampler", default="dpm:20", help="KIND:STEPS")
    p.add_argument("--guidance", type=float, default=None, help="default: the config's")
    p.add_argument("--reference", default="test", choices=["test", "train"])
    p.add_argument("--run", default=None, help="score this trained run instead of training one")
    p.add_argument(
        "--guide",
        default=None,
        help="with --run: autoguide by this checkpoint of the run (step_0004000) or run folder",
    )
    p.add_argument(
        "--guide-unconditional",
        action="store_true",
        help="with --guide: guide by the guide's prediction without the label (its ∅)",
    )
    p.add_argument("--interval", default=None, help="LO:HI: guide only where LO < sigma <= HI")
    p.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "out"))
    run_variant(p.parse_args())


if __name__ == "__main__":
    main()
