"""The viz layer must run without torch or the models: check its imports statically."""

from __future__ import annotations

import ast
from pathlib import Path

import imagegen.viz

FORBIDDEN = ("torch", "imagegen.models", "imagegen.training", "imagegen.sampling")


def test_viz_imports_no_torch_or_models():
    viz_dir = Path(imagegen.viz.__file__).parent
    files = sorted(viz_dir.glob("*.py"))
    assert len(files) >= 4
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert not name.startswith(FORBIDDEN), f"{path.name} imports {name}"


def test_public_api():
    assert set(imagegen.viz.__all__) == {
        "auto_scale",
        "make_grid",
        "plot_curves",
        "read_jsonl",
        "read_png_metadata",
        "save_png",
        "write_report",
    }
