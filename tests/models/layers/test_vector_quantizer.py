import torch

from imagegen.models.layers.vector_quantizer import VectorQuantizer


def _vq(decay=0.9, dead=0.0):
    vq = VectorQuantizer(num_codes=3, dim=2, decay=decay, eps=1e-5, dead_threshold=dead)
    vq.codebook.copy_(torch.tensor([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]]))
    vq.ema_sum.copy_(vq.codebook)
    vq.ema_count.fill_(1.0)
    vq.initialized.fill_(True)
    return vq


def test_nearest_code_and_ema_update_match_a_hand_computation():
    vq = _vq()
    z = torch.tensor([[0.1, -0.1], [0.9, 1.2], [1.1, 0.8], [0.2, 0.0]])
    idx = vq.nearest(z)
    assert idx.tolist() == [0, 1, 1, 0]
    vq.ema_update(z, idx, torch.Generator().manual_seed(0))
    gamma, eps = 0.9, 1e-5
    # code 0 got z0, z3; code 1 got z1, z2; code 2 nothing
    n = torch.tensor([2.0, 2.0, 0.0])
    count = gamma * 1.0 + (1 - gamma) * n
    s = torch.tensor([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]]) * gamma
    s[0] += (1 - gamma) * (z[0] + z[3])
    s[1] += (1 - gamma) * (z[1] + z[2])
    total = count.sum()
    smoothed = (count + eps) / (total + 3 * eps) * total
    torch.testing.assert_close(vq.ema_count, count)
    torch.testing.assert_close(vq.codebook, s / smoothed[:, None])


def test_dead_codes_restart_at_encoder_outputs():
    vq = _vq(decay=0.5, dead=0.9)
    z = torch.tensor([[0.1, 0.0], [0.0, 0.1], [1.0, 0.9]])
    vq.ema_update(z, vq.nearest(z), torch.Generator().manual_seed(0))
    # code 2 was never used: its count fell to 0.5 < 0.9, so it now sits on one of the inputs
    assert int(vq.restarts) == 1
    assert any(torch.equal(vq.codebook[2], zi) for zi in z)
    assert vq.ema_count[2] == 1.0


def test_straight_through_passes_gradients_and_quantises_forward():
    vq = _vq().train()
    z_e = torch.tensor([[[[0.2]], [[0.1]]]], requires_grad=True)  # (1, 2, 1, 1)
    z_q, idx, commit = vq(z_e)  # no generator: no codebook update
    torch.testing.assert_close(z_q.detach(), torch.zeros(1, 2, 1, 1))
    assert idx.tolist() == [[[0]]]
    (z_q * torch.tensor([1.0, 2.0]).view(1, 2, 1, 1)).sum().backward()
    torch.testing.assert_close(z_e.grad.flatten(), torch.tensor([1.0, 2.0]))  # identity backward
    torch.testing.assert_close(commit, torch.tensor([0.2**2 + 0.1**2]))


def test_usage_and_perplexity():
    used, perplexity = VectorQuantizer.usage(torch.tensor([0, 1, 0, 1]), 4)
    assert used == 0.5
    assert abs(perplexity - 2.0) < 1e-6
