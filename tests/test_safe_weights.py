"""Hostile weight files are refused at once, run no code and leave the model untouched."""

from __future__ import annotations

import json
import pickle
import struct
import time

import pytest
import torch
from safetensors.torch import save_file

from imagegen.errors import RunError
from imagegen.safe_weights import check_safetensors, load_into, read_safetensors


class _Marker:
    """Unpickling this creates the marker file: proof that code ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _raw(path, header: dict, data: bytes) -> None:
    h = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(h)) + h + data)


def _hostile(tmp_path, kind: str, marker):
    f = tmp_path / f"{kind}.safetensors"
    f32 = struct.pack("<4f", 1, 2, 3, 4)
    if kind == "pickle":
        f.write_bytes(pickle.dumps({"w": _Marker(marker)}))
    elif kind == "torch_save":
        torch.save({"w": _Marker(marker)}, f)
    elif kind == "oversized_header":
        f.write_bytes(struct.pack("<Q", 2**40) + b"{}")
    elif kind == "offsets_past_end":
        _raw(f, {"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 64]}}, f32)
    elif kind == "duplicate_keys":
        e = '{"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}'
        h = ('{"w": ' + e + ', "w": ' + e + "}").encode()
        f.write_bytes(struct.pack("<Q", len(h)) + h + f32)
    elif kind == "shape_bytes_mismatch":
        _raw(f, {"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 16]}}, f32)
    elif kind == "overlap":
        _raw(
            f,
            {
                "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
            },
            f32,
        )
    elif kind == "truncated":
        save_file({"w": torch.ones(64)}, str(f))
        f.write_bytes(f.read_bytes()[:-100])
    elif kind == "bad_dtype":
        _raw(f, {"w": {"dtype": "OBJ", "shape": [4], "data_offsets": [0, 16]}}, f32)
    elif kind == "empty":
        f.write_bytes(b"")
    return f


KINDS = [
    "pickle", "torch_save", "oversized_header", "offsets_past_end", "duplicate_keys",
    "shape_bytes_mismatch", "overlap", "truncated", "bad_dtype", "empty",
]  # fmt: skip


@pytest.mark.parametrize("kind", KINDS)
def test_hostile_files_are_refused_fast_without_running_code(tmp_path, kind):
    marker = tmp_path / "code_ran"
    f = _hostile(tmp_path, kind, marker)
    model = torch.nn.Linear(2, 2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    t = time.perf_counter()
    with pytest.raises(RunError, match=r"refusing to load .*re-save the weights"):
        load_into(model, read_safetensors(f), f)
    assert time.perf_counter() - t < 1.0
    assert not marker.exists()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_a_pickle_is_named_as_one(tmp_path):
    f = _hostile(tmp_path, "pickle", tmp_path / "m")
    with pytest.raises(RunError, match="pickle or torch.save archive"):
        check_safetensors(f)


def test_an_intact_file_loads_with_its_metadata_ignored(tmp_path):
    f = tmp_path / "ok.safetensors"
    tensors = {"weight": torch.randn(2, 2), "bias": torch.randn(2)}
    save_file(tensors, str(f), metadata={"format": "pt"})
    assert set(check_safetensors(f)) == {"weight", "bias"}
    model = torch.nn.Linear(2, 2)
    load_into(model, read_safetensors(f), f)
    assert torch.equal(model.weight, tensors["weight"]) and torch.equal(model.bias, tensors["bias"])


def test_a_file_for_another_model_lists_the_differences_and_loads_nothing(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 2))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    other = {"0.weight": torch.zeros(3, 2), "0.bias": torch.zeros(3), "1.weight": torch.zeros(2, 4)}
    other["2.weight"] = torch.zeros(1)
    with pytest.raises(RunError) as e:
        load_into(model, other, "x.safetensors")
    msg = str(e.value)
    assert "missing: 1.bias" in msg and "unexpected: 2.weight" in msg
    assert "shape: 1.weight [2, 4] != [2, 3]" in msg
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
