"""Benchmark: text-to-image on `shapes` (32x32), judged attribute by attribute.

    python benchmarks/text_to_image.py --minutes 60

Data: the shapes training split without the images of HELD_OUT (shape, colour, position) triples,
so prompts naming those triples were never seen together in training. Training captions drop the
size and the background phrase half the time each ("a red circle at the top left"), so short
prompts are in the caption distribution; a config's ``captions: {size: P, background: P}`` sets
the chance that each phrase is kept instead.

Judges: three small CNNs (the evaluation suite's classifier) trained on the full shapes training
split to read an image's shape, colour and position; their test accuracies are reported.

Scores, for prompts "a {colour} {shape} {position}":
- held-out triples and as many seen triples, --per-prompt samples each: the share of samples
  whose shape, colour and position (each, and all three) the judges read as prompted, and the
  share whose border is nearest the prompted colour (a "collision": the data's background never
  has the shape's colour) and the share of the commonest background colour (diversity);
- two-shape prompts "a {colour} {shape} on the left and a {colour} {shape} on the right": each
  half of the image is judged alone (the other two thirds replaced by the image's border colour),
  and the share of samples with both shapes and colours right is reported.

Writes benchmarks/results/t2i_shapes.json and pictures under docs/img/, then rebuilds
docs/benchmarks.md. ``--variant V`` trains benchmarks/configs/shapes_t2i_V.yaml and writes
t2i_shapes_V.json and t2i_shapes_V_*.png instead (a recipe compared against the main one). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import yaml

import imagegen as ig
from imagegen.data.base import ImageDataset
from imagegen.data.shapes import COLOURS, POSITION_PHRASES, POSITIONS, RGB, SHAPES
from imagegen.metrics.classifier import dataset_classifier
from imagegen.sampling.diffusion_pictures import denoising_strip, guidance_grid
from imagegen.viz import make_grid, save_png

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, commit, machine, reuse_budget  # noqa: E402

COMMIT_AT_START = commit()
N_TRIPLES = len(SHAPES) * len(COLOURS) * len(POSITIONS)
LEFT, RIGHT = POSITIONS.index("left"), POSITIONS.index("right")
# chance that a training caption keeps each optional phrase (a config's ``captions:`` overrides)
CAPTION_KEEP = {"size": 0.5, "background": 0.5}


def triple_id(shape, colour, position):
    return (np.asarray(shape) * len(COLOURS) + np.asarray(colour)) * len(POSITIONS) + position


def split_triples(seed: int, share: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """(held-out, seen) triple ids: a fixed random tenth held out, as many seen ones to compare."""
    rng = np.random.default_rng([seed, 7])
    order = rng.permutation(N_TRIPLES)
    k = round(share * N_TRIPLES)
    return np.sort(order[:k]), np.sort(order[k : 2 * k])


def decode(tid: int) -> tuple[int, int, int]:
    rest, position = divmod(int(tid), len(POSITIONS))
    shape, colour = divmod(rest, len(COLOURS))
    return shape, colour, position


def prompt(shape: int, colour: int, position: int) -> str:
    return f"a {COLOURS[colour]} {SHAPES[shape]} {POSITION_PHRASES[position]}"


def training_data(
    full: ImageDataset, held: np.ndarray, seed: int, keep_phrase: dict[str, float] = CAPTION_KEEP
) -> ImageDataset:
    """The split without held-out triples, captions shortened at random: the size phrase kept
    with probability ``keep_phrase["size"]``, the background phrase with
    ``keep_phrase["background"]``."""
    a = full.attributes
    keep = ~np.isin(triple_id(a["shape"], a["colour"], a["position"]), held)
    rng = np.random.default_rng([seed, 8])
    captions = []
    for i in np.flatnonzero(keep):
        size = ["small ", "large "][a["size"][i]] if rng.random() < keep_phrase["size"] else ""
        bg = (
            f" on a {COLOURS[a['background'][i]]} background"
            if rng.random() < keep_phrase["background"]
            else ""
        )
        captions.append(
            f"a {size}{COLOURS[a['colour'][i]]} {SHAPES[a['shape'][i]]} "
            f"{POSITION_PHRASES[a['position'][i]]}{bg}"
        )
    return ImageDataset(
        images=full.images[keep],
        spec=full.spec,
        labels=full.labels[keep],
        captions=captions,
        split="train",
        source=full.source + f" without {len(held)} held-out triples",
        preprocessing={**full.preprocessing, "held_out_triples": len(held), "t2i_seed": seed},
        attributes={k: v[keep] for k, v in a.items()},
        attribute_names=full.attribute_names,
    )


def judges(train: ImageDataset, test: ImageDataset) -> dict:
    """One cached classifier per attribute (shape, colour, position)."""
    out = {}
    for key, names in (("shape", SHAPES), ("colour", COLOURS), ("position", POSITIONS)):

        def relabel(ds, key=key, names=names):
            spec = replace(ds.spec, num_classes=len(names), class_names=tuple(names))
            return ImageDataset(
                images=ds.images,
                spec=spec,
                labels=ds.attributes[key],
                split=ds.split,
                source=ds.source,
                preprocessing={**ds.preprocessing, "labels": key},
            )

        out[key] = dataset_classifier(relabel(train), relabel(test), steps=1500)
        print(f"judge {key}: test accuracy {out[key].test_accuracy:.4f}", flush=True)
    return out


def border_colour(images: np.ndarray) -> np.ndarray:
    """Each image's background colour: the median of its border pixels, uint8 ``(n, c)``."""
    border = np.concatenate(
        [images[:, 0], images[:, -1], images[:, :, 0], images[:, :, -1]], axis=1
    )  # (n, 4w, c)
    return np.median(border, axis=1).astype(np.uint8)


def background_index(images: np.ndarray) -> np.ndarray:
    """The palette colour (index into COLOURS) nearest each image's border colour."""
    bg = border_colour(images).astype(np.float32)
    return np.argmin(((bg[:, None, :] - RGB[None]) ** 2).sum(-1), axis=1)


def keep_half(images: np.ndarray, side: str) -> np.ndarray:
    """Keep the middle row's left (or right) third; fill the rest with the border colour."""
    n, h, w, c = images.shape
    fill = border_colour(images)
    out = np.broadcast_to(fill[:, None, None], images.shape).copy()
    rows = slice(h // 3 - 1, 2 * h // 3 + 1)
    cols = slice(0, w // 3 + 1) if side == "left" else slice(2 * w // 3 - 1, w)
    out[:, rows, cols] = images[:, rows, cols]
    return out


def judge_single(clfs, images, want: dict[str, np.ndarray]) -> dict[str, float]:
    """Share of samples with each attribute (and all three) as wanted; ``collision``: the share
    whose background is drawn in the wanted colour (never so in the data); ``top_background``:
    the share of the commonest background colour (about 1/5 in the data: uniform over the five
    colours other than the shape's), a diversity check captions without a background need."""
    right = {k: clfs[k].predict(images) == want[k] for k in want}
    right_all = np.logical_and.reduce(list(right.values()))
    bg = background_index(images)
    return {
        **{k: float(v.mean()) for k, v in right.items()},
        "all": float(right_all.mean()),
        "collision": float((bg == want["colour"]).mean()),
        "top_background": float(np.bincount(bg, minlength=len(COLOURS)).max() / len(bg)),
    }


def rates(scores: dict) -> dict[str, float]:
    """The per-attribute, all-three, collision and commonest-background rates of a
    score_single result."""
    keys = ("shape", "colour", "position", "all", "collision", "top_background")
    return {key: scores[key] for key in keys}


def score_single(
    run, clfs, ids, k: int, seed: int, options: dict, negative: str = ""
) -> tuple[dict, np.ndarray]:
    """Judge k samples for each one-shape prompt of triples ``ids``; the scores and the images.
    ``negative``: a negative-prompt template filled with each prompt's {colour}."""
    triples = [decode(t) for t in ids]
    prompts = [prompt(*tr) for tr in triples for _ in range(k)]
    if negative:
        options = {
            **options,
            "negative_prompt": [
                negative.format(colour=COLOURS[c]) for _, c, _ in triples for _ in range(k)
            ],
        }
    images = run.sample(len(prompts), seed=seed, prompt=prompts, **options)
    want = {
        key: np.repeat([tr[j] for tr in triples], k)
        for j, key in enumerate(("shape", "colour", "position"))
    }
    scores = {"prompts": len(triples), **judge_single(clfs, images, want)}
    scores["examples"] = [prompt(*tr) for tr in triples[:8]]
    return scores, images


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--minutes", type=float, default=60.0)
    p.add_argument("--per-prompt", type=int, default=16, help="samples per prompt")
    p.add_argument("--pairs", type=int, default=20, help="two-shape prompts")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--guidances",
        type=lambda v: [float(x) for x in v.split(",") if x],
        default=[2.0, 5.0],
        help="extra guidance scales to score the one-shape prompts at (comma-separated)",
    )
    p.add_argument(
        "--intervals",
        type=lambda v: [[float(x) for x in pair.split(":")] for pair in v.split(",") if pair],
        default=[],
        help="guidance intervals LO:HI (sigma) to score the one-shape prompts at, at the "
        "configured scale (comma-separated, e.g. 0.28:5.42,0:2)",
    )
    p.add_argument(
        "--negative",
        default="",
        help="also score the one-shape prompts at the configured scale with this negative "
        "prompt, {colour} filled with the prompt's colour (e.g. 'on a {colour} background')",
    )
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "out"))
    p.add_argument("--reuse", action="store_true", help="score the run already in --out")
    p.add_argument(
        "--variant",
        default="",
        help="train benchmarks/configs/shapes_t2i_VARIANT.yaml instead; results and pictures "
        "are named t2i_shapes_VARIANT",
    )
    args = p.parse_args()

    suffix = f"_{args.variant}" if args.variant else ""
    name = f"t2i_shapes{suffix}"
    config = ROOT / "benchmarks" / "configs" / f"shapes_t2i{suffix}.yaml"
    if not config.is_file():
        raise SystemExit(f"error: no config {config}; name a file in benchmarks/configs")
    cfg = yaml.safe_load(config.read_text())
    full = ig.load_dataset("shapes", split="train")
    test = ig.load_dataset("shapes", split="test")
    held, seen = split_triples(args.seed)
    unknown = set(cfg.get("captions", {})) - set(CAPTION_KEEP)
    if unknown:
        raise SystemExit(
            f"error: {config} captions: unknown {', '.join(sorted(unknown))}; "
            f"use {', '.join(CAPTION_KEEP)}"
        )
    keep_phrase = {**CAPTION_KEEP, **cfg.get("captions", {})}
    train = training_data(full, held, args.seed, keep_phrase)
    out = Path(args.out) / name
    reuse_budget(out, args)
    tcfg = ig.TrainConfig.from_dict(
        {**cfg.get("train", {}), "minutes": args.minutes, "steps": None, "seed": args.seed}
    )
    if not (args.reuse and (out / "checkpoints").is_dir()):
        model = ig.create_model("ddpm", train.spec, cfg["model"], seed=args.seed)
        ig.train(model, train, out, tcfg, progress=True)
    run = ig.load_run(out)
    model = run.model
    # the config's scale also applies to a run trained before it was chosen (--reuse)
    options = {"guidance": cfg["model"].get("guidance", model.config.guidance)}
    options.update(cfg.get("sample", {}))
    clfs = judges(full, test)
    k = args.per_prompt

    scores, grids = {}, {}
    t0 = time.time()
    for split, ids in (("held_out", held), ("seen", seen)):
        scores[split], images = score_single(run, clfs, ids, k, args.seed + 1, options)
        rows = images.reshape(len(ids), k, *images.shape[1:])[:8, :8]
        grids[f"{split}_prompts"] = make_grid(rows.reshape(-1, *images.shape[1:]), nrow=8, scale=2)
        print(f"{split}: {scores[split]}", flush=True)
    # Other guidance scales, same prompts and seeds: the sweep shows how adherence moves with
    # the scale; the headline row stays at the configured scale (never picked on held-out).
    configured = float(options.get("guidance", model.config.guidance))
    interval = list(options.get("guidance_interval", model.config.guidance_interval))
    scores["guidance_sweep"] = [
        {
            "guidance": configured,
            "guidance_interval": interval,
            "held_out": rates(scores["held_out"]),
            "seen": rates(scores["seen"]),
        }
    ]
    settings = [{"guidance": g, "guidance_interval": interval} for g in args.guidances]
    settings += [{"guidance": configured, "guidance_interval": iv} for iv in args.intervals]
    if args.negative:
        settings.append(
            {"guidance": configured, "guidance_interval": interval, "negative": args.negative}
        )
    for setting in settings:
        negative = setting.pop("negative", "")
        row = {**setting, **({"negative_prompt": negative} if negative else {})}
        for split, ids in (("held_out", held), ("seen", seen)):
            v, _ = score_single(run, clfs, ids, k, args.seed + 1, {**options, **setting}, negative)
            row[split] = rates(v)
        print(f"{setting}: {row}", flush=True)
        scores["guidance_sweep"].append(row)

    rng = np.random.default_rng([args.seed, 9])
    pairs = [
        (rng.integers(len(SHAPES)), rng.integers(len(COLOURS)),
         rng.integers(len(SHAPES)), rng.integers(len(COLOURS)))
        for _ in range(args.pairs)
    ]  # fmt: skip
    prompts = [
        f"a {COLOURS[c1]} {SHAPES[s1]} on the left and a {COLOURS[c2]} {SHAPES[s2]} on the right"
        for s1, c1, s2, c2 in pairs
        for _ in range(k)
    ]
    images = run.sample(len(prompts), seed=args.seed + 2, prompt=prompts, **options)
    ok = np.ones(len(images), dtype=bool)
    for side, (si, ci) in (("left", (0, 1)), ("right", (2, 3))):
        half = keep_half(images, side)
        shape_ok = clfs["shape"].predict(half) == np.repeat([p_[si] for p_ in pairs], k)
        colour_ok = clfs["colour"].predict(half) == np.repeat([p_[ci] for p_ in pairs], k)
        ok &= shape_ok & colour_ok
    scores["two_shapes"] = {"prompts": len(pairs), "both_right": float(ok.mean())}
    scores["two_shapes"]["examples"] = [prompts[i * k] for i in range(min(4, len(pairs)))]
    per_pair = images.reshape(len(pairs), k, *images.shape[1:])[:4, :8]
    grids["two_shapes"] = make_grid(per_pair.reshape(-1, *images.shape[1:]), nrow=8, scale=2)
    eval_s = time.time() - t0

    first = prompt(*decode(held[0]))
    unguided = {key: v for key, v in options.items() if key != "guidance"}
    grids["guidance"] = guidance_grid(model, prompt=first, **unguided)[0]
    grids["process"] = denoising_strip(model, n=4, prompt=first, **options)[0]
    files = {}
    for kind, grid in grids.items():
        img = ROOT / "docs" / "img" / f"{name}_{kind}.png"
        save_png(img, grid, {"model": "ddpm (text)", "picture": kind})
        files[kind] = str(img.relative_to(ROOT))
    state = json.loads((out / "config.json").read_text())
    record = {
        "benchmark": "text_to_image",
        "data": "shapes",
        "variant": args.variant,
        "commit": COMMIT_AT_START,
        "machine": machine(),
        "command": f"python benchmarks/text_to_image.py --minutes {args.minutes} "
        f"--per-prompt {k} --pairs {args.pairs} "
        f"--guidances {','.join(f'{g:g}' for g in args.guidances)}"
        + (
            f" --intervals {','.join(f'{lo:g}:{hi:g}' for lo, hi in args.intervals)}"
            if args.intervals
            else ""
        )
        + (f" --negative '{args.negative}'" if args.negative else "")
        + (f" --variant {args.variant}" if args.variant else "")
        + (" --reuse" if args.reuse else ""),
        "minutes_budget": args.minutes,
        "steps": run.step,
        "images_seen": run.step * tcfg.batch_size,
        "training_images": len(train),
        "caption_phrases_kept": keep_phrase,
        "held_out_triples": len(held),
        "judges": {key: clf.test_accuracy for key, clf in clfs.items()},
        "sample_options": options,
        "eval_seconds": round(eval_s, 1),
        "scores": scores,
        "model_config": state["model_config"],
        "train_config": state["train"],
        "train_precision": state.get("precision", state["train"]["precision"]),  # auto resolved
        "pictures": files,
    }
    dest = ROOT / "benchmarks" / "results" / f"{name}.json"
    dest.write_text(json.dumps(record, indent=2, default=float) + "\n")
    subprocess.run(["python", str(ROOT / "benchmarks" / "report.py")], check=True)


if __name__ == "__main__":
    main()
