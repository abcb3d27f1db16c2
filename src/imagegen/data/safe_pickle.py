"""Unpickle untrusted data that should hold only plain containers and numpy arrays.

``pickle`` runs whatever callables a file names, so a downloaded "dataset" can execute code. This
unpickler resolves only the few globals that numpy arrays need and refuses every other global with
a :class:`~imagegen.errors.DataError` *before* anything is called. Plain dicts, lists, tuples,
str, bytes, ints and floats need no globals and load as usual.
"""

from __future__ import annotations

import codecs
import io
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np

from imagegen.errors import DataError


def _reconstruct() -> Callable[..., Any]:
    try:
        from numpy._core.multiarray import _reconstruct as fn  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct as fn
    return fn


ALLOWED: dict[tuple[str, str], Callable[[], Any]] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
    ("_codecs", "encode"): lambda: codecs.encode,
}


class RestrictedUnpickler(pickle.Unpickler):
    """A :class:`pickle.Unpickler` whose ``find_class`` permits only :data:`ALLOWED` globals."""

    def __init__(self, file: io.BufferedIOBase, *, where: str, encoding: str = "bytes") -> None:
        super().__init__(file, encoding=encoding)
        self.where = where

    def find_class(self, module: str, name: str) -> Any:
        factory = ALLOWED.get((module, name))
        if factory is None:
            raise DataError(
                f"refusing to unpickle {module}.{name} from {self.where}: the file is not a plain "
                "data pickle and may run code; delete it and get the dataset from its official source"
            )
        return factory()


def safe_loads(data: bytes, *, where: str, encoding: str = "bytes") -> Any:
    """Unpickle ``data`` with :class:`RestrictedUnpickler`.

    Args:
        data: the pickle's bytes.
        where: the file name, for error messages.
        encoding: how Python 2 ``str`` objects are decoded ("bytes" keeps them as bytes).

    Raises:
        DataError: a forbidden global, or data that is not a valid pickle.
    """
    try:
        return RestrictedUnpickler(io.BytesIO(data), where=where, encoding=encoding).load()
    except DataError:
        raise
    except Exception as e:  # UnpicklingError, EOFError, ValueError, TypeError from bad opcodes
        raise DataError(
            f"cannot unpickle {where} ({type(e).__name__}: {' '.join(str(e).split())}): "
            "delete it and download it again"
        ) from None
