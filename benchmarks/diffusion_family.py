"""Benchmark: diffusion models (ddpm, class-conditional with guidance, ldm) with a wall-time budget.

    python benchmarks/diffusion_family.py --data mnist --models ddpm --minutes 30 \
        --samplers dpm:50,dpm:10 --n 10000
    python benchmarks/diffusion_family.py --data mnist --models ddpm --variant cfg \
        --guidances 1,2,3 --n 10000
    python benchmarks/diffusion_family.py --data cifar10 --models ddpm --minutes 60

Per model: train with benchmarks/configs/<data>_<model>[_<variant>].yaml for --minutes, then for
each sampler KIND:STEPS draw N samples (seed 1; balanced classes for conditional models), timing
them (images/s on this machine), and score FID (and conditional accuracy) against the test split.
--guidances first picks the guidance scale by FID-<--select-n> against 5,000 training images
(never the test split), among the scales whose samples' accuracy reaches --min-acc; --guidance G
samples at a scale chosen that way before (say, for another run of the same config). Writes
benchmarks/results/diffusion_<tag>.json, sample grids, the denoising process and (guided models)
a guidance sweep under docs/img/, then rebuilds docs/benchmarks.md. Not part of the test suite.
--guide names a weaker model to guide by (autoguidance, Karras et al. 2024): another run, or one of
this run's checkpoints (step_0002000), which costs no training time; its scale comes from
--guidances (chosen on training images as above) or --guidance.
--train-only then --reuse splits training from scoring; --reuse on a run already scored adds the
new samplers' rows to its record, e.g. --samplers dpm:20:bf16 (the UNet under bf16 autocast while
sampling).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import imagegen as ig
from imagegen.sampling.diffusion_pictures import denoising_strip, guidance_grid
from imagegen.sampling.generate import default_labels
from imagegen.viz import auto_scale, make_grid

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    ROOT,
    add_run_args,
    choose_sampling_option,
    commit,
    guide_folder,
    machine,
    run_tag,
    save_pictures,
    score,
    train_or_reuse,
)

COMMIT_AT_START = commit()


def parse_samplers(text: str) -> list[tuple[str, int, str]]:
    """ "dpm:50,dpm:20:bf16" -> [(kind, steps, UNet precision while sampling; "" = the config's)]."""
    out = []
    for item in text.split(","):
        kind, steps, *rest = item.strip().split(":")
        out.append((kind, int(steps), rest[0] if rest else ""))
    return out


def effective_guidance(options: dict, model_config: dict) -> float | None:
    """The guidance scale samples are drawn at: the sampling option, else the config's for a model
    trained with label dropout; None for a model without guidance."""
    if "guidance" in options:
        return float(options["guidance"])
    if model_config.get("label_dropout", 0) > 0 or options.get("guide"):
        return float(model_config["guidance"])
    return None


def pictures(model, tag: str, grids: dict, options: dict, grids_only: bool) -> dict[str, str]:
    """Sample grids per sampler, the denoising process and (guided models) a guidance sweep."""
    pics = dict(grids)
    if not grids_only:  # --reuse adding rows keeps the run's process and guidance pictures
        pics["process"] = denoising_strip(model, n=4, **options)[0]
        if getattr(model, "guidable", False) or options.get("guide"):
            pics["guidance"] = guidance_grid(
                model, **{k: v for k, v in options.items() if k != "guidance"}
            )[0]
    return save_pictures(pics, "diffusion", tag, {"model": model.name, "options": options})


def run_one(name: str, args: argparse.Namespace) -> dict:
    tag = run_tag(name, args)
    trained = train_or_reuse(name, tag, "diffusion", args)
    if trained is None:
        return {}
    cfg, train, test, tcfg, out, train_s = trained
    run = ig.load_run(out)
    model = run.model
    options = dict(cfg.get("sample", {}))
    if args.guide:  # autoguidance by another run, or by a checkpoint of this one
        options["guide"] = guide_folder(args.guide, out)
        if args.guide_unconditional:
            options["guide_unconditional"] = True
    # the guide used: without --guide the run's model.guide_run or guide_at, if any; ``options``
    # stays as given: run.sample resolves it again, and a resolved "none" would read as no --guide
    used = run.sampling_options(options)
    guide = Path(used["guide"]).name if used.get("guide") else ""
    search = None
    if args.guidances:
        values = [float(v) for v in args.guidances.split(",")]
        _, _, precision = parse_samplers(args.samplers)[0]  # the search samples as the first row
        search = choose_sampling_option(
            run,
            train,
            "guidance",
            values,
            args.select_n,
            args.seed + 2,
            {**options, **({"precision": precision} if precision else {})},
            args.min_acc,
        )
        options["guidance"] = search["chosen"]
    elif args.guidance is not None:
        options["guidance"] = args.guidance
    labels = default_labels(model, args.n)
    guidance = effective_guidance(options, vars(model.config))
    results, grids = [], {}
    for kind, steps, precision in parse_samplers(args.samplers):
        opts = {**options, "sampler": kind, "steps": steps}
        if precision:
            opts["precision"] = precision
        t = time.time()
        images = run.sample(args.n, seed=args.seed + 1, labels=labels, **opts)
        sample_s = time.time() - t
        t = time.time()
        scores = score(images, test, [m for m in args.metrics.split(",") if m], labels, train)
        row = {
            "sampler": kind,
            "steps": steps,
            **({"sample_precision": precision} if precision else {}),
            **({"guidance": guidance} if guidance is not None else {}),
            **({"guide": guide} if guide else {}),
            **({"guide_unconditional": True} if used.get("guide_unconditional") else {}),
            "images_per_second": round(args.n / sample_s, 2),
            "sample_seconds": round(sample_s, 1),
            "eval_seconds": round(time.time() - t, 1),
            **{k: v for k, v in scores.items() if k != "card"},
            "card": scores["card"],
        }
        results.append(row)
        suffix = (f"_{precision}" if precision else "") + ("_autoguided" if guide else "")
        grids[f"samples_{kind}{steps}{suffix}"] = make_grid(
            images[:64], scale=auto_scale(model.spec.resolution)
        )
        print(
            f"{tag} {kind}:{steps}: FID {row['fid']:.2f}, {row['images_per_second']:.1f} images/s"
            + (f", acc {row['acc']:.3f}" if "acc" in row else ""),
            flush=True,
        )
    state = json.loads((out / "config.json").read_text())
    first = parse_samplers(args.samplers)[0]
    dest = ROOT / "benchmarks" / "results" / f"diffusion_{tag}.json"
    old = json.loads(dest.read_text()) if args.reuse and dest.is_file() else None
    if old is not None and old["steps"] != run.step:
        old = None  # another training run's record: replaced, not merged
    record = {
        "benchmark": "diffusion_family",
        "data": args.data,
        "model": name,
        "variant": args.variant,
        "commit": COMMIT_AT_START,
        "machine": machine(),
        "command": f"python benchmarks/diffusion_family.py --data {args.data} --models {name} "
        + (f"--variant {args.variant} " if args.variant else "")
        + f"--minutes {args.minutes} --samplers {args.samplers} --n {args.n}"
        + (
            f" --guidances {args.guidances} --select-n {args.select_n} --min-acc {args.min_acc:g}"
            if search
            else ""
        )
        + (f" --guidance {args.guidance:g}" if args.guidance is not None else "")
        + (f" --guide {args.guide}" if args.guide else "")
        + (" --guide-unconditional" if args.guide_unconditional else "")
        + (" --reuse" if args.reuse else ""),
        "minutes_budget": args.minutes,
        "train_seconds": round(train_s, 1),
        "steps": run.step,
        "images_seen": run.step * tcfg.batch_size,
        "n_generated": args.n,
        "sample_options": options,
        "guidance_search": search,
        "samplers": results,
        "model_config": state["model_config"],
        "train_config": state["train"],
        "train_precision": state.get("precision", state["train"]["precision"]),  # auto resolved
        "pictures": pictures(
            model,
            tag,
            grids,
            {**run.sampling_options(options), "sampler": first[0], "steps": first[1]},
            grids_only=old is not None,
        ),
    }
    if old is not None:  # --reuse on a scored run adds its rows, keeping those not re-scored

        def key(row: dict) -> tuple:
            return (
                row["sampler"],
                row["steps"],
                row.get("sample_precision", ""),
                row.get("guidance"),
                row.get("guide", ""),
                row.get("guide_unconditional", False),
            )

        before = effective_guidance(old["sample_options"], old["model_config"])
        for row in old["samplers"]:  # rows scored before rows kept their own guidance
            if before is not None:
                row.setdefault("guidance", before)

        again = {key(row) for row in results}
        record["samplers"] = [row for row in old["samplers"] if key(row) not in again] + results
        record["command"] = f"{old['command']}; then {record['command']}"
        record["commit"] = f"{old['commit']}, then {record['commit']}"
        record["pictures"] = {**old["pictures"], **record["pictures"]}
        record["guidance_search"] = search or old.get("guidance_search")  # kept unless redone
    dest.write_text(json.dumps(record, indent=2, default=float) + "\n")
    return record


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data", default="mnist", choices=["mnist", "cifar10"])
    p.add_argument("--models", default="ddpm")
    p.add_argument("--variant", default="", help="use configs/<data>_<model>_<variant>.yaml")
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument(
        "--samplers",
        default="dpm:50,dpm:10",
        help="KIND:STEPS[:PRECISION],... (ddpm, ddim, dpm; fp32, bf16)",
    )
    p.add_argument("--metrics", default="fid", help="beside FID (and acc): kid,pr")
    p.add_argument("--n", type=int, default=10000)
    given = p.add_mutually_exclusive_group()
    given.add_argument("--guidances", default="", help="e.g. 1,2,3: choose one on training images")
    given.add_argument(
        "--guidance",
        type=float,
        default=None,
        help="sample at this guidance scale (one chosen before on training images), no search",
    )
    p.add_argument(
        "--guide",
        default="",
        help="autoguidance: a weaker run folder, or a checkpoint of this run (step_0002000); "
        "give --guidance or --guidances above 1 with it",
    )
    p.add_argument(
        "--guide-unconditional",
        action="store_true",
        help="with --guide: guide by the guide's prediction without the label (its ∅)",
    )
    p.add_argument("--select-n", type=int, default=2000, help="samples per guidance scale tried")
    p.add_argument(
        "--min-acc",
        type=float,
        default=0.98,
        help="conditional models: choose only among scales whose samples reach this accuracy",
    )
    add_run_args(p)
    args = p.parse_args()
    if args.guide_unconditional and not args.guide:
        p.error("--guide-unconditional needs --guide: the guide whose ∅ prediction to use")
    for name in args.models.split(","):
        run_one(name.strip(), args)
    subprocess.run(["python", str(ROOT / "benchmarks" / "report.py")], check=True)


if __name__ == "__main__":
    main()
