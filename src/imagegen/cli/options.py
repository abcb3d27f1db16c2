"""Turning ``--config FILE.yaml`` and ``--set key=value`` into model, train and data settings."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from imagegen.errors import ConfigError
from imagegen.models.registry import get_model_class
from imagegen.training.config import TrainConfig

DATA_KEYS = {"resolution", "channels", "limit", "on_error", "workers"}
SECTIONS = ("model", "train", "data")


def parse_value(text: str) -> Any:
    """YAML scalar/list parsing: "true" -> True, "1e-3" -> 0.001, "[64,128]" -> [64, 128]."""
    try:
        v = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(v, str):
        try:
            return float(v) if any(c in v for c in ".eE") else v
        except ValueError:
            return v
    return v


def load_config_file(path: str | None) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {s: {} for s in SECTIONS}
    if not path:
        return out
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} not found: give the path of a YAML file")
    try:
        d = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        first = str(e).splitlines()[0]
        raise ConfigError(f"config file {p} is not valid YAML ({first}): fix the file") from None
    if not isinstance(d, dict) or set(d) - set(SECTIONS):
        raise ConfigError(f"config file {p} must be a mapping with sections {', '.join(SECTIONS)}")
    for s in SECTIONS:
        sec = d.get(s) or {}
        if not isinstance(sec, dict):
            raise ConfigError(f"section '{s}' of {p} must be a mapping of key: value")
        out[s].update(sec)
    return out


def apply_sets(model_name: str, settings: dict[str, dict[str, Any]], sets: tuple[str, ...]) -> None:
    """Apply ``key=value`` items; a bare key is looked up in the model's, then the train config."""
    model_keys = {f.name for f in dataclasses.fields(get_model_class(model_name).Config)}
    train_keys = {f.name for f in dataclasses.fields(TrainConfig)}
    known = {"model": model_keys, "train": train_keys, "data": DATA_KEYS}
    for item in sets:
        if "=" not in item:
            raise ConfigError(
                f"--set {item!r} has no '=': write --set key=value, e.g. --set model.lr=1e-4"
            )
        key, _, value = item.partition("=")
        key = key.strip()
        section, _, name = key.rpartition(".")
        if not section:
            section = "model" if name in model_keys else "train" if name in train_keys else ""
            if not section:
                section = "data" if name in DATA_KEYS else ""
        if section not in known or name not in known[section]:
            valid = ", ".join(f"{s}.{k}" for s in SECTIONS for k in sorted(known[s]))
            raise ConfigError(
                f"--set key '{key}' does not exist for model '{model_name}': valid keys are {valid}"
            )
        settings[section][name] = parse_value(value)
