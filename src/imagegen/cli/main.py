"""The ``imagegen`` command line: parse, build configs, call the library, print."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import click

from imagegen.errors import ImagegenError


class FloatPair(click.ParamType):
    """``LO,HI``: two numbers, e.g. a guidance interval 0.3,5."""

    name = "LO,HI"

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        try:
            pair = [float(v) for v in str(value).split(",")]
        except ValueError:
            pair = []
        if len(pair) != 2:
            self.fail(f"{value!r} is not two numbers: give LO,HI such as 0.3,5", param, ctx)
        return pair


def _data_root_option(f):
    return click.option(
        "--data-root",
        type=click.Path(file_okay=False),
        default=None,
        help="Folder holding named datasets (default: $IMAGEGEN_DATA or ~/.cache/imagegen/data).",
    )(f)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="imagegen", message="%(prog)s %(version)s")
@click.option("-v", "--verbose", is_flag=True, help="Log library messages (INFO).")
def cli(verbose: bool) -> None:
    """Train, sample and evaluate generative image models (GAN, VAE, diffusion)."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


@cli.command()
def models() -> None:
    """List the models and what each supports."""
    from imagegen.models import MODELS

    for name, cls in MODELS.items():
        fields = ", ".join(f"{k}={v}" for k, v in cls.Config().to_dict().items())
        click.echo(f"{name:8s} [{cls.family}] {cls.summary}")
        click.echo(f"{'':8s}   config: {fields}")


@cli.group()
def data() -> None:
    """Inspect and download datasets."""


@data.command("info")
@click.argument("name")
@click.option("--split", default="train", show_default=True)
@click.option("--resolution", type=int, default=None)
@click.option(
    "--preview",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write a preview grid PNG here.",
)
@_data_root_option
def data_info(
    name: str, split: str, resolution: int | None, preview: str | None, data_root: str | None
) -> None:
    """Size, shape, classes and a preview grid of DATA (a name or a path)."""
    from imagegen.data import describe, load_dataset
    from imagegen.viz import auto_scale, make_grid, save_png

    ds = load_dataset(name, split=split, resolution=resolution, data_root=data_root)
    info = describe(ds)
    for k, v in info.items():
        click.echo(f"{k:12s} {v}")
    if preview:
        idx = list(range(min(64, len(ds))))
        grid = make_grid(ds.images[idx], scale=auto_scale(ds.spec.resolution))
        save_png(preview, grid, {"dataset": ds.spec.name, "split": ds.split})
        click.echo(f"preview      {preview}")


@data.command("download")
@click.argument("name")
@_data_root_option
def data_download(name: str, data_root: str | None) -> None:
    """Download NAME (mnist, cifar10) from its canonical source, checking checksums."""
    from imagegen.data import download, resolve_data_root

    path = download(name, resolve_data_root(data_root))
    click.echo(f"downloaded {name} to {path}")


@cli.command()
@click.argument("model")
@click.option(
    "--data",
    "data_name",
    required=True,
    help="Dataset name (digits, shapes, mnist, cifar10) or path.",
)
@click.option("--out", default=None, help="Run folder (default runs/MODEL-DATA).")
@click.option("--steps", type=int, default=None, help="Stop after N steps.")
@click.option("--minutes", type=float, default=None, help="Stop after M minutes of training.")
@click.option("--batch-size", type=int, default=None)
@click.option(
    "--config", "config_file", default=None, help="YAML file with model:, train:, data: sections."
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    help="Override a setting: model.lr=1e-4, train.ema_decay=0.99, data.resolution=32.",
)
@click.option(
    "--resume", is_flag=True, help="Continue the run in --out from its latest checkpoint."
)
@click.option(
    "--allow-changes",
    is_flag=True,
    help="With --resume: continue although model, data or key training settings changed.",
)
@click.option(
    "--eval-n", type=int, default=None, help="Generated images for the final FID (0: none)."
)
@click.option("--seed", type=int, default=None)
@_data_root_option
def train(
    model,
    data_name,
    out,
    steps,
    minutes,
    batch_size,
    config_file,
    sets,
    resume,
    allow_changes,
    eval_n,
    seed,
    data_root,
) -> None:
    """Train MODEL on --data into a run folder."""
    from imagegen.cli.options import apply_sets, load_config_file
    from imagegen.cli.workflow import run_training

    settings = load_config_file(config_file)
    from imagegen.models.registry import get_model_class

    get_model_class(model)
    apply_sets(model, settings, sets)
    for key, value in (
        ("steps", steps),
        ("minutes", minutes),
        ("batch_size", batch_size),
        ("eval_n", eval_n),
        ("seed", seed),
    ):
        if value is not None:
            settings["train"][key] = value
    if steps is not None and minutes is None:
        settings["train"].setdefault("minutes", None)
    if minutes is not None and steps is None:
        settings["train"]["steps"] = None
    out = out or f"runs/{model}-{Path(data_name).stem}"
    if allow_changes and not resume:
        raise click.UsageError("--allow-changes only applies with --resume")
    path = run_training(
        model,
        data_name,
        out,
        settings,
        resume=resume,
        allow_changes=allow_changes,
        data_root=data_root,
    )
    if int(os.environ.get("RANK", "0")):  # under torchrun, rank 0 reports
        return
    click.echo(f"run folder: {path}")
    for name in ("samples.png", "loss.png", "eval.json", "report.html"):
        if (path / name).exists():
            click.echo(f"  {name:12s} {path / name}")
    if (path / "eval.json").exists():
        click.echo(f"FID {json.loads((path / 'eval.json').read_text())['fid']:.2f}")


@cli.command()
@click.argument("run", required=False)
@click.option("--n", "n", type=int, default=64, show_default=True, help="Number of images.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--label", type=int, default=None, help="Class label for conditional models.")
@click.option("--steps", type=int, default=None, help="Sampling steps (diffusion).")
@click.option(
    "--sampler",
    type=click.Choice(["ddpm", "ddim", "dpm", "dpm_sde"]),
    default=None,
    help="Diffusion sampler (dpm: DPM-Solver++ 2M, good in 10-20 steps; dpm_sde: its "
    "stochastic form).",
)
@click.option(
    "--temperature",
    type=float,
    default=None,
    help="VAE family: std scale of prior samples (vqvae: divides the prior's logits); 1 = the model.",
)
@click.option("--top-k", type=int, default=None, help="vqvae: sample codes from the k likeliest.")
@click.option(
    "--guidance",
    type=float,
    default=None,
    help="ddpm trained with label dropout: classifier-free guidance scale w (1 = none).",
)
@click.option(
    "--guidance-interval",
    type=FloatPair(),
    default=None,
    metavar="LO,HI",
    help="ddpm with guidance: guide only the steps with sigma_t in (LO, HI], e.g. 0.3,5.",
)
@click.option(
    "--guide",
    default=None,
    metavar="RUN",
    help="Diffusion: guide by a weaker run of the same model, or a checkpoint folder "
    "RUN/checkpoints/step_N (autoguidance; with --guidance above 1, e.g. 1.5); 'none': not by "
    "the run's default guide (model.guide_at or model.guide_run).",
)
@click.option(
    "--guide-unconditional",
    is_flag=True,
    help="With --guide: guide by the guide's prediction without the label or prompt (the guide "
    "must have been trained with label dropout): classifier-free guidance by a weaker model.",
)
@click.option("--prompt", default=None, help="Text-to-image runs: what to draw.")
@click.option(
    "--negative-prompt",
    default=None,
    help="Text-to-image runs with guidance: what to steer away from (replaces the empty caption).",
)
@click.option(
    "--truncation",
    type=float,
    default=None,
    help="stylegan: psi in 0..1 (1 = none); biggan: truncate z to [-t, t] (0 = none).",
)
@click.option("--batch-size", type=int, default=256, show_default=True)
@click.option(
    "--out",
    default=None,
    help="grid.png, a folder/ of PNGs, or samples.npz (default RUN/sample.png).",
)
@click.option(
    "--replay",
    default=None,
    metavar="IMAGE.png",
    help="Regenerate a PNG this command wrote, from its metadata (RUN: only if the run moved).",
)
@click.option(
    "--reconstruct",
    "picture",
    flag_value="reconstruct",
    help="Autoencoders: --n test images beside their reconstructions (RUN/reconstruct.png).",
)
@click.option(
    "--interpolate",
    "picture",
    flag_value="interpolate",
    help="Autoencoders: latent interpolations between pairs of test images; GANs: between "
    "random latents.",
)
@click.option(
    "--truncation-sweep",
    "picture",
    flag_value="truncation",
    help="biggan/stylegan: the same seeds from no truncation to the strongest, one per row.",
)
@click.option(
    "--style-mix",
    "picture",
    flag_value="style_mix",
    help="stylegan: coarse styles of the left column mixed with fine styles of the top row.",
)
@click.option(
    "--process",
    "picture",
    flag_value="process",
    help="ddpm: x_t and the predicted x_0 along the sampling steps, two rows per sample.",
)
@click.option(
    "--guidance-sweep",
    "picture",
    flag_value="guidance",
    help="ddpm with label dropout or --guide: one column per class (or seed), guidance "
    "scales 1..8 by row.",
)
@click.option(
    "--traverse",
    "picture",
    flag_value="traverse",
    help="vae/beta_vae/cvae: sweep the most active latent dimensions one at a time.",
)
@click.option(
    "--data", "data_name", default=None, help="Images for --reconstruct/--interpolate/--traverse."
)
@_data_root_option
def sample(
    run,
    n,
    seed,
    label,
    steps,
    sampler,
    temperature,
    top_k,
    guidance,
    guidance_interval,
    guide,
    guide_unconditional,
    prompt,
    negative_prompt,
    truncation,
    batch_size,
    out,
    replay,
    picture,
    data_name,
    data_root,
) -> None:
    """Sample images from a trained RUN (image i of a seed is the same at any --batch-size)."""
    from imagegen.cli.workflow import run_pictures, run_replay, run_sampling

    if replay:
        path, diff = run_replay(replay, run, out)
        verdict = "identical" if diff == 0 else f"differs by up to {diff}/255 per pixel"
        click.echo(f"wrote {path}: {verdict} to {replay}")
        return
    if run is None:
        raise click.UsageError("give a RUN folder to sample (or --replay IMAGE.png)")
    guide_unconditional = guide_unconditional or None  # unset: not an option of other models
    given = {
        "steps": steps,
        "sampler": sampler,
        "guidance": guidance,
        "guidance_interval": guidance_interval,
        "guide": guide,
        "guide_unconditional": guide_unconditional,
        "prompt": prompt,
        "negative_prompt": negative_prompt,
    }
    if picture:
        path, what = run_pictures(
            run,
            picture,
            data_name=data_name,
            data_root=data_root,
            n=n,
            seed=seed,
            out=out,
            label=label,
            options={k: v for k, v in given.items() if v is not None},
        )
        click.echo(f"wrote {path}: {what}")
        return

    path = run_sampling(
        run,
        n=n,
        seed=seed,
        label=label,
        steps=steps,
        sampler=sampler,
        temperature=temperature,
        top_k=top_k,
        guidance=guidance,
        guidance_interval=guidance_interval,
        prompt=prompt,
        negative_prompt=negative_prompt,
        truncation=truncation,
        guide=guide,
        guide_unconditional=guide_unconditional,
        batch_size=batch_size,
        out=out,
    )
    click.echo(f"wrote {path}")


@cli.command("eval")
@click.argument("source", required=False)
@click.option("--data", "data_name", default=None, help="Reference dataset (name or path).")
@click.option("--split", default="test", show_default=True, help="Reference split.")
@click.option(
    "--n",
    "n",
    type=int,
    default=10000,
    show_default=True,
    help="Generated images (sampled or first N).",
)
@click.option(
    "--n-ref", type=int, default=None, help="Reference images (default: the whole split)."
)
@click.option(
    "--metrics",
    default="fid",
    show_default=True,
    help="Comma-separated: fid,kid,is,pr,dc,acc,mem,mse,psnr,ssim,elbo (VAE family: -ELBO in nats, bits/dim).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--checkpoint", default=None, help="Evaluate this checkpoint of a RUN (e.g. step_0005000)."
)
@click.option(
    "--resize",
    type=click.Choice(["bilinear", "clean"]),
    default="bilinear",
    show_default=True,
    help="Resize to 299: bilinear (pytorch-fid/TF-like) or clean (clean-fid antialiased bicubic).",
)
@click.option(
    "--precision",
    type=click.Choice(["fp32", "bf16"]),
    default="fp32",
    show_default=True,
    help="Feature network: fp32 (exact) or bf16 (approximate; fast on GPUs and native-bf16 CPUs).",
)
@click.option(
    "--real", default=None, help="Compare two sets directly: the real images (name or path)."
)
@click.option("--fake", default=None, help="... and the generated images (.npz, folder or .zip).")
@click.option(
    "--is-weights", default=None, help="TorchScript logits network for the Inception Score."
)
@click.option(
    "--trust-weights",
    is_flag=True,
    help="Run an --is-weights file (TorchScript carries code: only a file you trust).",
)
@click.option("--pictures", default=None, help="Folder for metric pictures (memorization.png).")
@click.option("--json", "json_out", default=None, help="Write the scores and metric card here.")
@_data_root_option
def eval_cmd(
    source,
    data_name,
    split,
    n,
    n_ref,
    metrics,
    seed,
    checkpoint,
    resize,
    precision,
    real,
    fake,
    is_weights,
    trust_weights,
    pictures,
    json_out,
    data_root,
) -> None:
    """Score a RUN, a samples.npz or an image folder against --data (or --real against --fake)."""
    from imagegen.cli.evaluation import run_compare_sets, run_eval, score_rows

    if (real is None) != (fake is None):
        raise ImagegenError("give both --real and --fake, or a SOURCE with --data")
    if real is not None:
        if source is not None:
            raise ImagegenError("give either SOURCE --data DATA or --real A --fake B, not both")
        result = run_compare_sets(
            real,
            fake,
            split=split,
            n=n,
            metrics=metrics,
            data_root=data_root,
            settings={"resize": resize, "n_ref": n_ref, "seed": seed, "precision": precision},
        )
    else:
        if source is None or data_name is None:
            raise ImagegenError(
                "give SOURCE (a run, samples.npz or image folder) and --data DATA, "
                "or --real A --fake B"
            )
        result = run_eval(
            source,
            data_name,
            split=split,
            n=n,
            n_ref=n_ref,
            metrics=metrics,
            seed=seed,
            checkpoint=checkpoint,
            data_root=data_root,
            settings={"resize": resize, "precision": precision},
            is_weights=is_weights,
            trust_weights=trust_weights,
            pictures=pictures,
        )
    rows = score_rows(result)
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        click.echo(f"{k:{width}s}  {v}")
    card = result["card"]
    click.echo(
        f"card: {card['n_generated']} generated vs {card['n_real']} {card['reference']['name']}/"
        f"{card['reference']['split']}, {card['feature_network']}, resize {card['resize']}"
    )
    for w in card.get("warnings", []):
        click.echo(f"warning: {w}")
    if json_out:
        from imagegen.training.checkpoint import write_json

        write_json(Path(json_out), result)
        click.echo(f"wrote {json_out}")


@cli.command()
@click.argument("run")
@click.argument("dest")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["diffusers"]),
    default="diffusers",
    show_default=True,
    help="diffusers: a DDPMPipeline folder (unet/ + scheduler/, safetensors).",
)
@click.option("--checkpoint", default=None, help="Export this checkpoint (e.g. step_0005000).")
def export(run, dest, fmt, checkpoint) -> None:
    """Export a trained RUN to DEST in another library's format (EMA weights when the run has them)."""
    from imagegen.cli.workflow import run_export

    path = run_export(run, dest, fmt, checkpoint=checkpoint)
    click.echo(f"wrote {path}: load it with diffusers.DDPMPipeline.from_pretrained('{path}')")


@cli.command()
@click.argument("results", nargs=-1, required=True)
@click.option("--force", is_flag=True, help="Show scores even when their metric cards differ.")
def compare(results, force) -> None:
    """Put the scores of several `imagegen eval --json` files side by side, if comparable."""
    from imagegen.cli.evaluation import compare_results, score_rows

    loaded = compare_results(list(results), force=force)
    table = [dict(score_rows(r)) for r in loaded]
    keys = list(dict.fromkeys(k for row in table for k in row))
    names = [Path(p).stem for p in results]
    widths = [
        max(len(nm), *(len(row.get(k, "-")) for k in keys))
        for nm, row in zip(names, table, strict=True)
    ]
    kw = max(len(k) for k in keys)
    click.echo(
        " " * kw + "  " + "  ".join(nm.rjust(w) for nm, w in zip(names, widths, strict=True))
    )
    for k in keys:
        cells = [row.get(k, "-").rjust(w) for row, w in zip(table, widths, strict=True)]
        click.echo(f"{k:{kw}s}  " + "  ".join(cells))


@cli.command()
@click.argument("root", default="runs")
def runs(root: str) -> None:
    """List the runs under ROOT (default ./runs): step, images, time, last losses, metrics."""
    from imagegen.errors import RunError
    from imagegen.training.run_index import find_runs, summarize_run

    found = find_runs(root)
    if not found:
        raise RunError(f"no runs under {root}: give the folder your --out runs are in")
    for path in found:
        r = summarize_run(path)
        losses = " ".join(f"{k.split('/')[-1]}={v:.4g}" for k, v in r["losses"].items())
        metrics = " ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r["metrics"].items()
        )
        click.echo(
            f"{r['run']}  {r['model']} on {r['data']}  step {r['step']}  {r['images']} images  "
            f"{r['minutes']} min  {losses}  {metrics}".rstrip()
        )


@cli.command()
@click.option("--out", default="runs/demo", show_default=True)
@click.option("--minutes", type=float, default=3.0, show_default=True)
@click.option("--eval-n", type=int, default=1000, show_default=True)
def demo(out: str, minutes: float, eval_n: int) -> None:
    """Train a small model on the bundled digits for a few minutes; write samples, curves, FID, report."""
    from imagegen.cli.workflow import run_demo

    path = run_demo(out, minutes=minutes, eval_n=eval_n)
    click.echo(f"run folder: {path}")
    for name in ("samples.png", "loss.png", "report.html"):
        click.echo(f"  {name:12s} {path / name}")
    ev = path / "eval.json"
    if ev.exists():
        r = json.loads(ev.read_text())
        click.echo(
            f"FID {r['fid']:.2f} ({r['card']['n_generated']} samples vs {r['card']['n_real']} real digits)"
        )


def main(argv: list[str] | None = None) -> None:
    """Entry point: ImagegenError and usage errors -> one line on stderr, exit code 2."""
    try:
        cli.main(args=argv, prog_name="imagegen", standalone_mode=False)
    except ImagegenError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        click.echo(f"error: {e.format_message()} (see `imagegen --help`)", err=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    sys.exit(0)


if __name__ == "__main__":
    main()
