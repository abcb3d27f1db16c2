"""metrics.jsonl and TensorBoard logging of a run."""

from __future__ import annotations

import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)


class MetricsLogger:
    """Appends one JSON line per record to RUN/metrics.jsonl and mirrors it to TensorBoard."""

    def __init__(self, out: Path, tensorboard: bool = True) -> None:
        self.path = out / "metrics.jsonl"
        self.file = open(self.path, "a")
        self.tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(out / "tb"))
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
