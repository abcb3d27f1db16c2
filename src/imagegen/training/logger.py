"""metrics.jsonl and TensorBoard logging of a run."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


def _keep_until(path: Path, step: int) -> None:
    """Drop the records of ``path`` logged after ``step`` (and a torn last line)."""
    lines = path.read_text().splitlines()
    kept = []
    for line in lines:
        try:
            if json.loads(line)["step"] <= step:
                kept.append(line)
        except (ValueError, KeyError, TypeError):  # a line cut short by a kill
            continue
    if len(kept) == len(lines):
        return
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text("".join(line + "\n" for line in kept))
    os.replace(tmp, path)


class MetricsLogger:
    """Appends one JSON line per record to RUN/metrics.jsonl and mirrors it to TensorBoard."""

    def __init__(self, out: Path, tensorboard: bool = True, from_step: int = 0) -> None:
        """Open the run's logs at ``from_step``.

        A run resumed from the checkpoint at step s may have logged steps after s before it died;
        those records are dropped (metrics.jsonl rewritten atomically, TensorBoard purged) so that
        the resumed steps are not logged twice.
        """
        self.path = out / "metrics.jsonl"
        if self.path.is_file():
            _keep_until(self.path, from_step)
        self.file = open(self.path, "a")
        self.tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(out / "tb"), purge_step=from_step + 1)
            except ImportError:  # tensorboard is optional at run time
                log.info("tensorboard not installed: logging to metrics.jsonl only")

    def log(
        self, step: int, images: int, elapsed: float, imgs_per_s: float, values: dict[str, float]
    ) -> None:
        rec = {
            "step": step,
            "images": images,
            "time": round(elapsed, 3),
            "imgs_per_s": round(imgs_per_s, 1),
            **values,
        }
        self.file.write(json.dumps(rec) + "\n")
        self.file.flush()
        if self.tb is not None:
            for k, v in values.items():
                self.tb.add_scalar(k, v, step)
            self.tb.add_scalar("perf/imgs_per_s", imgs_per_s, step)

    def close(self) -> None:
        self.file.close()
        if self.tb is not None:
            self.tb.close()
