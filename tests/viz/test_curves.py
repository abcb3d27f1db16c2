"""Tests for imagegen.viz.curves: tolerant JSONL reading, EMA and the loss plot."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from imagegen.viz.curves import ema, plot_curves, read_jsonl


def _records(n: int = 50) -> list[dict]:
    return [
        {
            "step": 10 * i,
            "images": 640 * i,
            "time": 0.5 * i,
            "loss/D": 1.3 - 0.01 * i + 0.1 * (-1) ** i,
            "loss/G": 0.8 + 0.01 * i,
            "imgs_per_s": 200.0,
        }
        for i in range(1, n + 1)
    ]


def test_read_jsonl_skips_truncated_last_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    lines = [json.dumps(r) for r in _records(3)]
    path.write_text("\n".join(lines) + "\n\n" + lines[0][:17])  # killed mid-write
    records = read_jsonl(path)
    assert records == _records(3)


def test_read_jsonl_complete_last_line_without_newline(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1}\n{"step": 2}')
    assert read_jsonl(path) == [{"step": 1}, {"step": 2}]


def test_read_jsonl_truncated_inside_multibyte_char(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b'{"step": 1}\n{"note": "\xe2\x98')
    assert read_jsonl(path) == [{"step": 1}]


def test_read_jsonl_corrupt_middle_line_raises(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1}\n{"step": \n{"step": 3}\n')
    with pytest.raises(ValueError, match=":2:"):
        read_jsonl(path)


def test_ema_debiased():
    assert ema([5.0, 5.0, 5.0], 0.9) == pytest.approx([5.0, 5.0, 5.0])
    # m1 = 0.5*1 = 0.5 -> 1.0; m2 = 0.5*0.5 + 0.5*3 = 1.75 -> 1.75 / 0.75
    assert ema([1.0, 3.0], 0.5) == pytest.approx([1.0, 1.75 / 0.75])
    assert ema([1.0, 3.0], 0.0) == [1.0, 3.0]
    with pytest.raises(ValueError):
        ema([1.0], 1.0)


def test_plot_curves_writes_png(tmp_path):
    out = plot_curves(_records(), tmp_path / "loss.png")
    assert out == tmp_path / "loss.png"
    assert out.stat().st_size > 1000
    with Image.open(out) as im:
        assert im.format == "PNG"
        assert im.width > im.height > 100  # two panels side by side


def test_plot_curves_tolerates_gaps_and_empty(tmp_path):
    records = _records(10)
    records[3]["loss/D"] = float("nan")
    records[4]["loss/D"] = None
    del records[5]["step"]
    out = plot_curves(records, tmp_path / "a.png", keys=["loss/D", "missing"], smoothing=0.0)
    assert out.stat().st_size > 0
    empty = plot_curves([], tmp_path / "b.png")
    with Image.open(empty) as im:
        assert im.format == "PNG"
