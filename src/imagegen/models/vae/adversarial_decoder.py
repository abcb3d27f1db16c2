"""The adversarial decoder loss of VQGAN (Esser et al. 2021), shared by the autoencoders.

The decoder plays a hinge GAN against a PatchGAN discriminator on its reconstructions, so it
draws sharp strokes instead of the blurred mean that a pixel loss asks for. Its generator term
is weighted by the adaptive lambda = ||grad_{W_L} L_rec|| / (||grad_{W_L} L_G|| + 1e-4) at the
decoder's last layer W_L (Eq. 7), which keeps the GAN term on the scale of the reconstruction
term whatever the scales of the two losses.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from imagegen.models.base import StepOutput
from imagegen.models.gan.losses import d_loss, g_loss


def adaptive_weight(rec: torch.Tensor, adv: torch.Tensor, last_layer: torch.Tensor) -> torch.Tensor:
    """lambda of VQGAN's Eq. 7 from the gradients of both terms at ``last_layer``'s weight."""
    (g_rec,) = torch.autograd.grad(rec, last_layer, retain_graph=True)
    (g_adv,) = torch.autograd.grad(adv, last_layer, retain_graph=True)
    return (g_rec.norm() / (g_adv.norm() + 1e-4)).clamp(0, 1e4).detach()


def generator_term(
    disc: nn.Module, x_rec: torch.Tensor, rec: torch.Tensor, last_layer: torch.Tensor
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """lambda * L_G for the decoder's loss (weight it by the model's ``adversarial``), and logs.

    Args:
        disc: the PatchGAN.
        x_rec: reconstructions, with their graph to the decoder.
        rec: the reconstruction loss (a scalar) that lambda balances against.
        last_layer: the decoder's last weight W_L.
    """
    adv = g_loss("hinge", disc(x_rec))
    lam = adaptive_weight(rec, adv, last_layer)
    return lam * adv, {"loss/G": adv.detach(), "adv/lambda": lam}


def discriminator_step(
    disc: nn.Module,
    x: torch.Tensor,
    last: tuple[torch.Tensor, torch.Tensor] | None,
    reconstruct: Callable[[torch.Tensor], torch.Tensor],
) -> StepOutput:
    """The PatchGAN's hinge loss on real images ``x`` against their reconstructions: those of this
    step's main phase when ``last`` = (x, x_rec) holds them, else ``reconstruct(x)`` without
    gradient (this phase trains the discriminator only)."""
    if last is not None and last[0] is x:
        x_rec = last[1]
    else:
        with torch.no_grad():
            x_rec = reconstruct(x).to(x.dtype)
    real, fake = disc(x), disc(x_rec.detach())
    loss = d_loss("hinge", real, fake)
    return StepOutput(
        loss,
        {"loss/D": loss.detach(), "D/real": real.mean().detach(), "D/fake": fake.mean().detach()},
    )
