"""Export a DDPM run as a diffusers pipeline folder (``DDPMPipeline.from_pretrained(DIR)``).

The backbone already is diffusers' ``UNet2DModel`` and the schedule a diffusers scheduler, so the
export is their own ``save_pretrained`` (safetensors weights, JSON configs): nothing is converted.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from imagegen.errors import ConfigError, RunError
from imagegen.models.base import GenerativeModel
from imagegen.models.diffusion.sampler import make_scheduler


def export_diffusers(model: GenerativeModel, out: str | Path) -> Path:
    """Write ``model`` (a ddpm) to ``out`` as a ``DDPMPipeline``: ``unet/`` + ``scheduler/``.

    The scheduler is the training schedule's DDPM scheduler; ``DDIMPipeline.from_pretrained``
    turns it into DDIM. The folder is written next to ``out`` first and renamed into place, so a
    failed export leaves nothing half-written.
    """
    from diffusers import DDPMPipeline

    if getattr(model, "name", "") != "ddpm":
        raise ConfigError(
            f"model '{model.name}' has no diffusers pipeline: export a run of ddpm "
            "(its UNet is diffusers' UNet2DModel)"
        )
    c = model.config
    if c.text:
        raise ConfigError(
            "a text-to-image UNet cannot run in DDPMPipeline (the pipeline has no text encoder): "
            "export an unconditional ddpm run"
        )
    if c.conditional:
        raise ConfigError(
            "a class-conditional UNet cannot run in DDPMPipeline (the pipeline passes no labels): "
            "export an unconditional ddpm run"
        )
    if c.patch_size != 1:
        raise ConfigError(
            f"this run's UNet sees {c.patch_size}x{c.patch_size} patches, which DDPMPipeline "
            "cannot undo: export a run trained with model.patch_size=1"
        )
    out = Path(out)
    if out.exists():
        raise RunError(f"{out} already exists: give a new folder to export into")
    scheduler = make_scheduler("ddpm", c.schedule, c.timesteps, c.prediction, variance=c.variance)
    pipeline = DDPMPipeline(unet=model.unet, scheduler=scheduler)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        pipeline.save_pretrained(tmp, safe_serialization=True)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
