"""`imagegen sample --interpolate/--truncation-sweep/--style-mix/--truncation` on GAN runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from imagegen.data import load_dataset
from imagegen.models import create_model
from imagegen.sampling.gan_pictures import slerp
from imagegen.training import train
from tests.cli.test_cli import run_cli
from tests.conftest import TINY

CELL = 8 * 4 + 2  # digits are 8 px, enlarged 4x, 2 px padding


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", split="train")


@pytest.fixture(scope="module")
def style_run(tmp_path_factory, digits):
    model = create_model("stylegan", digits.spec, TINY["stylegan"], seed=0)
    out = tmp_path_factory.mktemp("sg") / "run"
    train(model, digits, out, steps=2, batch_size=8, sample_every=0, log_every=1)
    return out


def _png(path):
    with Image.open(path) as im:
        return np.asarray(im)


def test_slerp_keeps_the_ends_and_the_norm():
    a, b = torch.randn(3, 16), torch.randn(3, 16)
    b = b / b.norm(dim=1, keepdim=True) * a.norm(dim=1, keepdim=True)
    path = slerp(a, b, torch.linspace(0, 1, 5))
    torch.testing.assert_close(path[:, 0], a)
    torch.testing.assert_close(path[:, -1], b)
    torch.testing.assert_close(path.norm(dim=2), a.norm(dim=1, keepdim=True).expand(3, 5))


def test_gan_interpolation_truncation_and_style_mixing_grids(style_run, capsys):
    code, out, err = run_cli(capsys, "sample", str(style_run), "--interpolate", "--n", "3")
    assert code == 0, err
    assert _png(style_run / "interpolate.png").shape[:2] == (3 * CELL + 2, 10 * CELL + 2)
    code, out, err = run_cli(capsys, "sample", str(style_run), "--truncation-sweep", "--n", "2")
    assert code == 0, err
    grid = _png(style_run / "truncation.png")
    assert grid.shape[:2] == (2 * CELL + 2, 6 * CELL + 2) and "truncation" in out
    code, out, err = run_cli(capsys, "sample", str(style_run), "--style-mix", "--n", "3")
    assert code == 0, err
    assert _png(style_run / "style_mix.png").shape[:2] == (4 * CELL + 2, 4 * CELL + 2)
    assert "before layer" in out


def test_truncation_option_changes_samples_and_wrong_pictures_name_the_fix(style_run, capsys):
    paths = []
    for psi in ("1.0", "0.0"):
        out_png = style_run / f"psi{psi}.png"
        code, _, err = run_cli(
            capsys, "sample", str(style_run), "--n", "4", "--truncation", psi, "--out", str(out_png)
        )
        assert code == 0, err
        paths.append(out_png)
    assert not np.array_equal(_png(paths[0]), _png(paths[1]))
    code, _, err = run_cli(capsys, "sample", str(style_run), "--reconstruct")
    assert code != 0 and "autoencoder run" in err


def test_autoencoders_have_no_truncation_or_style_mix(tmp_path, digits, capsys):
    model = create_model("vae", digits.spec, TINY["vae"], seed=0)
    train(model, digits, tmp_path / "v", steps=1, batch_size=8, sample_every=0, log_every=1)
    code, _, err = run_cli(capsys, "sample", str(tmp_path / "v"), "--style-mix")
    assert code != 0 and "not a GAN" in err
    code, _, err = run_cli(capsys, "sample", str(tmp_path / "v"), "--truncation", "0.5")
    assert code != 0 and "truncation" in err
