"""Loss curves: read a run's ``metrics.jsonl`` and plot each loss, raw and EMA-smoothed.

matplotlib is imported inside :func:`plot_curves` and drives a bare ``Figure`` with the Agg canvas,
so importing :mod:`imagegen.viz` stays cheap and no global pyplot state or GUI backend is touched.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

from imagegen.viz._atomic import atomic_write_bytes

logger = logging.getLogger(__name__)

MAX_PANELS = 6
"""Most loss keys drawn in one figure; further keys are dropped with a warning."""


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Read one JSON object per line, tolerating a truncated last line.

    A run killed mid-write leaves a partial last line; it is skipped with a warning. Blank lines
    are ignored.

    Args:
        path: a ``.jsonl`` file, e.g. ``RUN/metrics.jsonl``.

    Returns:
        The records in file order.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ValueError: when a line other than the last is not a JSON object.
    """
    # errors="replace": a write cut inside a multi-byte character must not fail the whole file.
    text = Path(path).read_bytes().decode("utf-8", errors="replace")
    lines = [(i, line) for i, line in enumerate(text.splitlines(), start=1) if line.strip()]
    records: list[dict] = []
    for pos, (lineno, line) in enumerate(lines):
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError(f"expected a JSON object, got {type(record).__name__}")
        except ValueError as err:  # json.JSONDecodeError is a ValueError
            if pos == len(lines) - 1:
                logger.warning("%s:%d: skipping truncated last line (%s)", path, lineno, err)
                break
            raise ValueError(f"{path}:{lineno}: not a JSON object ({err})") from err
        records.append(record)
    return records


def ema(values: Sequence[float], smoothing: float) -> list[float]:
    """Debiased exponential moving average, as TensorBoard's smoothing slider draws it.

    ``m_i = s * m_{i-1} + (1 - s) * v_i`` with ``m_0 = 0``, reported as ``m_i / (1 - s^i)`` so the
    first points are not pulled towards zero.

    Args:
        values: the raw series.
        smoothing: ``s`` in ``[0, 1)``; 0 returns the values unchanged.

    Returns:
        The smoothed series, same length as ``values``.
    """
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
    out, m = [], 0.0
    for i, v in enumerate(values, start=1):
        m = smoothing * m + (1.0 - smoothing) * v
        out.append(m / (1.0 - smoothing**i))
    return out


def _loss_keys(records: Sequence[dict]) -> list[str]:
    """Every key starting with ``"loss"``, in order of first appearance."""
    keys: dict[str, None] = {}
    for record in records:
        for key in record:
            if key.startswith("loss"):
                keys.setdefault(key)
    return list(keys)


def _series(records: Sequence[dict], key: str, x_key: str) -> tuple[list[float], list[float]]:
    """The finite numeric points ``(x, y)`` of ``key``; x falls back to the record index."""
    xs, ys = [], []
    for i, record in enumerate(records):
        y, x = record.get(key), record.get(x_key, i)
        if isinstance(y, bool) or not isinstance(y, int | float) or not math.isfinite(y):
            continue
        if isinstance(x, bool) or not isinstance(x, int | float):
            x = i
        xs.append(float(x))
        ys.append(float(y))
    return xs, ys


def plot_curves(
    records: list[dict],
    out_png: str | os.PathLike,
    keys: Sequence[str] | None = None,
    x_key: str = "step",
    smoothing: float = 0.9,
    title: str = "Training losses",
) -> Path:
    """Plot one panel per metric key: raw values faint, the EMA-smoothed line bold.

    Points whose value is missing, non-numeric or non-finite are skipped. A key with no points
    gets an empty panel saying so, so the figure is always written.

    Args:
        records: metric dicts as logged to ``metrics.jsonl``, e.g.
            ``{"step": 10, "images": 640, "loss/D": 1.3, "loss/G": 0.8}``.
        out_png: destination PNG, written atomically.
        keys: metric keys to plot; default every key starting with ``"loss"``. At most
            :data:`MAX_PANELS` are drawn.
        x_key: record key used for the x axis (the record index where it is missing).
        smoothing: EMA factor in ``[0, 1)``; 0 draws the raw values only.
        title: figure title.

    Returns:
        The written PNG as a :class:`~pathlib.Path`.
    """
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    keys = list(keys) if keys is not None else _loss_keys(records)
    if len(keys) > MAX_PANELS:
        logger.warning("plotting the first %d of %d keys: %s", MAX_PANELS, len(keys), keys)
        keys = keys[:MAX_PANELS]

    n = max(1, len(keys))
    ncols = n if n <= 3 else math.ceil(n / 2)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(4.2 * ncols, 3.0 * nrows + 0.4), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    fig.suptitle(title)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[len(keys) :]:
        ax.set_visible(False)
    if not keys:
        axes[0].set_visible(True)
        axes[0].text(0.5, 0.5, "no loss records", ha="center", va="center")
        axes[0].set_axis_off()

    for ax, key in zip(axes, keys, strict=False):
        xs, ys = _series(records, key, x_key)
        ax.set_title(key)
        ax.set_xlabel(x_key)
        ax.set_ylabel(key)
        ax.grid(True, alpha=0.3)
        if not ys:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
            continue
        if smoothing > 0:
            ax.plot(xs, ys, color="C0", alpha=0.25, linewidth=1.0, label="raw")
            ax.plot(xs, ema(ys, smoothing), color="C0", linewidth=2.0, label=f"EMA {smoothing:g}")
            ax.legend(loc="upper right", fontsize="small")
        else:
            ax.plot(xs, ys, color="C0", linewidth=1.5)

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    out = atomic_write_bytes(out_png, buf.getvalue())
    logger.debug("wrote %s with %d panels", out, len(keys))
    return out
