"""What every GAN shares: the D and G phases, their losses and regularisers, DiffAugment.

A GAN subclass builds ``self.G`` (z [, y] -> image) and ``self.D`` (image [, y] -> logits (B,);
a ``D.heads`` method may add class logits) and may override :meth:`Adversarial.generate` (e.g.
style mixing), :meth:`Adversarial.g_penalty` (e.g. BigGAN's orthogonal regularisation) or
:meth:`Adversarial.class_loss` (ACGAN) or :meth:`Adversarial.d_penalty` (PGGAN's drift). One
training step is (stylegan2-ada's phase loop):

- "D": d_loss(D(T(x)), D(T(G(z)))) [+ gp_weight * WGAN-GP penalty] [+ R1 when not lazy]
  [+ class loss on real and fake] [+ d_penalty],
- "D_reg" (every ``r1_interval`` steps when lazy): r1_interval * gamma / 2 * ||grad D(T(x))||^2,
- "G" (every ``n_critic`` steps): g_loss(D(T(G(z)))) [+ g_penalty] [+ class loss on fake],

where T is the DiffAugment policy (identity when empty) and fake labels are the batch's labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from imagegen.data.base import Batch
from imagegen.models.base import (
    GenerativeModel,
    ModelConfig,
    OptimSettings,
    Phase,
    StepOutput,
    check_choice,
    check_range,
)
from imagegen.models.gan.diffaugment import check_policy, diff_augment
from imagegen.models.gan.losses import (
    GAN_LOSSES,
    GANLoss,
    d_loss,
    g_loss,
    gradient_penalty,
    r1_penalty,
)
from imagegen.seeding import Generators, randn

# Normalisations whose running statistics sampling uses; standing statistics re-estimate them.
BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


def batch_norms(module: nn.Module) -> list[nn.Module]:
    """The batch norms inside ``module``, in module order."""
    return [m for m in module.modules() if isinstance(m, BATCH_NORMS)]


@dataclass
class GANConfig(ModelConfig):
    """Settings every GAN shares.

    Attributes:
        z_dim: latent size.
        loss: "ns" (non-saturating), "hinge", "lsgan" or "wasserstein".
        conditional: condition G and D on class labels.
        lr_g, lr_d: Adam learning rates (different ones give TTUR, Heusel et al. 2017).
        beta1, beta2: Adam betas of both optimizers.
        n_critic: discriminator steps per generator step.
        gp_weight: lambda of the WGAN-GP gradient penalty (0: off).
        r1_gamma: gamma of the R1 penalty gamma / 2 * ||grad D(x)||^2 on real images (0: off).
        r1_interval: apply R1 every this many steps, scaled up by it (lazy regularisation of
            StyleGAN2; 1: in every D step).
        diffaugment: DiffAugment policy, e.g. "color,translation,cutout" ("": none).
    """

    z_dim: int = 64
    loss: GANLoss = "ns"
    conditional: bool = False
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    n_critic: int = 1
    gp_weight: float = 0.0
    r1_gamma: float = 0.0
    r1_interval: int = 1
    diffaugment: str = ""

    def validate(self) -> None:
        name = type(self).__name__
        check_range(name, "z_dim", self.z_dim, 1)
        check_choice(name, "loss", self.loss, GAN_LOSSES)
        check_range(name, "lr_g", self.lr_g, 0.0, 1.0)
        check_range(name, "lr_d", self.lr_d, 0.0, 1.0)
        check_range(name, "beta1", self.beta1, 0.0, 0.999)
        check_range(name, "beta2", self.beta2, 0.0, 0.9999)
        check_range(name, "n_critic", self.n_critic, 1)
        check_range(name, "gp_weight", self.gp_weight, 0.0)
        check_range(name, "r1_gamma", self.r1_gamma, 0.0)
        check_range(name, "r1_interval", self.r1_interval, 1)
        check_policy(self.diffaugment)


class Adversarial(GenerativeModel):
    """Base of the GAN family (see the module docstring); subclasses set ``G`` and ``D``."""

    family = "gan"
    G: nn.Module
    D: nn.Module

    @property
    def conditional(self) -> bool:
        return self.config.conditional

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"D": list(self.D.parameters()), "G": list(self.G.parameters())}

    def optim_settings(self, group: str) -> OptimSettings:
        c = self.config
        return OptimSettings(lr=c.lr_d if group == "D" else c.lr_g, betas=(c.beta1, c.beta2))

    def phases(self) -> list[Phase]:
        c = self.config
        phases = [Phase("D", "D")]
        if c.r1_gamma > 0 and c.r1_interval > 1:
            phases.append(Phase("D_reg", "D", interval=c.r1_interval))
        return [*phases, Phase("G", "G", interval=c.n_critic)]

    # -- the two networks, as the losses see them ------------------------------------------
    def z(self, n: int, generator: Generators, device: torch.device) -> torch.Tensor:
        """Latents z ~ N(0, I), (n, z_dim)."""
        return randn((n, self.config.z_dim), generator, device)

    def generate(
        self, z: torch.Tensor, y: torch.Tensor | None, generator: Generators | None = None
    ) -> torch.Tensor:
        """G(z [, y]) in [-1, 1]; ``generator`` serves training-time randomness (style mixing)."""
        return self.G(z, y)

    def discriminate(
        self, x: torch.Tensor, y: torch.Tensor | None, generator: Generators
    ) -> torch.Tensor:
        """D(T(x) [, y]) logits (B,), T the DiffAugment policy."""
        return self.critic(x, y, generator)[0]

    def critic(
        self, x: torch.Tensor, y: torch.Tensor | None, generator: Generators
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(D(T(x) [, y]) logits (B,), class logits (B, K) of an auxiliary head or None)."""
        x = diff_augment(x, self.config.diffaugment, generator)
        heads = getattr(self.D, "heads", None)
        return heads(x, y) if heads is not None else (self.D(x, y), None)

    def g_penalty(self) -> torch.Tensor | None:
        """An extra generator loss term (e.g. orthogonal regularisation), or None."""
        return None

    def d_penalty(self, real_logit: torch.Tensor) -> torch.Tensor | None:
        """An extra discriminator loss term from the real logits (B,), or None."""
        return None

    def class_loss(
        self, logits: torch.Tensor | None, y: torch.Tensor | None
    ) -> torch.Tensor | None:
        """Auxiliary classification loss of class logits (B, K) against labels, or None."""
        return None

    # -- losses ----------------------------------------------------------------------------
    def loss(self, phase: str, batch: Batch, generator: torch.Generator) -> StepOutput:
        c = self.config
        x = batch.x
        y = batch.y if self.conditional else None  # fake labels follow the data's distribution
        if phase == "D_reg":
            return self._r1_loss(x, y, generator, weight=c.r1_gamma / 2 * c.r1_interval)
        z = self.z(x.shape[0], generator, x.device)
        if phase == "G":
            fake_logit, fake_cls = self.critic(self.generate(z, y, generator), y, generator)
            loss = g_loss(c.loss, fake_logit)
            logs: dict[str, Any] = {"loss/G": loss.detach()}
            for key, extra in (
                ("loss/G_reg", self.g_penalty()),
                ("loss/G_cls", self.class_loss(fake_cls, y)),
            ):
                if extra is not None:
                    loss = loss + extra
                    logs[key] = extra.detach()
            return StepOutput(loss, logs)
        with torch.no_grad():
            fake = self.generate(z, y, generator)
        real_logit, real_cls = self.critic(x, y, generator)
        fake_logit, fake_cls = self.critic(fake, y, generator)
        loss = d_loss(c.loss, real_logit, fake_logit)
        logs = {
            "loss/D": loss.detach(),
            "D(x)": real_logit.detach().mean(),
            "D(G(z))": fake_logit.detach().mean(),
        }
        extra = self.d_penalty(real_logit)
        if extra is not None:
            loss = loss + extra
            logs["loss/D_reg"] = extra.detach()
        cls = self.class_loss(real_cls, y)
        if cls is not None:
            cls = cls + self.class_loss(fake_cls, y)
            loss = loss + cls
            logs["loss/D_cls"] = cls.detach()
        if c.gp_weight > 0:
            gp = gradient_penalty(lambda v: self.discriminate(v, y, generator), x, fake, generator)
            loss = loss + c.gp_weight * gp.mean()
            logs["loss/gp"] = gp.detach().mean()
        if c.r1_gamma > 0 and c.r1_interval == 1:
            r1 = self._r1_loss(x, y, generator, weight=c.r1_gamma / 2)
            loss = loss + r1.loss
            logs.update(r1.logs)
        return StepOutput(loss, logs)

    def _r1_loss(
        self, x: torch.Tensor, y: torch.Tensor | None, generator: torch.Generator, weight: float
    ) -> StepOutput:
        x = x.detach().requires_grad_(True)
        r1 = r1_penalty(self.discriminate(x, y, generator), x)
        return StepOutput(weight * r1.mean(), {"loss/r1": r1.detach().mean()})

    @torch.no_grad()
    def recalibrate(self, seed: int, batches: int = 16, batch_size: int = 64) -> None:
        """Standing statistics (Brock et al. 2019, sec. 3.1 and app. C.1): G's BatchNorm running
        mean and variance become the plain average over ``batches`` fresh batches of G's own
        activations. The EMA generator's weights are averaged but its statistics are the live
        G's, which do not belong to those weights; these do. Labels are uniform when conditional;
        spectral norms and the rest of G stay in eval mode, so nothing else changes."""
        norms = batch_norms(self.G)
        if not norms:
            return
        saved = [(m, m.training, m.momentum) for m in norms]
        device = next(self.parameters()).device
        g = torch.Generator(device).manual_seed(seed)
        try:
            for m in norms:
                m.reset_running_stats()
                m.momentum = None  # cumulative average over the batches
                m.train()
            for _ in range(batches):
                y = None
                if self.conditional:
                    k = self.spec.num_classes
                    y = torch.randint(k, (batch_size,), generator=g, device=device)
                self.generate(self.z(batch_size, g, device), y)
        finally:
            for m, training, momentum in saved:
                m.train(training)
                m.momentum = momentum

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        generator: Generators,
        labels: torch.Tensor | None = None,
        **options: Any,
    ) -> torch.Tensor:
        device = next(self.parameters()).device
        y = self.check_labels(n, labels, device)
        return self.generate(self.z(n, generator, device), y).float()
