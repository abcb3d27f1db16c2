"""The CLI end to end on digits, and every bad input: one line on stderr, exit code 2, nothing written."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from imagegen.cli.main import main
from imagegen.viz import read_png_metadata


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(list(args))
    out, err = capsys.readouterr()
    return int(e.value.code or 0), out, err


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    cmd = [
        sys.executable,
        "-m",
        "imagegen.cli.main",
        "train",
        "vae",
        "--data",
        "digits",
        "--out",
        str(out),
        "--steps",
        "30",
        "--batch-size",
        "32",
        "--set",
        "model.width=32",
        "--set",
        "train.log_every=10",
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert f"run folder: {out}" in res.stdout
    return out


def test_train_writes_a_complete_run(digits_run):
    for name in ("config.json", "metrics.jsonl", "samples.png", "loss.png", "report.html"):
        assert (digits_run / name).is_file(), name
    cfg = json.loads((digits_run / "config.json").read_text())
    assert (
        cfg["model"] == "vae" and cfg["model_config"]["width"] == 32 and cfg["train"]["steps"] == 30
    )
    assert cfg["data"]["name"] == "digits" and cfg["data"]["fingerprint"]


def test_sample_grid_npz_and_folder(digits_run, tmp_path, capsys):
    code, out, _ = run_cli(
        capsys,
        "sample",
        str(digits_run),
        "--n",
        "9",
        "--seed",
        "4",
        "--out",
        str(tmp_path / "g.png"),
    )
    assert code == 0
    meta = read_png_metadata(tmp_path / "g.png")
    assert meta["model"] == "vae" and meta["seed"] == 4 and meta["n"] == 9 and meta["step"] == 30
    code, _, _ = run_cli(
        capsys, "sample", str(digits_run), "--n", "5", "--out", str(tmp_path / "s.npz")
    )
    with np.load(tmp_path / "s.npz", allow_pickle=False) as f:
        x = f["x"]
        assert json.loads(str(f["meta"]))["model_hash"] == meta["model_hash"]
    assert code == 0 and x.dtype == np.uint8 and x.shape == (5, 8, 8, 1)
    code, _, _ = run_cli(
        capsys, "sample", str(digits_run), "--n", "3", "--out", str(tmp_path / "dir")
    )
    assert code == 0 and sorted(p.name for p in (tmp_path / "dir").iterdir()) == [
        "000000.png",
        "000001.png",
        "000002.png",
    ]


def test_sample_replay_regenerates_a_grid_and_one_image_of_a_folder(digits_run, tmp_path, capsys):
    import shutil

    from PIL import Image

    grid, folder = tmp_path / "g.png", tmp_path / "dir"
    run_cli(capsys, "sample", str(digits_run), "--n", "6", "--seed", "3", "--out", str(grid))
    run_cli(capsys, "sample", str(digits_run), "--n", "4", "--seed", "3", "--out", str(folder))
    meta = read_png_metadata(folder / "000002.png")
    assert meta["index"] == 2 and len(meta["model_hash"]) == 16 and meta["checkpoint"]
    for png in (grid, folder / "000002.png"):
        code, out, err = run_cli(capsys, "sample", "--replay", str(png))
        assert code == 0 and "identical" in out, err
        replayed = png.with_name(f"{png.stem}.replay.png")
        np.testing.assert_array_equal(np.asarray(Image.open(replayed)), np.asarray(Image.open(png)))
    # image 2 of the folder is image 2 of the grid's stream (same seed), drawn alone
    assert read_png_metadata(folder / "000002.png")["seed"] == read_png_metadata(grid)["seed"]

    # a run whose weights changed since is named as the wrong run, not silently resampled
    moved = tmp_path / "other"
    shutil.copytree(digits_run, moved)
    from imagegen.training import checkpoint as ckpt

    last = ckpt.latest_checkpoint(moved / "checkpoints")
    manifest = json.loads((last / "manifest.json").read_text())
    manifest["files"][meta["weights"]] = "0" * 64
    (last / "manifest.json").write_text(json.dumps(manifest))
    code, _, err = run_cli(capsys, "sample", "--replay", str(grid), str(moved))
    assert code == 2 and "error:" in err

    plain = tmp_path / "plain.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(plain)
    code, _, err = run_cli(capsys, "sample", "--replay", str(plain))
    assert code == 2 and "only PNGs written by `imagegen sample`" in err
    code, _, err = run_cli(capsys, "sample")
    assert code == 2 and "--replay" in err


def _cheap_features(monkeypatch):
    """The CLI tests check plumbing: a 6-d stand-in for Inception keeps them fast."""
    from imagegen.metrics.inception import InceptionFeatures
    from tests.metrics.conftest import _fake_features

    monkeypatch.setattr(
        InceptionFeatures, "extract", lambda self, x, progress=None: _fake_features(x)
    )


def test_eval_of_an_npz(digits_run, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("IMAGEGEN_CACHE", str(tmp_path / "cache"))
    _cheap_features(monkeypatch)
    run_cli(capsys, "sample", str(digits_run), "--n", "12", "--out", str(tmp_path / "s.npz"))
    code, out, err = run_cli(
        capsys,
        "eval",
        str(tmp_path / "s.npz"),
        "--data",
        "digits",
        "--n-ref",
        "12",
        "--json",
        str(tmp_path / "e.json"),
    )
    assert code == 0, err
    res = json.loads((tmp_path / "e.json").read_text())
    assert res["fid"] > 0 and res["card"]["n_generated"] == 12 and res["card"]["n_real"] == 12
    assert "warning:" in out  # fewer than 2048 images


def test_eval_more_metrics_real_vs_fake_and_compare(digits_run, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("IMAGEGEN_CACHE", str(tmp_path / "cache"))
    _cheap_features(monkeypatch)
    run_cli(capsys, "sample", str(digits_run), "--n", "40", "--out", str(tmp_path / "s.npz"))
    code, out, err = run_cli(
        capsys,
        "eval",
        str(tmp_path / "s.npz"),
        "--data",
        "digits",
        "--metrics",
        "fid,kid,pr,dc",
        "--json",
        str(tmp_path / "a.json"),
    )
    assert code == 0, err
    assert all(k in out for k in ("fid", "kid", "precision", "recall", "density", "coverage"))
    assert "±" in out  # kid is shown with its standard deviation
    code, out, err = run_cli(
        capsys,
        "eval",
        "--real",
        "digits",
        "--fake",
        str(tmp_path / "s.npz"),
        "--metrics",
        "fid",
        "--resize",
        "clean",
        "--json",
        str(tmp_path / "b.json"),
    )
    assert code == 0, err
    # Same card: compare prints both columns; a different resize refuses without --force.
    code, out, err = run_cli(capsys, "compare", str(tmp_path / "a.json"), str(tmp_path / "a.json"))
    assert code == 0 and "fid" in out
    code, out, err = run_cli(capsys, "compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"))
    assert code == 2 and "not comparable" in err and "resize" in err
    code, out, err = run_cli(
        capsys, "compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--force"
    )
    assert code == 0 and "fid" in out


def test_eval_of_a_run_with_reconstruction_memorisation_and_checkpoint(
    digits_run, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("IMAGEGEN_CACHE", str(tmp_path / "cache"))
    _cheap_features(monkeypatch)
    code, out, err = run_cli(
        capsys,
        "eval",
        str(digits_run),
        "--data",
        "digits",
        "--n",
        "20",
        "--metrics",
        "mse,psnr,ssim",
        "--checkpoint",
        "step_0000030",
    )
    assert code == 0, err
    assert "psnr" in out and "ssim" in out
    code, out, err = run_cli(
        capsys,
        "eval",
        str(digits_run),
        "--data",
        "digits",
        "--n",
        "20",
        "--metrics",
        "mem",
        "--pictures",
        str(tmp_path),
    )
    assert code == 0, err
    assert "mem_share" in out and (tmp_path / "memorization.png").is_file()


def test_models_and_data_info(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "models")
    assert code == 0 and all(name in out for name in ("dcgan", "vae", "ddpm"))
    code, out, _ = run_cli(capsys, "data", "info", "digits", "--preview", str(tmp_path / "p.png"))
    assert code == 0 and "1437" in out and (tmp_path / "p.png").is_file()


BAD = [
    (["train", "gan9000", "--data", "digits"], "unknown model 'gan9000'"),
    (["train", "vae", "--data", "no-such-data"], "no-such-data"),
    (
        ["train", "vae", "--data", "digits", "--set", "model.nope=1"],
        "--set key 'model.nope' does not exist",
    ),
    (["train", "vae", "--data", "digits", "--set", "model.beta=-1"], "beta"),
    (["train", "vae", "--data", "digits", "--steps", "0"], "steps"),
    (["train", "vae", "--data", "digits", "--batch-size", "5000"], "lower --batch-size"),
    (
        ["train", "vae", "--data", "digits", "--config", "missing.yaml"],
        "config file missing.yaml not found",
    ),
    (["sample", "{tmp}/not-a-run"], "does not exist"),
    (["sample", "{tmp}", "--n", "2"], "not a run folder"),
    (["eval", "{tmp}/missing.npz", "--data", "digits"], "not found"),
    (["eval", "{tmp}/missing.npz"], "--data DATA"),
    (["eval", "--real", "digits"], "--fake"),
    (["eval", "{tmp}/missing.npz", "--data", "digits", "--metrics", "fid,bogus"], "unknown metric"),
    (["compare", "{tmp}/nothing.json"], "cannot read"),
    (["train", "vae", "--data", "digits", "--bogus-flag"], "No such option"),
]


@pytest.mark.parametrize("args,msg", BAD)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(capsys, tmp_path, args, msg):
    out_dir = tmp_path / "out"
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if args[0] == "train":
        args += ["--out", str(out_dir)]
    code, _, err = run_cli(capsys, *args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and msg in lines[0], err
    assert not out_dir.exists()


@pytest.mark.parametrize("n", ["0", "-3"])
def test_bad_n(digits_run, capsys, n):
    code, _, err = run_cli(capsys, "sample", str(digits_run), "--n", n)
    assert code == 2 and err.count("\n") == 1 and "at least 1" in err


def test_label_on_unconditional_model(digits_run, capsys):
    code, _, err = run_cli(
        capsys, "sample", str(digits_run), "--n", "2", "--label", "3", "--out", "x.png"
    )
    assert code == 2 and "without class labels" in err


def _write_messy_folder(root):
    from PIL import Image

    for cls, value in (("a", 40), ("b", 200)):
        d = root / cls
        d.mkdir(parents=True)
        for i in range(6):
            Image.new("L", (12, 12), value).save(d / f"{i}.png")
        Image.new("RGBA", (16, 16), (value, value, value, 255)).save(
            d / "rgba.png"
        )  # other mode and size
    (root / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (root / "b" / "empty.jpg").write_bytes(b"")


def test_train_on_a_messy_folder_skips_bad_files_with_one_warning(tmp_path, capsys, caplog):
    _write_messy_folder(tmp_path / "imgs")
    out = tmp_path / "run"
    code, _, err = run_cli(
        capsys,
        "train",
        "vae",
        "--data",
        str(tmp_path / "imgs"),
        "--out",
        str(out),
        "--steps",
        "2",
        "--batch-size",
        "4",
        "--set",
        "data.resolution=8",
        "--set",
        "model.width=16",
    )
    assert code == 0, err
    warnings = [r for r in caplog.records if "broken.png" in r.getMessage()]
    assert len(warnings) == 1 and "empty.jpg" in warnings[0].getMessage()
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["data"]["n"] == 14 and cfg["data"]["num_classes"] == 2


def test_folder_without_readable_images(tmp_path, capsys):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "x.png").write_text("not an image")
    code, _, err = run_cli(
        capsys, "train", "vae", "--data", str(tmp_path / "imgs"), "--out", str(tmp_path / "run")
    )
    assert code == 2 and err.count("\n") == 1 and not (tmp_path / "run").exists()


def test_missing_named_dataset_says_where_to_put_it(tmp_path, capsys):
    code, _, err = run_cli(
        capsys,
        "train",
        "vae",
        "--data",
        "mnist",
        "--data-root",
        str(tmp_path),
        "--out",
        str(tmp_path / "run"),
    )
    assert code == 2 and "imagegen data download mnist" in err and err.count("\n") == 1


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_a_stop_signal_writes_a_checkpoint_and_the_run_resumes(tmp_path, signame):
    import signal
    import time

    out = tmp_path / "run"
    base = [
        sys.executable,
        "-m",
        "imagegen.cli.main",
        "train",
        "vae",
        "--data",
        "digits",
        "--out",
        str(out),
        "--batch-size",
        "16",
        "--set",
        "model.width=16",
        "--set",
        "train.log_every=5",
    ]
    proc = subprocess.Popen(
        base + ["--steps", "100000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.time() + 120
    while time.time() < deadline and not (out / "metrics.jsonl").is_file():
        time.sleep(0.2)
    while time.time() < deadline and not (out / "metrics.jsonl").read_text().strip():
        time.sleep(0.2)
    proc.send_signal(getattr(signal, signame))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    ckpts = sorted((out / "checkpoints").iterdir())
    assert len(ckpts) == 1
    step = json.loads((ckpts[0] / "state.json").read_text())["step"]
    assert 5 <= step < 100000
    res = subprocess.run(
        base + ["--steps", str(step + 3), "--resume"], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr
    last = sorted((out / "checkpoints").iterdir())[-1]
    assert json.loads((last / "state.json").read_text())["step"] == step + 3
