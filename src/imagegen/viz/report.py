"""One self-contained HTML page per run, so a run can be looked at (or mailed) as a single file.

The page reads the fixed run folder layout written by the trainer::

    RUN/config.json            model, data, train, versions
    RUN/metrics.jsonl          one record per log step
    RUN/samples/step_*.png     intermediate sample grids
    RUN/samples.png            final sample grid
    RUN/loss.png               loss curves
    RUN/eval.json              {"fid": ..., "card": {...}}

and shows whatever of it exists. Images are embedded as base64 ``data:`` URIs and every string from
the run is escaped with :func:`html.escape`.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PIL import Image

from imagegen.errors import RunError
from imagegen.viz._atomic import atomic_write_bytes
from imagegen.viz.curves import read_jsonl

logger = logging.getLogger(__name__)

REPORT_NAME = "report.html"
MAX_THUMBNAILS = 6
"""Number of intermediate grids (the latest ones) shown in the strip."""
THUMBNAIL_WIDTH = 320
"""Intermediate grids wider than this are shrunk to keep the page small."""

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
.sub { color: #666; margin-top: 0; }
table { border-collapse: collapse; font-size: 0.92em; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; font-weight: 600; }
td.sec { background: #eef3fa; font-weight: 600; }
.fid { font-size: 2.4em; font-weight: 700; margin: 0.2em 0; }
.fid span { font-size: 0.45em; font-weight: 400; color: #666; }
img { max-width: 100%; border: 1px solid #ccc; }
/* sample grids are small pixel art: never blur them when the browser rescales */
img.px { image-rendering: pixelated; }
.strip { display: flex; flex-wrap: wrap; gap: 10px; }
.strip figure { margin: 0; text-align: center; font-size: 0.85em; color: #555; }
.strip img { width: 160px; }
"""


def _esc(value: Any) -> str:
    """Escape any value for HTML; containers are shown as compact JSON."""
    if isinstance(value, Mapping | list | tuple):
        value = json.dumps(value, default=str)
    elif isinstance(value, float):
        value = f"{value:.6g}"
    return html.escape(str(value))


def _load_json(path: Path) -> dict | None:
    """The JSON object in ``path``, or None when it is missing or unreadable (logged)."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        logger.warning("%s: unreadable, left out of the report (%s)", path, err)
        return None
    if not isinstance(data, dict):
        logger.warning("%s: not a JSON object, left out of the report", path)
        return None
    return data


def _data_uri(path: Path, max_width: int | None = None) -> str | None:
    """``path`` as a PNG ``data:`` URI, shrunk to ``max_width`` if wider; None if unreadable."""
    try:
        data = path.read_bytes()
        with Image.open(io.BytesIO(data)) as im:
            shrink = max_width is not None and im.width > max_width
            if shrink or im.format != "PNG":
                if shrink:
                    im.thumbnail((max_width, max_width * im.height // im.width + 1))
                buf = io.BytesIO()
                im.save(buf, format="PNG")
                data = buf.getvalue()
    except OSError as err:  # PIL.UnidentifiedImageError is an OSError
        logger.warning("%s: unreadable image, left out of the report (%s)", path, err)
        return None
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _duration(seconds: Any) -> str:
    """``3725.2`` -> ``"1h 02m 05s"``; other values are shown as given."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return str(seconds)
    if not math.isfinite(seconds):
        return str(seconds)
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h {m:02d}m {s:02d}s" if h else f"{m}m {s:02d}s"


def _model_name(config: Mapping[str, Any]) -> str:
    model = config.get("model")
    if isinstance(model, Mapping):
        model = model.get("name") or model.get("family")
    return str(model) if model else "unknown model"


def _dataset_name(config: Mapping[str, Any]) -> str:
    data = config.get("data")
    if isinstance(data, Mapping):
        data = data.get("name")
    return str(data) if data else "unknown data"


def _facts(
    config: Mapping[str, Any], last: Mapping[str, Any] | None
) -> list[tuple[str | None, Any]]:
    """The rows of the key-facts table; a row whose key is None is a section heading."""
    rows: list[tuple[str | None, Any]] = [(None, "Run"), ("model", _model_name(config))]
    model = config.get("model")
    if isinstance(model, Mapping):
        rows += [(f"model.{k}", v) for k, v in model.items() if k != "name"]
    data = config.get("data")
    if isinstance(data, Mapping):
        rows += [(f"data.{k}", v) for k, v in data.items()]
    elif data is not None:
        rows.append(("data", data))
    for key in ("seed", "device"):
        if key in config:
            rows.append((key, config[key]))
    train = config.get("train")
    if isinstance(train, Mapping) and train:
        rows += [(None, "Training")] + [(k, v) for k, v in train.items()]
    if last:
        rows.append((None, "Progress (last metrics record)"))
        steps = train.get("steps") if isinstance(train, Mapping) else None
        if "step" in last:
            rows.append(("step", f"{last['step']} / {steps}" if steps else last["step"]))
        if "images" in last:
            rows.append(("images seen", last["images"]))
        if "time" in last:
            rows.append(("wall time", _duration(last["time"])))
        rows += [(k, v) for k, v in last.items() if k not in ("step", "images", "time")]
    versions = config.get("versions")
    if isinstance(versions, Mapping) and versions:
        rows += [(None, "Versions")] + [(k, v) for k, v in versions.items()]
    return rows


def _table(rows: list[tuple[str | None, Any]]) -> str:
    out = ["<table>"]
    for key, value in rows:
        if key is None:
            out.append(f'<tr><td class="sec" colspan="2">{_esc(value)}</td></tr>')
        else:
            out.append(f"<tr><th>{_esc(key)}</th><td>{_esc(value)}</td></tr>")
    out.append("</table>")
    return "\n".join(out)


def _eval_section(evaluation: Mapping[str, Any]) -> str:
    out = ["<h2>Evaluation</h2>"]
    fid = evaluation.get("fid")
    if isinstance(fid, int | float) and not isinstance(fid, bool):
        out.append(f'<p class="fid">FID {_esc(f"{fid:.2f}")} <span>(lower is better)</span></p>')
    elif fid is not None:
        out.append(f'<p class="fid">FID {_esc(fid)}</p>')
    others = [(k, v) for k, v in evaluation.items() if k not in ("fid", "card")]
    if others:
        out.append(_table(others))
    card = evaluation.get("card")
    if isinstance(card, Mapping) and card:
        out += ["<h3>Evaluation card</h3>", _table(list(card.items()))]
    elif card is not None:
        out.append(f"<p>{_esc(card)}</p>")
    return "\n".join(out)


def _image_section(heading: str, path: Path, alt: str, css_class: str = "") -> str:
    uri = _data_uri(path) if path.is_file() else None
    if uri is None:
        return ""
    return f'<h2>{_esc(heading)}</h2>\n<img class="{css_class}" src="{uri}" alt="{_esc(alt)}">'


def _step_of(path: Path) -> tuple[int, str]:
    """Sort key: the step number in ``step_000500.png`` (names past 6 digits still sort right)."""
    digits = path.stem.removeprefix("step_")
    return (int(digits) if digits.isdigit() else -1, path.name)


def _strip_section(sample_dir: Path) -> str:
    paths = sorted(sample_dir.glob("step_*.png"), key=_step_of) if sample_dir.is_dir() else []
    paths = paths[-MAX_THUMBNAILS:]
    figures = []
    for path in paths:
        uri = _data_uri(path, max_width=THUMBNAIL_WIDTH)
        if uri is None:
            continue
        label = path.stem.removeprefix("step_").lstrip("0") or "0"
        figures.append(
            f'<figure><img class="px" src="{uri}" alt="{_esc(path.name)}">'
            f"<figcaption>step {_esc(label)}</figcaption></figure>"
        )
    if not figures:
        return ""
    return '<h2>Samples during training</h2>\n<div class="strip">' + "".join(figures) + "</div>"


def _last_record(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        records = read_jsonl(path)
    except (OSError, ValueError) as err:
        logger.warning("%s: unreadable, left out of the report (%s)", path, err)
        return None
    return records[-1] if records else None


def write_report(run_dir: str | os.PathLike) -> Path:
    """Write ``run_dir/report.html``: one self-contained page summarising the run.

    Shows the model and dataset, a table of key facts (config and the last metrics record), the
    FID and evaluation card, the final sample grid, the loss curves and the latest intermediate
    grids. Files that are missing or unreadable are left out; the page is always written.

    Args:
        run_dir: a run folder as laid out by the trainer (see the module docstring).

    Returns:
        Path of the written ``report.html``.

    Raises:
        RunError: when ``run_dir`` is not a directory.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"{run_dir} is not a run folder: pass the directory a training run wrote")
    config = _load_json(run_dir / "config.json") or {}
    evaluation = _load_json(run_dir / "eval.json")
    last = _last_record(run_dir / "metrics.jsonl")
    title = f"{_model_name(config)} on {_dataset_name(config)}"

    body = [
        f"<h1>{_esc(title)}</h1>",
        f'<p class="sub">imagegen run <code>{_esc(run_dir.resolve().name)}</code></p>',
    ]
    if evaluation is not None:
        body.append(_eval_section(evaluation))
    body.append(_image_section("Final samples", run_dir / "samples.png", "final sample grid", "px"))
    body.append(_image_section("Loss curves", run_dir / "loss.png", "loss curves"))
    body.append(_strip_section(run_dir / "samples"))
    body += ["<h2>Run facts</h2>", _table(_facts(config, last))]

    page = "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{_esc(title)} - imagegen report</title>",
            f"<style>{_CSS}</style></head><body>",
            *[part for part in body if part],
            "</body></html>",
            "",
        ]
    )
    out = atomic_write_bytes(run_dir / REPORT_NAME, page.encode("utf-8"))
    logger.info("wrote %s", out)
    return out
