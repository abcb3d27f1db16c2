"""Finding and summarising the runs under a folder (what ``imagegen runs`` prints)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from imagegen.training import checkpoint as ckpt
from imagegen.training.run_dir import CONFIG, METRICS, is_run


def find_runs(root: str | Path, max_depth: int = 3) -> list[Path]:
    """Run folders (holding config.json) at or below ``root``, sorted by path."""
    root = Path(root)
    found: list[Path] = []

    def walk(p: Path, depth: int) -> None:
        if is_run(p):
            found.append(p)
            return
        if depth < max_depth:
            for child in sorted(
                c for c in p.iterdir() if c.is_dir() and not c.name.startswith(".")
            ):
                walk(child, depth + 1)

    if root.is_dir():
        walk(root, 0)
    return found


def _last_records(path: Path) -> tuple[dict[str, Any], dict[str, float]]:
    """The last metrics.jsonl record with losses, and the last value of every ``eval/`` key."""
    from imagegen.viz import read_jsonl

    last: dict[str, Any] = {}
    evals: dict[str, float] = {}
    for rec in read_jsonl(path) if path.is_file() else []:
        evals.update({k: v for k, v in rec.items() if k.startswith("eval/")})
        if any(k.startswith("loss") for k in rec):
            last = rec
    return last, evals


def summarize_run(path: str | Path) -> dict[str, Any]:
    """One run in a line: model, data, step, images, training time, last losses, metrics.

    Returns:
        {"run", "model", "data", "step", "images", "minutes", "losses", "metrics", "checkpoint"};
        ``checkpoint`` is the newest loadable checkpoint's name or None, ``metrics`` holds the
        final FID (eval.json), the last periodic ``eval/...`` values and the best checkpoint.
    """
    path = Path(path)
    cfg = json.loads((path / CONFIG).read_text())
    last, evals = _last_records(path / METRICS)
    latest = ckpt.latest_checkpoint(path / "checkpoints")
    state = json.loads((latest / "state.json").read_text()) if latest else {}
    metrics: dict[str, Any] = {k.removeprefix("eval/"): v for k, v in evals.items()}
    if (path / "eval.json").is_file():
        metrics["fid"] = json.loads((path / "eval.json").read_text()).get("fid")
    best = ckpt.read_best(path / "checkpoints")
    if best:
        metrics[f"best {best['metric']}"] = f"{best['value']:.4g} @ {best['step']}"
    return {
        "run": str(path),
        "model": cfg.get("model"),
        "data": cfg.get("data", {}).get("name"),
        "step": state.get("step", 0),
        "images": state.get("images", 0),
        "minutes": round(state.get("elapsed", 0.0) / 60, 1),
        "losses": {k: v for k, v in last.items() if k.startswith("loss")},
        "metrics": metrics,
        "checkpoint": latest.name if latest else None,
    }
