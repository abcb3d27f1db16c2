"""Load a finished (or running) run folder and sample from it."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from imagegen.data.base import DataSpec
from imagegen.errors import RunError
from imagegen.models.base import GenerativeModel
from imagegen.models.registry import create_model
from imagegen.safe_weights import load_into
from imagegen.sampling.generate import generate
from imagegen.training import checkpoint as ckpt
from imagegen.training.run_dir import read_config

NO_GUIDE = "none"  # the guide option that turns a run's default guide off


@dataclass
class Run:
    """A run folder with its model (EMA weights when the run kept an EMA).

    Attributes:
        path: the run folder.
        config: its config.json.
        model: the model, in eval mode, with the checkpoint's sampling weights.
        step: the checkpoint's training step.
        checkpoint: the checkpoint's directory name (e.g. "step_0004000").
        weights: the weights file loaded ("ema.safetensors" or "model.safetensors").
        weights_sha256: its SHA-256 (from the checkpoint's manifest, checked on load).
    """

    path: Path
    config: dict[str, Any]
    model: GenerativeModel
    step: int
    checkpoint: str = ""
    weights: str = ""
    weights_sha256: str = ""

    @property
    def model_hash(self) -> str:
        """The first 16 hex digits of the weights' SHA-256: names the exact model in outputs."""
        return self.weights_sha256[:16]

    def sample(
        self,
        n: int,
        *,
        seed: int = 0,
        first: int = 0,
        labels: torch.Tensor | list[int] | int | None = None,
        batch_size: int = 256,
        progress: Callable[[int, int], None] | None = None,
        **options: Any,
    ) -> np.ndarray:
        """``n`` images as uint8 ``(n, H, W, C)``; see :func:`imagegen.sampling.generate`.
        A diffusion run's ``guide`` option may name a run or checkpoint folder (autoguidance);
        without one, the run's ``model.guide_run`` or its own ``model.guide_at`` checkpoint
        guides (see :meth:`sampling_options`)."""
        options = self.sampling_options(options)
        if options.get("guide") is not None:
            device = next(self.model.parameters()).device
            options = {**options, "guide": resolve_guide(options["guide"], device)}
        return generate(
            self.model,
            n,
            seed=seed,
            first=first,
            labels=labels,
            batch_size=batch_size,
            progress=progress,
            **options,
        )

    def sampling_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """``options`` with the run's default guide filled in: where the model config sets
        ``guide_run`` (a separately trained guide) or ``guide_at`` and no ``guide`` is given, that
        run or the folder of :meth:`checkpoint_at` and, for a model trained with label dropout,
        ``guide_unconditional``. ``guide="none"`` drops the guide (classifier-free guidance, or
        none)."""
        guide = options.get("guide")
        if guide == NO_GUIDE:
            return {k: v for k, v in options.items() if k not in ("guide", "guide_unconditional")}
        model_config = self.config.get("model_config", {})
        at = float(model_config.get("guide_at") or 0.0)
        guide_run = str(model_config.get("guide_run") or "")
        if guide is not None or (at <= 0 and not guide_run):
            return options
        if guide_run and not Path(guide_run).is_dir():
            raise RunError(
                f"the default guide model.guide_run={guide_run!r} of {self.path} is not a folder "
                "(paths are read from the current directory): train or move it there, pass "
                "--guide RUN, or --guide none to sample without it"
            )
        default = guide_run or str(self.checkpoint_at(at))
        filled = {**options, "guide": default}
        filled.setdefault("guide_unconditional", bool(getattr(self.model, "guidable", False)))
        return filled

    def checkpoint_at(self, fraction: float) -> Path:
        """The kept checkpoint before this one whose step is nearest ``fraction`` x its step."""
        target = fraction * self.step
        earlier = [
            (abs(step - target), path)
            for path in ckpt.list_checkpoints(self.path / "checkpoints")
            if (step := int(path.name.removeprefix(ckpt.PREFIX))) < self.step
        ]
        if not earlier:
            raise RunError(
                f"{self.path} keeps no checkpoint before step {self.step} to guide by "
                f"(model.guide_at={fraction}): pass --guide RUN, or --guide none to sample "
                "without it"
            )
        return min(earlier, key=lambda e: e[0])[1]

    @property
    def name(self) -> str:
        return self.model.name


def load_run(
    path: str | Path, *, device: str = "cpu", checkpoint: str | None = None, ema: bool = True
) -> Run:
    """Rebuild the model of a run folder from its config and latest (or named) checkpoint.

    Args:
        path: run folder written by :func:`imagegen.train`, or one of its checkpoint folders
            (RUN/checkpoints/step_0001000, the same as ``checkpoint="step_0001000"``).
        device: where to put the model.
        checkpoint: a checkpoint directory name (e.g. "step_0001000"); default the latest.
        ema: use the EMA weights when the run has them.
    """
    path = Path(path)
    if (
        checkpoint is None
        and path.parent.name == "checkpoints"
        and not (path / "config.json").is_file()
    ):
        path, checkpoint = path.parent.parent, path.name
    cfg = read_config(path)
    root = path / "checkpoints"
    if checkpoint is None:
        found = ckpt.latest_checkpoint(root)
        if found is None:
            raise RunError(
                f"{path} has no complete checkpoint yet: wait for the first checkpoint or train longer"
            )
    else:
        found = root / checkpoint
        if not (found / "manifest.json").is_file():
            names = ", ".join(p.name for p in ckpt.list_checkpoints(root)) or "none"
            raise RunError(f"checkpoint {checkpoint} not found in {root}: choose one of {names}")
        ckpt.verify_checkpoint(found)  # latest_checkpoint has verified the one it returns
    try:
        spec = DataSpec.from_dict(cfg["spec"])
        model = create_model(cfg["model"], spec, cfg["model_config"])
    except KeyError as e:
        raise RunError(f"{path / 'config.json'} lacks {e}: the run folder is damaged") from None
    name = "ema" if ema and (found / "ema.safetensors").is_file() else "model"
    load_into(model, ckpt.load_tensors(found, name), found / f"{name}.safetensors")
    step = int(json.loads((found / "state.json").read_text())["step"])
    digest = json.loads((found / "manifest.json").read_text())["files"][f"{name}.safetensors"]
    model.to(device).eval()
    return Run(
        path=path,
        config=cfg,
        model=model,
        step=step,
        checkpoint=found.name,
        weights=f"{name}.safetensors",
        weights_sha256=digest,
    )


def resolve_guide(guide: Any, device: torch.device | str = "cpu") -> Any:
    """A diffusion ``guide`` option as a model: a run or checkpoint folder is loaded (to
    ``device``); a model is passed through."""
    if isinstance(guide, str | Path):
        return load_run(guide, device=str(device)).model
    return guide


def create_ldm(
    autoencoder_run: str | Path,
    spec: DataSpec | None = None,
    config: dict[str, Any] | None = None,
    *,
    seed: int | None = 0,
) -> GenerativeModel:
    """A latent diffusion model (``ldm``) on the frozen autoencoder of a trained run.

    Args:
        autoencoder_run: a run folder of klvae, vqvae, vae or beta_vae (its EMA weights if it has them).
        spec: the training data's spec; it must match the autoencoder's (None: the autoencoder's).
        config: ldm fields (the UNet, sampler, guidance ...); the autoencoder fields are filled in.
        seed: seeds the UNet's initial weights.
    """
    ae = load_run(autoencoder_run)
    if ae.model.family != "vae":
        raise RunError(
            f"{autoencoder_run} is a run of '{ae.name}', not an autoencoder: give a run of "
            "klvae, vqvae or vae"
        )
    ae_spec = ae.model.spec
    if spec is not None and (spec.channels, spec.resolution) != (
        ae_spec.channels,
        ae_spec.resolution,
    ):
        raise RunError(
            f"the autoencoder of {autoencoder_run} was trained on {ae_spec.channels}x"
            f"{ae_spec.resolution}x{ae_spec.resolution} images, the data is {spec.channels}x"
            f"{spec.resolution}x{spec.resolution}: train the ldm on the autoencoder's data"
        )
    cfg = {
        **(config or {}),
        "autoencoder_model": ae.name,
        "autoencoder_config": ae.config["model_config"],
        "autoencoder_run": str(Path(autoencoder_run).resolve()),
    }
    model = create_model("ldm", spec or ae_spec, cfg, seed=seed)
    model.autoencoder.load_state_dict(ae.model.state_dict())
    return model
