"""What every benchmark records beside its numbers: the commit and the machine."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

import torch

from imagegen.sampling.run import NO_GUIDE

ROOT = Path(__file__).resolve().parents[1]


def commit() -> str:
    """Short hash of HEAD (the code a benchmark runs is the code checked out when it started)."""
    try:
        return subprocess.check_output(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True
        ).strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def machine() -> str:
    """CPU model, vector extensions that matter here, threads and torch version."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    flags = cpu_flags()
    isa = "AVX-512 BF16" if "avx512_bf16" in flags else "AVX-512" if "avx512f" in flags else "AVX2"
    if "amx_bf16" in flags:
        isa += "+AMX"
    return f"{cpu} ({isa}), {torch.get_num_threads()} threads, torch {torch.__version__}"


def reuse_budget(out: Path, args) -> None:
    """With ``--reuse`` of a trained run in ``out``, set ``args.minutes`` to the budget that
    trained it, so the record's budget and command say what produced the weights (not this
    scoring call's default)."""
    import json

    if args.reuse and (out / "checkpoints").is_dir() and (out / "config.json").is_file():
        args.minutes = float(json.loads((out / "config.json").read_text())["train"]["minutes"])


def train_or_reuse(name: str, tag: str, prefix: str, args):
    """Train model ``name`` with benchmarks/configs/<tag>.yaml for ``args.minutes`` into
    ``args.out``/<prefix>_<tag> (or reuse that run with ``args.reuse``).

    Returns:
        (config dict, train split, test split, TrainConfig, run folder, training seconds by the
        trainer's own clock), or None with ``args.train_only``.
    """
    import json

    import yaml

    import imagegen as ig

    cfg = yaml.safe_load((ROOT / "benchmarks" / "configs" / f"{tag}.yaml").read_text())
    train = ig.load_dataset(args.data, split="train", data_root=args.data_root)
    test = ig.load_dataset(args.data, split="test", data_root=args.data_root)
    out = Path(args.out) / f"{prefix}_{tag}"
    reuse_budget(out, args)
    tcfg = ig.TrainConfig.from_dict(
        {**cfg.get("train", {}), "minutes": args.minutes, "steps": None, "seed": args.seed}
    )
    if not (args.reuse and (out / "checkpoints").is_dir()):
        mcfg = cfg.get("model", {})
        if name == "ldm":  # its frozen autoencoder comes from a run (path relative to the repo)
            ae = ROOT / mcfg["autoencoder_run"]
            model = ig.create_ldm(ae, train.spec, mcfg, seed=args.seed)
        else:
            model = ig.create_model(name, train.spec, mcfg, seed=args.seed)
        ig.train(model, train, out, tcfg, progress=True)
    if args.train_only:
        return None
    last = sorted((out / "checkpoints").glob("step_*/state.json"))[-1]
    return cfg, train, test, tcfg, out, json.loads(last.read_text())["elapsed"]


def guide_folder(guide: str, run: Path) -> str:
    """An autoguidance --guide: a path as given, or a bare checkpoint name (step_0002000) of
    ``run``; "none" turns off the run's default guide (model.guide_at). load_run reports a
    missing checkpoint with the checkpoints there are."""
    if guide == NO_GUIDE:
        return guide
    return str((Path(guide) if "/" in guide else run / "checkpoints" / guide).resolve())


def score(images, test, metrics: list[str], labels=None, train=None, **settings) -> dict:
    """``ig.evaluate`` of generated uint8 images against the test split; with ``labels`` (the
    classes they were drawn for) the conditional accuracy too, judged by a classifier of
    ``train``. ``settings`` override evaluation settings (e.g. ``n_ref``)."""
    import imagegen as ig

    conditional = labels is not None
    return ig.evaluate(
        images,
        test,
        metrics=[*metrics, "acc"] if conditional else metrics,
        labels=labels.numpy() if conditional else None,
        train=train if conditional else None,
        progress=None,
        **settings,
    )


SELECT_REF = 5000  # training images a sampling-option search compares against


def choose_sampling_option(
    run,
    train,
    option: str,
    values: list[float],
    n: int,
    seed: int,
    options: dict,
    min_acc: float = 0.0,
) -> dict:
    """The value of sampling ``option`` (a temperature, a guidance scale) with the lowest FID-n
    against SELECT_REF training images. The benchmark's score uses the test split; choosing on it
    would tune to the test set. For a conditional model the samples' accuracy is judged too, and
    only values with accuracy >= ``min_acc`` may be chosen (the most accurate if none is).

    Returns:
        {"option", "reference", "n", "fid": {value: FID}, "chosen"}, plus "acc": {value: acc}
        and "min_acc" for a conditional model.
    """
    from imagegen.sampling.generate import default_labels

    labels = default_labels(run.model, n)
    fids, accs = {}, {}
    for value in values:
        images = run.sample(n, seed=seed, labels=labels, **{**options, option: value})
        scores = score(images, train, ["fid"], labels, train, n_ref=SELECT_REF)
        fid = scores["fid"]
        fids[f"{value:g}"] = round(fid, 3)
        msg = f"{option} {value:g}: FID-{n} vs train {fid:.2f}"
        if "acc" in scores:
            accs[f"{value:g}"] = round(float(scores["acc"]), 4)
            msg += f", acc {scores['acc']:.3f}"
        print(msg, flush=True)
    allowed = [v for v in fids if not accs or accs[v] >= min_acc]
    chosen = min(allowed, key=fids.get) if allowed else max(accs, key=accs.get)
    search = {
        "option": option,
        "reference": f"train ({SELECT_REF:,} images)",
        "n": n,
        "fid": fids,
        "chosen": float(chosen),
    }
    if accs:
        search |= {"acc": accs, "min_acc": min_acc}
    return search


def add_run_args(p) -> None:
    """The options every budgeted benchmark shares: seed, data and output folders, and splitting
    training (--train-only) from scoring (--reuse)."""
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "out"))
    p.add_argument("--train-only", action="store_true", help="train, score later with --reuse")
    p.add_argument("--reuse", action="store_true", help="score the run already in --out")


def run_tag(name: str, args) -> str:
    """<data>_<model>[_<variant>]: names the config, the run folder and the results file."""
    return f"{args.data}_{name}" + (f"_{args.variant}" if args.variant else "")


def save_pictures(pics: dict, prefix: str, tag: str, meta: dict) -> dict[str, str]:
    """Write each grid to docs/img/<prefix>_<tag>_<kind>.png; returns kind -> repo-relative path."""
    from imagegen.viz import save_png

    files = {}
    for kind, grid in pics.items():
        img = ROOT / "docs" / "img" / f"{prefix}_{tag}_{kind}.png"
        save_png(img, grid, {**meta, "picture": kind})
        files[kind] = str(img.relative_to(ROOT))
    return files
