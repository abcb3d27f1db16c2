import pytest
import torch

from imagegen.models.gan import diffaugment as da


def _gens(seed: int, n: int) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(seed + i) for i in range(n)]


def test_translation_shifts_by_whole_pixels_and_fills_zeros():
    x = torch.arange(1.0, 1 + 2 * 8 * 8).view(2, 1, 8, 8)
    out = da.translation(x, torch.Generator().manual_seed(3))
    for i in range(2):
        # find the shift that maps x[i] onto out[i] (|shift| <= 1 = 0.125 * 8)
        matches = []
        for dy in range(-1, 2):
            for dx in range(-1, 2):
                ref = torch.zeros(8, 8)
                src = x[i, 0]
                ys = slice(max(dy, 0), 8 + min(dy, 0))
                xs = slice(max(dx, 0), 8 + min(dx, 0))
                ys_src = slice(max(-dy, 0), 8 + min(-dy, 0))
                xs_src = slice(max(-dx, 0), 8 + min(-dx, 0))
                ref[ys, xs] = src[ys_src, xs_src]
                matches.append(torch.equal(out[i, 0], ref))
        assert sum(matches) == 1


def test_cutout_zeroes_one_square_of_half_the_size_at_most():
    x = torch.ones(64, 1, 8, 8)
    out = da.cutout(x, torch.Generator().manual_seed(0))
    zeros = (out == 0).sum(dim=(1, 2, 3))
    assert zeros.max() == 16  # a 4x4 square fully inside
    assert zeros.min() >= 4  # at least a 2x2 corner of it
    for img in out[:, 0]:  # the zeros form one axis-aligned rectangle
        ys, xs = torch.nonzero(img == 0, as_tuple=True)
        h, w = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
        assert h * w == len(ys) and h <= 4 and w <= 4


def test_augmentations_are_differentiable_and_seeded_per_image():
    x = torch.randn(3, 3, 16, 16, requires_grad=True)
    out = da.diff_augment(x, "color,translation,cutout", _gens(0, 3))
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    # image i depends only on its own generator
    alone = da.diff_augment(x[1:2].detach(), "color,translation,cutout", _gens(1, 1))
    torch.testing.assert_close(out[1:2].detach(), alone)
    again = da.diff_augment(x.detach(), "color,translation,cutout", _gens(0, 3))
    torch.testing.assert_close(out.detach(), again)
    assert torch.equal(da.diff_augment(x, "", torch.Generator()), x)


def test_color_keeps_the_channel_mean_of_grey_images_under_saturation():
    x = torch.rand(4, 1, 5, 5) * 2 - 1
    out = da._saturation(x, torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, x)  # one channel: no saturation to change


def test_unknown_policy_names_the_choices():
    with pytest.raises(ValueError, match="color, translation, cutout"):
        da.check_policy("color,flip")
