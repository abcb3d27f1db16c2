"""Visualisation of runs: sample grids, loss curves and a self-contained HTML report.

Depends only on numpy, Pillow and matplotlib (imported lazily), never on torch or the models, so
it can read a run folder on any machine.
"""

from imagegen.viz.curves import plot_curves, read_jsonl
from imagegen.viz.grid import auto_scale, make_grid, read_png_metadata, save_png
from imagegen.viz.report import write_report

__all__ = [
    "auto_scale",
    "make_grid",
    "plot_curves",
    "read_jsonl",
    "read_png_metadata",
    "save_png",
    "write_report",
]
