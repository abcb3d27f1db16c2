"""The restricted unpickler: numpy arrays and plain containers load, any other global is refused."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from imagegen.data.safe_pickle import safe_loads
from imagegen.errors import DataError
from tests.data.conftest import assert_one_line


class _RunsShell:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # what a malicious "dataset" file would contain
        return (os.system, (f"touch {self.marker}",))


class _Evals:
    def __reduce__(self):
        return (eval, ("__import__('os').getcwd()",))


def test_malicious_reduce_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps({b"data": _RunsShell(marker)}, protocol=2)
    with pytest.raises(DataError, match="refusing to unpickle") as err:
        safe_loads(payload, where="evil.pkl")
    assert_one_line(str(err.value))
    assert "system" in str(err.value)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_eval_is_refused_at_every_protocol(protocol: int) -> None:
    with pytest.raises(DataError, match=r"refusing to unpickle (__builtin__|builtins)\.eval"):
        safe_loads(pickle.dumps(_Evals(), protocol=protocol), where="x")


@pytest.mark.parametrize("protocol", [2, 4])
def test_arrays_and_plain_containers_load(protocol: int) -> None:
    d = {
        b"data": np.arange(12, dtype=np.uint8).reshape(3, 4),
        b"labels": [1, 2, 3],
        b"name": b"x",
        "s": 1.5,
    }
    out = safe_loads(pickle.dumps(d, protocol=protocol), where="x")
    np.testing.assert_array_equal(out[b"data"], d[b"data"])
    assert out[b"labels"] == [1, 2, 3] and out[b"name"] == b"x" and out["s"] == 1.5


def test_numpy_1_module_path_is_accepted() -> None:
    # Files written by numpy 1.x (like the real CIFAR-10 batches) name numpy.core.multiarray.
    raw = pickle.dumps(np.arange(4, dtype=np.uint8), protocol=2)
    old = raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"numpy.core.multiarray" in old
    np.testing.assert_array_equal(safe_loads(old, where="x"), np.arange(4))


def test_garbage_is_a_data_error() -> None:
    with pytest.raises(DataError, match="cannot unpickle") as err:
        safe_loads(b"\x80\x02garbage", where="x")
    assert_one_line(str(err.value))
