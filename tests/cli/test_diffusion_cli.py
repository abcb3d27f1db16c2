"""`imagegen sample --guidance/--process/--guidance-sweep` and `imagegen export --format diffusers`."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from imagegen.data import load_dataset
from imagegen.models import create_model
from imagegen.sampling import load_run
from imagegen.training import train
from tests.cli.test_cli import run_cli
from tests.conftest import TINY

CELL = 8 * 4 + 2  # digits are 8 px, enlarged 4x, 2 px padding


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", split="train")


def _train(tmp_path_factory, digits, name, **cfg):
    model = create_model("ddpm", digits.spec, {**TINY["ddpm"], **cfg}, seed=0)
    out = tmp_path_factory.mktemp(name) / "run"
    train(model, digits, out, steps=2, batch_size=8, sample_every=0, log_every=1)
    return out


@pytest.fixture(scope="module")
def cfg_run(tmp_path_factory, digits):
    return _train(tmp_path_factory, digits, "cfg", conditional=True, label_dropout=0.1)


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory, digits):
    return _train(tmp_path_factory, digits, "plain")


def _png(path):
    with Image.open(path) as im:
        return np.asarray(im)


def test_process_strip_ends_on_the_sample_of_the_same_seed(cfg_run, capsys):
    code, out, err = run_cli(capsys, "sample", str(cfg_run), "--process", "--n", "2")
    assert code == 0, err
    grid = _png(cfg_run / "process.png")
    frames = 5  # TINY ddpm samples in 5 steps: every step is a frame, then the sample
    assert grid.shape[:2] == (4 * CELL + 2, (frames + 1) * CELL + 2)
    assert "predicted x_0" in out
    samples = load_run(cfg_run).sample(2, seed=0)  # image i of seed 0, labels i mod 10
    last = frames * CELL + 2
    for i in range(2):
        top = 2 * i * CELL + 2
        cell = grid[top : top + 32 : 4, last : last + 32 : 4]
        cell = cell[..., 0] if cell.ndim == 3 else cell
        assert np.abs(cell.astype(int) - samples[i, ..., 0].astype(int)).max() <= 1


def test_guidance_sweep_and_guided_sampling(cfg_run, plain_run, capsys, tmp_path):
    code, out, err = run_cli(capsys, "sample", str(cfg_run), "--guidance-sweep")
    assert code == 0, err
    grid = _png(cfg_run / "guidance.png")
    assert grid.shape[:2] == (6 * CELL + 2, 10 * CELL + 2)  # scales 1..8 by row, 10 classes
    assert not np.array_equal(grid[2 : CELL + 2], grid[5 * CELL + 2 : 6 * CELL + 2])
    a, b = tmp_path / "w1.npz", tmp_path / "w4.npz"
    for w, dest in (("1", a), ("4", b)):
        code, _, err = run_cli(
            capsys,
            "sample",
            str(cfg_run),
            "--n",
            "4",
            "--guidance",
            w,
            "--label",
            "3",
            "--out",
            str(dest),
        )
        assert code == 0, err
    assert not np.array_equal(np.load(a)["x"], np.load(b)["x"])
    # an interval below the smallest sigma guides no step: the w = 1 samples
    c = tmp_path / "w4_nowhere.npz"
    args = ["sample", str(cfg_run), "--n", "4", "--guidance", "4", "--label", "3", "--out"]
    code, _, err = run_cli(capsys, *args, str(c), "--guidance-interval", "0,0.001")
    assert code == 0, err
    assert np.array_equal(np.load(a)["x"], np.load(c)["x"])
    code, _, err = run_cli(capsys, *args, str(c), "--guidance-interval", "5")
    assert code != 0 and "LO,HI" in err
    code, _, err = run_cli(capsys, *args, str(c), "--guidance-interval", "5,1")
    assert code != 0 and "guidance_interval" in err
    code, _, err = run_cli(capsys, "sample", str(plain_run), "--guidance", "3", "--n", "2")
    assert code != 0 and "guidance" in err
    code, _, err = run_cli(capsys, "sample", str(plain_run), "--guidance-sweep")
    assert code != 0 and "label_dropout" in err


def test_guidance_sweep_by_a_guide(cfg_run, plain_run, digits, tmp_path, capsys):
    guide = tmp_path / "guide"
    weaker = create_model("ddpm", digits.spec, TINY["ddpm"], seed=1)
    train(weaker, digits, guide, steps=1, batch_size=8, sample_every=0)
    out = tmp_path / "sweep.png"
    args = ["sample", str(plain_run), "--guidance-sweep", "--out", str(out), "--guide", str(guide)]
    code, _, err = run_cli(capsys, *args)
    assert code == 0, err
    grid = _png(out)
    assert grid.shape[:2] == (6 * CELL + 2, 8 * CELL + 2)  # scales by row, 8 seeds: no classes
    alone = load_run(plain_run).sample(8, seed=0)  # the w = 1 row is the model alone
    for i in range(8):
        cell = grid[2 : 2 + 32 : 4, 2 + i * CELL : 2 + i * CELL + 32 : 4]
        cell = cell[..., 0] if cell.ndim == 3 else cell
        assert np.abs(cell.astype(int) - alone[i, ..., 0].astype(int)).max() <= 1
    assert not np.array_equal(grid[2 : CELL + 2], grid[5 * CELL + 2 : 6 * CELL + 2])
    # a run guided by its own null-label prediction sweeps as classifier-free guidance does
    code, _, err = run_cli(capsys, "sample", str(cfg_run), "--guidance-sweep", "--out", str(out))
    assert code == 0, err
    cfg = _png(out)
    args = ["sample", str(cfg_run), "--guidance-sweep", "--out", str(out), "--guide", str(cfg_run)]
    code, _, err = run_cli(capsys, *args, "--guide-unconditional")
    assert code == 0, err
    assert np.abs(_png(out).astype(int) - cfg.astype(int)).max() <= 1


def test_export_loads_in_diffusers_pipelines_and_samples_the_same(plain_run, capsys, tmp_path):
    from diffusers import DDIMPipeline, DDPMPipeline

    dest = tmp_path / "pipe"
    code, out, err = run_cli(capsys, "export", str(plain_run), "--format", "diffusers", str(dest))
    assert code == 0, err
    assert (dest / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    assert (dest / "model_index.json").is_file()
    ours = load_run(plain_run).model
    pipe = DDPMPipeline.from_pretrained(dest)
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([7, 70])
    with torch.no_grad():
        assert torch.equal(pipe.unet(x, t).sample, ours.unet(x, t).sample)
    got = pipe(
        batch_size=2,
        generator=torch.Generator().manual_seed(3),
        num_inference_steps=5,
        output_type="np",
    ).images  # (2, 8, 8, 1) in [0, 1]
    mine = ours.sample(2, generator=torch.Generator().manual_seed(3), sampler="ddpm", steps=5)
    np.testing.assert_allclose(got, ((mine + 1) / 2).permute(0, 2, 3, 1).numpy(), atol=1e-5)
    ddim = DDIMPipeline.from_pretrained(dest)
    assert ddim(batch_size=1, num_inference_steps=3, output_type="np").images.shape == (1, 8, 8, 1)
    code, _, err = run_cli(capsys, "export", str(plain_run), str(dest))
    assert code != 0 and "already exists" in err


def test_export_refuses_what_diffusers_cannot_run(cfg_run, capsys, tmp_path):
    code, _, err = run_cli(capsys, "export", str(cfg_run), str(tmp_path / "x"))
    assert code != 0 and "class-conditional" in err
    assert not (tmp_path / "x").exists()


def test_text_run_samples_with_negative_prompt_and_guidance_interval(capsys, tmp_path):
    shapes = load_dataset("shapes", split="train", resolution=8, limit=32)
    cfg = {**TINY["ddpm"], "text": True, "label_dropout": 0.2, "text_max_length": 16}
    model = create_model("ddpm", shapes.spec, cfg, seed=0)
    run = tmp_path / "t2i"
    train(model, shapes, run, steps=2, batch_size=8, sample_every=0, log_every=1)
    settings = {
        "prompt": "a red square",
        "guidance": 4.0,
        "negative_prompt": "on a red background",
        "guidance_interval": [0.0, 5.0],
    }
    dest = tmp_path / "x.npz"
    code, _, err = run_cli(
        capsys, "sample", str(run), "--n", "2", "--out", str(dest), "--prompt", "a red square",
        "--guidance", "4", "--negative-prompt", "on a red background",
        "--guidance-interval", "0,5",
    )  # fmt: skip
    assert code == 0, err
    want = load_run(run).sample(2, seed=0, **settings)
    assert np.array_equal(np.load(dest)["x"], want)
    plain = load_run(run).sample(2, seed=0, prompt="a red square", guidance=4.0)
    assert not np.array_equal(want, plain)
