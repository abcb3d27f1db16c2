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


def _failing_at(real, n):
    calls = {"n": 0}

    def wrapper(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == n:
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)

    return wrapper


@pytest.mark.parametrize(
    "target,n",
    [("save_file", 1), ("save_file", 2), ("_fsync", 2), ("write_json", 1), ("replace", 2)],
)
def test_a_failure_at_any_point_of_a_save_keeps_the_previous_checkpoint(
    tmp_path, monkeypatch, target, n
):
    """Disk full while writing the 1st or 2nd file, syncing, writing the manifest, or committing."""
    _save(tmp_path, 1)
    _save(tmp_path, 2)  # step 2 is saved again below: the re-save of a step must be safe too
    files = {"model": {"w": torch.full((3,), 9.0)}, "ema": {"w": torch.full((3,), 9.0)}}
    if target == "replace":  # the 1st os.replace writes the manifest, the 2nd commits
        monkeypatch.setattr(ckpt.os, "replace", _failing_at(ckpt.os.replace, n))
    else:
        monkeypatch.setattr(ckpt, target, _failing_at(getattr(ckpt, target), n))
    for step in (2, 3):
        with pytest.raises(OSError):
            ckpt.save_checkpoint(tmp_path, step, files, {"step": step}, 2)
        latest = ckpt.latest_checkpoint(tmp_path)
        assert latest.name == "step_0000002"
        assert ckpt.load_tensors(latest, "model")["w"][0] == 2  # the old step 2, intact
        monkeypatch.undo()
        if target == "replace":
            monkeypatch.setattr(ckpt.os, "replace", _failing_at(ckpt.os.replace, n))
        else:
            monkeypatch.setattr(ckpt, target, _failing_at(getattr(ckpt, target), n))
    monkeypatch.undo()
    _save(tmp_path, 4)  # the next good save commits and sweeps any leftovers
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step_0000002", "step_0000004"]


def test_a_kill_between_the_renames_of_a_same_step_save_leaves_that_step_loadable(tmp_path):
    _save(tmp_path, 1)
    final = _save(tmp_path, 2)
    # SIGKILL after the old step 2 was moved aside, before the new one was renamed in
    final.rename(tmp_path / ".tmp-old-step_0000002-4242")
    (tmp_path / ".tmp-step_0000002-4242").mkdir()  # the uncommitted new one
    latest = ckpt.latest_checkpoint(tmp_path)
    assert latest.name == ".tmp-old-step_0000002-4242"
    assert ckpt.load_tensors(latest, "model")["w"][0] == 2
    _save(tmp_path, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step_0000001", "step_0000003"]


def test_a_damaged_latest_checkpoint_falls_back_to_the_one_before(tmp_path, caplog):
    _save(tmp_path, 1)
    p = _save(tmp_path, 2)
    (p / "model.safetensors").write_bytes(b"\0" * 20)
    assert ckpt.latest_checkpoint(tmp_path).name == "step_0000001"
    assert "skipping damaged checkpoint" in caplog.text and "step_0000002" in caplog.text


def test_non_finite_values_are_never_written(tmp_path):
    _save(tmp_path, 1)
    bad = {"model": {"w": torch.tensor([1.0, float("nan")])}}
    with pytest.raises(RunError, match=r"step 2: model has non-finite values in w"):
        ckpt.save_checkpoint(tmp_path, 2, bad, {"step": 2}, 2)
    assert [p.name for p in tmp_path.iterdir()] == ["step_0000001"]


def test_a_failed_commit_of_a_same_step_save_puts_the_old_one_back(tmp_path, monkeypatch):
    _save(tmp_path, 1)
    _save(tmp_path, 2)
    # os.replace calls: the manifest, moving the old step 2 aside, then the commit, which fails
    monkeypatch.setattr(ckpt.os, "replace", _failing_at(ckpt.os.replace, 3))
    with pytest.raises(OSError):
        ckpt.save_checkpoint(tmp_path, 2, {"model": {"w": torch.zeros(3)}}, {"step": 2}, 2)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step_0000001", "step_0000002"]
    assert ckpt.load_tensors(tmp_path / "step_0000002", "model")["w"][0] == 2
