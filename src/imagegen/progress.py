"""A tqdm-backed ``progress(done, total)`` callback for long library calls (features, sampling)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def tqdm_callback(desc: str, unit: str = "img") -> Callable[[int, int], None]:
    """A callback that draws a tqdm bar on stderr; a new ``total`` starts a new bar."""
    from tqdm.auto import tqdm

    state: dict[str, Any] = {}

    def cb(done: int, total: int) -> None:
        if "bar" not in state or state["total"] != total:
            if "bar" in state:
                state["bar"].close()
            state["bar"] = tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True)
            state["total"] = total
        bar = state["bar"]
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return cb
