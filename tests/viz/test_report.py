"""Tests for imagegen.viz.report: the self-contained HTML page of a run folder."""

from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pytest
from PIL import Image

from imagegen.errors import RunError
from imagegen.viz.report import write_report


def _png(path, size=(8, 8), value=128):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), value, dtype=np.uint8)).save(path)


def _config(model="dcgan"):
    return {
        "model": model,
        "data": {
            "name": "digits",
            "resolution": 8,
            "channels": 1,
            "num_classes": 10,
            "fingerprint": "ab12cd34",
        },
        "train": {"steps": 1000, "batch_size": 64, "lr": 0.0002},
        "versions": {"imagegen": "0.1.0", "torch": "2.13.0"},
        "seed": 0,
    }


def _full_run(tmp_path, model="dcgan"):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(_config(model)))
    records = [
        {"step": s, "images": 64 * s, "time": 0.01 * s, "loss/D": 1.2, "loss/G": 0.7}
        for s in (100, 200, 300)
    ]
    text = "\n".join(json.dumps(r) for r in records) + '\n{"step": 4'  # truncated last line
    (run / "metrics.jsonl").write_text(text)
    for step in [*range(0, 1000, 100), 1_000_000, 999_999]:
        # one big grid checks that thumbnails are shrunk
        _png(run / "samples" / f"step_{step:06d}.png", size=(600, 300) if step == 900 else (8, 8))
    _png(run / "samples.png", value=7)
    _png(run / "loss.png", value=200)
    evaluation = {
        "fid": 12.3456,
        "precision": 0.71,
        "card": {"n_samples": 10000, "feature": "pool3"},
    }
    (run / "eval.json").write_text(json.dumps(evaluation))
    return run


def _data_uris(page: str) -> list[bytes]:
    return [base64.b64decode(b) for b in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]


def test_full_run(tmp_path):
    run = _full_run(tmp_path)
    out = write_report(run)
    assert out == run / "report.html"
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "dcgan on digits" in page
    assert "FID 12.35" in page
    assert "n_samples" in page and "pool3" in page and "precision" in page
    assert "ab12cd34" in page and "batch_size" in page and "2.13.0" in page
    # the last complete metrics record: step 300 of 1000, 19200 images, 3 s
    assert "300 / 1000" in page and "19200" in page and "0m 03s" in page
    # samples.png + loss.png + the last 6 of 10 intermediate grids, all decodable PNGs
    images = _data_uris(page)
    assert len(images) == 8
    sizes = []
    for data in images:
        with Image.open(io.BytesIO(data)) as im:
            assert im.format == "PNG"
            sizes.append(im.size)
    assert (320, 160) in sizes  # the 600x300 grid as a thumbnail
    # sorted by step number, not by name: step_1000000 is the latest
    assert "step 600" in page and "step 500" not in page
    assert page.index("step 900") < page.index("step 999999") < page.index("step 1000000")
    # self-contained: no external resources
    assert not re.search(r'(src|href)="(?!data:)', page)


def test_malicious_strings_are_escaped(tmp_path):
    run = _full_run(tmp_path, model="<script>alert(1)</script>")
    cfg = json.loads((run / "config.json").read_text())
    cfg["train"]['"><img src=x onerror=alert(2)>'] = "<b>"
    (run / "config.json").write_text(json.dumps(cfg))
    page = write_report(run).read_text(encoding="utf-8")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "onerror=alert(2)>" not in page and "<b>" not in page


def test_only_config(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(_config()))
    page = write_report(run).read_text(encoding="utf-8")
    assert "dcgan on digits" in page and "ab12cd34" in page
    assert "FID" not in page and "data:image/png" not in page


def test_empty_and_broken_files(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{not json")
    (run / "eval.json").write_text("[1, 2]")
    (run / "samples.png").write_bytes(b"not a png")
    page = write_report(run).read_text(encoding="utf-8")
    assert "unknown model" in page and "data:image" not in page


def test_not_a_directory(tmp_path):
    with pytest.raises(RunError):
        write_report(tmp_path / "nope")
