import pytest
import torch

from imagegen.errors import RunError
from imagegen.training import checkpoint as ckpt


def _save(root, step, keep=2):
    return ckpt.save_checkpoint(
        root, step, {"model": {"w": torch.full((3,), float(step))}}, {"step": step}, keep
    )


def test_keep_last_and_ordering(tmp_path):
    for s in (1, 2, 3):
        _save(tmp_path, s)
    names = [p.name for p in ckpt.list_checkpoints(tmp_path)]
    assert names == ["step_0000002", "step_0000003"]
    assert ckpt.load_tensors(ckpt.latest_checkpoint(tmp_path), "model")["w"][0] == 3


def test_uncommitted_directories_are_ignored(tmp_path):
    _save(tmp_path, 1)
    (tmp_path / ".tmp-step_0000002-99").mkdir()
    half = tmp_path / "step_0000003"
    half.mkdir()  # a directory without a manifest was never committed
    assert ckpt.latest_checkpoint(tmp_path).name == "step_0000001"


def test_corrupt_file_is_detected(tmp_path):
    p = _save(tmp_path, 1)
    data = (p / "model.safetensors").read_bytes()
    (p / "model.safetensors").write_bytes(data[:-4] + b"\0\0\0\1")
    with pytest.raises(RunError, match="corrupt"):
        ckpt.verify_checkpoint(p)


def test_failed_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    _save(tmp_path, 1)

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ckpt, "save_file", boom)
    with pytest.raises(OSError):
        _save(tmp_path, 2)
    assert [p.name for p in tmp_path.iterdir()] == ["step_0000001"]
    ckpt.verify_checkpoint(tmp_path / "step_0000001")


def test_optimizer_round_trip():
    p = torch.nn.Parameter(torch.randn(4))
    opt = torch.optim.Adam([p], lr=0.01, betas=(0.5, 0.9))
    p.sum().backward()
    opt.step()
    tensors, meta = ckpt.optimizer_to_files(opt, "G")
    import json

    meta = json.loads(json.dumps(meta))
    opt2 = torch.optim.Adam([torch.nn.Parameter(p.detach().clone())], lr=0.5)
    opt2.load_state_dict(ckpt.optimizer_from_files(tensors, meta, "G"))
    s1, s2 = opt.state_dict(), opt2.state_dict()
    assert s2["param_groups"][0]["lr"] == 0.01 and s2["param_groups"][0]["betas"] == (0.5, 0.9)
    for k in ("exp_avg", "exp_avg_sq", "step"):
        assert torch.equal(s1["state"][0][k], s2["state"][0][k])
