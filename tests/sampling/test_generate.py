import numpy as np
import pytest
import torch

from imagegen.data.base import DataSpec
from imagegen.errors import ConfigError
from imagegen.models import create_model
from imagegen.sampling import generate, to_uint8
from tests.conftest import TINY


def test_to_uint8_rounds_and_clamps():
    x = torch.tensor([-1.5, -1.0, 0.0, 1.0, 2.0]).view(1, 1, 1, 5)
    np.testing.assert_array_equal(to_uint8(x)[0, 0, :, 0], [0, 0, 128, 255, 255])


def test_batches_progress_and_labels():
    model = create_model("vae", DataSpec("t", 1, 8, 3), TINY["vae"], conditional=True, seed=0)
    seen = []
    a = generate(
        model, 7, seed=0, batch_size=3, labels=2, progress=lambda d, n: seen.append((d, n))
    )
    assert a.shape == (7, 8, 8, 1) and seen == [(3, 7), (6, 7), (7, 7)]
    b = generate(model, 7, seed=0, batch_size=3, labels=[2] * 7)
    np.testing.assert_array_equal(a, b)
    c = generate(model, 7, seed=0, batch_size=3, labels=0)
    assert not np.array_equal(a, c)  # the label changes the images
    assert model.training  # generate restores the mode it found


def test_balanced_default_labels_for_conditional_models():
    model = create_model("dcgan", DataSpec("t", 1, 8, 3), TINY["dcgan"], conditional=True, seed=0)
    a = generate(model, 6, seed=0)
    b = generate(model, 6, seed=0, labels=[0, 1, 2, 0, 1, 2])
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("n", [0, -1])
def test_bad_n(n):
    model = create_model("vae", DataSpec("t", 1, 8, 0), TINY["vae"])
    with pytest.raises(ConfigError, match="at least 1"):
        generate(model, n)


@pytest.mark.parametrize(
    "name,options",
    [
        ("dcgan", {}),
        ("vae", {}),
        ("ddpm", {"sampler": "ddpm"}),
        ("cvae", {}),
        ("vqvae", {}),
        ("hvae", {}),
    ],
)
def test_image_i_does_not_depend_on_the_batch_it_is_drawn_in(name, options):
    # ddpm's ancestral sampler draws fresh noise at every step: each image's comes from its own stream
    model = create_model(name, DataSpec("t", 1, 8, 3), TINY[name], conditional=True, seed=0)
    whole = generate(model, 6, seed=5, batch_size=6, **options)
    for batch_size in (1, 4):
        part = generate(model, 6, seed=5, batch_size=batch_size, **options)
        assert np.abs(part.astype(int) - whole.astype(int)).max() <= 1  # batched float rounding
    alone = generate(model, 1, seed=5, first=4, **options)  # image 4 alone, with its default label
    assert np.abs(alone[0].astype(int) - whole[4].astype(int)).max() <= 1
    assert not np.array_equal(whole[1], whole[4])  # images are not one noise repeated
    assert not np.array_equal(generate(model, 6, seed=6, **options), whole)


def test_sampling_leaves_the_global_random_states_alone():
    model = create_model("ddpm", DataSpec("t", 1, 8, 0), TINY["ddpm"], seed=0)
    torch.manual_seed(123)
    np.random.seed(7)
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    generate(model, 3, seed=0, sampler="ddpm")
    assert torch.equal(torch.get_rng_state(), torch_state)
    np.testing.assert_array_equal(np.random.get_state()[1], np_state)


def test_same_seed_same_images_in_two_fresh_processes(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "import sys, numpy as np\n"
        "from imagegen.data.base import DataSpec\n"
        "from imagegen.models import create_model\n"
        "from imagegen.sampling import generate\n"
        "from tests.conftest import TINY\n"
        "m = create_model('ddpm', DataSpec('t', 1, 8, 0), TINY['ddpm'], seed=0)\n"
        "np.save(sys.argv[1], generate(m, 4, seed=9, sampler='ddpm'))\n"
    )
    root = Path(__file__).resolve().parents[2]
    outs = [tmp_path / f"{i}.npy" for i in range(2)]
    for out in outs:
        subprocess.run([sys.executable, "-c", script, str(out)], cwd=root, check=True)
    np.testing.assert_array_equal(np.load(outs[0]), np.load(outs[1]))


def test_a_sampling_option_the_model_does_not_have_is_an_error():
    model = create_model("dcgan", DataSpec("t", 1, 8, 0), TINY["dcgan"], seed=0)
    with pytest.raises(ConfigError, match="no sampling option steps: its options are none"):
        generate(model, 2, steps=5)
    vae = create_model("vae", DataSpec("t", 1, 8, 0), TINY["vae"], seed=0)
    with pytest.raises(ConfigError, match="top_k: its options are temperature"):
        generate(vae, 2, top_k=3)
    with pytest.raises(ConfigError, match="temperature=-1"):
        generate(vae, 2, temperature=-1.0)
    cold = generate(vae, 4, seed=0, temperature=0.0)  # every sample is the decoded prior mean
    assert (cold == cold[:1]).all()
