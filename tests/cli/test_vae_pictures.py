"""`imagegen sample --reconstruct/--interpolate/--traverse` and `imagegen eval --metrics elbo`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from imagegen.data import load_dataset
from imagegen.models import create_model
from imagegen.training import train
from tests.cli.test_cli import run_cli
from tests.conftest import TINY


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", split="train")


@pytest.fixture(scope="module")
def vq_run(tmp_path_factory, digits):
    model = create_model("vqvae", digits.spec, {**TINY["vqvae"], "prior_start": 0.5}, seed=0)
    out = tmp_path_factory.mktemp("vq") / "run"
    train(model, digits, out, steps=6, batch_size=16, ema_decay=0, sample_every=0, log_every=2)
    return out


@pytest.fixture(scope="module")
def beta_run(tmp_path_factory, digits):
    model = create_model("beta_vae", digits.spec, TINY["beta_vae"], seed=0)
    out = tmp_path_factory.mktemp("beta") / "run"
    train(model, digits, out, steps=4, batch_size=16, sample_every=0, log_every=2)
    return out


def _png(path):
    with Image.open(path) as im:
        return np.asarray(im)


def test_reconstruct_and_interpolate_grids(vq_run, capsys):
    code, out, err = run_cli(capsys, "sample", str(vq_run), "--reconstruct", "--n", "16")
    assert code == 0, err
    grid = _png(vq_run / "reconstruct.png")
    cell = 8 * 4 + 2  # digits are 8 px, enlarged 4x, 2 px padding
    assert grid.shape[:2] == (4 * cell + 2, 8 * cell + 2)  # 2 input rows + 2 reconstruction rows
    assert "reconstructions" in out
    code, out, err = run_cli(
        capsys, "sample", str(vq_run), "--interpolate", "--n", "3", "--out", str(vq_run / "i.png")
    )
    assert code == 0, err
    assert _png(vq_run / "i.png").shape[:2] == (3 * cell + 2, 10 * cell + 2)


def test_traverse_names_the_dimensions_it_shows(beta_run, capsys):
    code, out, err = run_cli(capsys, "sample", str(beta_run), "--traverse")
    assert code == 0, err
    assert "dimensions [" in out and (beta_run / "traverse.png").is_file()


def test_traverse_of_a_vq_vae_is_a_one_line_error(vq_run, capsys):
    code, _, err = run_cli(capsys, "sample", str(vq_run), "--traverse")
    assert code == 2 and "no vector latent" in err and err.count("\n") == 1


def test_eval_elbo_reports_nats_bits_per_dim_and_codebook_usage(vq_run, capsys, tmp_path):
    j = tmp_path / "e.json"
    code, out, err = run_cli(
        capsys, "eval", str(vq_run), "--data", "digits", "--metrics", "elbo", "--json", str(j)
    )
    assert code == 0, err
    r = json.loads(j.read_text())
    assert r["elbo_nats"] == pytest.approx(r["rec_nats"] + r["kl_nats"] + 64 * np.log(127.5))
    assert r["elbo_bpd"] == pytest.approx(r["elbo_nats"] / (64 * np.log(2)))
    assert 0 < r["vq_used"] <= 1 and r["vq_perplexity"] >= 1
    assert "elbo_bpd" in out
