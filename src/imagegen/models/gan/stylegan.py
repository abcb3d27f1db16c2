"""StyleGAN2 (Karras et al. 2019, 2020), small enough for 28x28 / 32x32 on a CPU.

- A mapping network turns z into a style vector w (8 layers in the paper, fewer here; learning
  rate x0.01).
- The synthesis network starts from a learned constant. Each layer is a modulated convolution:
  the weights are scaled per input channel by an affine map of w, then demodulated to unit norm
  per output channel (Eq. 1-3 of StyleGAN2). Layers also get per-pixel noise with a learned
  strength and skip-connected RGB outputs.
- Style mixing: during training, with probability ``mixing``, the layers from a random crossover
  on use the style of a second z.
- Truncation: w' = w_avg + psi (w - w_avg), with w_avg tracked during training.
- A residual discriminator with minibatch standard deviation; non-saturating loss with lazy R1
  regularisation (every 16 steps).

The modulation scales activations rather than weights (the paper's non-fused form): the same
arithmetic runs as one ordinary convolution for the whole batch, which a CPU does much faster
than the grouped convolution of the fused form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from imagegen.data.base import DataSpec
from imagegen.errors import ConfigError
from imagegen.models.base import check_range
from imagegen.models.gan.adversarial import Adversarial, GANConfig
from imagegen.models.layers import pyramid
from imagegen.models.layers.equalized import (
    SQRT2,
    EqualConv2d,
    EqualLinear,
    lrelu,
    minibatch_stddev,
    pixel_norm,
)
from imagegen.seeding import Generators, rand, randn


@dataclass
class StyleGANConfig(GANConfig):
    """StyleGAN2 hyper-parameters at CPU scale.

    Attributes:
        w_dim: size of the style vector w.
        mapping_layers: depth of the mapping network.
        width: channels at the base resolution (halved at each doubling, >= 16).
        mixing: probability of style mixing in a training batch.
        w_avg_beta: decay of the running mean of w used by truncation.
    """

    z_dim: int = 128
    lr_g: float = 2e-3
    lr_d: float = 2e-3
    beta1: float = 0.0
    beta2: float = 0.99
    r1_gamma: float = 0.1
    r1_interval: int = 16
    w_dim: int = 128
    mapping_layers: int = 4
    width: int = 128
    mixing: float = 0.9
    w_avg_beta: float = 0.995

    def validate(self) -> None:
        super().validate()
        name = "StyleGANConfig"
        check_range(name, "w_dim", self.w_dim, 1)
        check_range(name, "mapping_layers", self.mapping_layers, 1)
        check_range(name, "width", self.width, 16)
        check_range(name, "mixing", self.mixing, 0.0, 1.0)
        check_range(name, "w_avg_beta", self.w_avg_beta, 0.0, 1.0)


class MappingNetwork(nn.Module):
    """z (B, z_dim) [, y] -> w (B, w_dim): pixel norm, then an MLP (lr multiplier 0.01).
    With classes, the normalised label embedding is concatenated to the normalised z."""

    def __init__(self, z_dim: int, w_dim: int, layers: int, num_classes: int = 0) -> None:
        super().__init__()
        self.embed = EqualLinear(num_classes, w_dim) if num_classes else None
        self.num_classes = num_classes
        dims = [z_dim + (w_dim if num_classes else 0)] + [w_dim] * layers
        self.fcs = nn.ModuleList(
            EqualLinear(a, b, lr_mul=0.01) for a, b in zip(dims[:-1], dims[1:], strict=True)
        )

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        x = pixel_norm(z)
        if self.embed is not None:
            onehot = F.one_hot(y, self.num_classes).to(z.dtype)
            x = torch.cat([x, pixel_norm(self.embed(onehot))], dim=1)
        for fc in self.fcs:
            x = lrelu(fc(x))
        return x


class ModulatedConv2d(nn.Module):
    """Convolution whose weights are modulated by a style: (B, C_in, H, W), w -> (B, C_out, H, W).

    s = A(w) (bias 1); w'_ijk = s_i w_ijk (Eq. 1); demodulated w''_ijk = w'_ijk /
    sqrt(sum_ik w'_ijk^2 + eps) (Eq. 3). ``up`` doubles the resolution first (bilinear).
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: int,
        w_dim: int,
        demodulate: bool = True,
        up: bool = False,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.w_gain = 1 / math.sqrt(c_in * kernel * kernel)
        self.affine = EqualLinear(w_dim, c_in, bias_init=1.0)
        self.demodulate, self.up, self.padding = demodulate, up, kernel // 2

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        s = self.affine(w)  # (B, C_in)
        weight = self.weight * self.w_gain
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        out = F.conv2d(
            x * s[:, :, None, None].to(x.dtype), weight.to(x.dtype), padding=self.padding
        )
        if self.demodulate:
            # sum over (C_in, k, k) of (s_i w_ijk)^2 = (w^2 summed over k) @ s^2
            d = torch.rsqrt(s.pow(2) @ weight.pow(2).sum(dim=(2, 3)).T + 1e-8)  # (B, C_out)
            out = out * d[:, :, None, None].to(out.dtype)
        return out


class StyleLayer(nn.Module):
    """Modulated 3x3 conv, + noise * learned strength, + bias, leaky ReLU."""

    def __init__(self, c_in: int, c_out: int, w_dim: int, up: bool = False) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(c_in, c_out, 3, w_dim, up=up)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(c_out))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        x = self.conv(x, w)
        x = x + noise.to(x.dtype) * self.noise_strength  # noise (B, 1, H, W)
        return lrelu(x + self.bias[None, :, None, None])


class ToRGB(nn.Module):
    """Modulated 1x1 conv to image channels, no demodulation."""

    def __init__(self, c_in: int, channels: int, w_dim: int) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(c_in, channels, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.conv(x, w) + self.bias[None, :, None, None]


class SynthesisNetwork(nn.Module):
    """ws (B, num_ws, w_dim) and noise -> image (B, C, H, W).

    Layer i (in order: the base conv, then two convs per doubling) reads ws[:, i]; the RGB output
    of each resolution reads the style of the next layer (the last one an extra style), as in
    StyleGAN2, so num_ws = number of conv layers + 1.
    """

    def __init__(self, spec: DataSpec, width: int, w_dim: int) -> None:
        super().__init__()
        self.base, stages = pyramid(spec.resolution)
        ch = [max(width // 2**i, 16) for i in range(stages + 1)]
        self.const = nn.Parameter(torch.randn(ch[0], self.base, self.base))
        self.layers = nn.ModuleList([StyleLayer(ch[0], ch[0], w_dim)])
        self.rgbs = nn.ModuleList([ToRGB(ch[0], spec.channels, w_dim)])
        self.sizes = [self.base]
        for i in range(stages):
            self.layers.append(StyleLayer(ch[i], ch[i + 1], w_dim, up=True))
            self.layers.append(StyleLayer(ch[i + 1], ch[i + 1], w_dim))
            self.rgbs.append(ToRGB(ch[i + 1], spec.channels, w_dim))
            self.sizes += [self.base * 2 ** (i + 1)] * 2
        self.num_ws = len(self.layers) + 1

    def noise(
        self, n: int, generator: Generators | None, device: torch.device
    ) -> list[torch.Tensor]:
        """Per-layer noise maps (n, 1, H, W): random, or zeros without a generator."""
        if generator is None:
            return [torch.zeros(n, 1, s, s, device=device) for s in self.sizes]
        return [randn((n, 1, s, s), generator, device) for s in self.sizes]

    def forward(self, ws: torch.Tensor, noise: list[torch.Tensor]) -> torch.Tensor:
        x = self.const[None].expand(ws.shape[0], -1, -1, -1)
        x = self.layers[0](x, ws[:, 0], noise[0])
        img = self.rgbs[0](x, ws[:, 1])
        for level in range(1, len(self.rgbs)):
            i = 2 * level - 1
            x = self.layers[i](x, ws[:, i], noise[i])
            x = self.layers[i + 1](x, ws[:, i + 1], noise[i + 1])
            up = F.interpolate(img, scale_factor=2, mode="bilinear", align_corners=False)
            img = up + self.rgbs[level](x, ws[:, i + 2])
        return img


class Generator(nn.Module):
    """The mapping and synthesis networks and the running mean style ``w_avg``."""

    def __init__(self, cfg: StyleGANConfig, spec: DataSpec, num_classes: int) -> None:
        super().__init__()
        self.mapping = MappingNetwork(cfg.z_dim, cfg.w_dim, cfg.mapping_layers, num_classes)
        self.synthesis = SynthesisNetwork(spec, cfg.width, cfg.w_dim)
        self.register_buffer("w_avg", torch.zeros(cfg.w_dim))

    @property
    def num_ws(self) -> int:
        return self.synthesis.num_ws


class DBlock(nn.Module):
    """Residual discriminator block: two 3x3 convs and a 2x average pool, skip 1x1, / sqrt(2)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv1 = EqualConv2d(c_in, c_in)
        self.conv2 = EqualConv2d(c_in, c_out)
        self.skip = EqualConv2d(c_in, c_out, kernel=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.avg_pool2d(lrelu(self.conv2(lrelu(self.conv1(x)))), 2)
        return (h + self.skip(F.avg_pool2d(x, 2))) / SQRT2


class Discriminator(nn.Module):
    """image (B, C, H, W) [, y] -> logits (B,): residual blocks down to the base resolution,
    minibatch stddev, conv, two dense layers; with classes, a projection of the last features
    onto the label's embedding."""

    def __init__(self, spec: DataSpec, width: int, num_classes: int = 0) -> None:
        super().__init__()
        base, stages = pyramid(spec.resolution)
        ch = [max(width // 2**i, 16) for i in range(stages + 1)][::-1]  # full res -> base
        self.from_rgb = EqualConv2d(spec.channels, ch[0], kernel=1)
        self.blocks = nn.Sequential(*(DBlock(ch[i], ch[i + 1]) for i in range(stages)))
        self.conv = EqualConv2d(ch[-1] + 1, ch[-1])
        self.fc = EqualLinear(ch[-1] * base * base, ch[-1])
        self.embed = EqualLinear(num_classes, ch[-1]) if num_classes else None
        self.num_classes = num_classes
        self.out = EqualLinear(ch[-1], 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.blocks(lrelu(self.from_rgb(x)))
        h = lrelu(self.conv(minibatch_stddev(h)))
        h = lrelu(self.fc(h.flatten(1)))  # (B, C)
        out = self.out(h).squeeze(1)
        if self.embed is not None:
            e = self.embed(F.one_hot(y, self.num_classes).to(h.dtype))
            out = out + (e * h).sum(1) / math.sqrt(h.shape[1])  # projection term
        return out


class StyleGAN(Adversarial):
    name = "stylegan"
    summary = (
        "StyleGAN2: mapping network, modulated/demodulated convs, noise inputs, constant input, "
        "style mixing, truncation psi, lazy R1"
    )
    Config = StyleGANConfig
    truncation_sweep: ClassVar[tuple[float, ...]] = (1.0, 0.8, 0.6, 0.4, 0.2, 0.0)  # psi

    def __init__(self, config: StyleGANConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        n_cls = spec.num_classes if config.conditional else 0
        self.G = Generator(config, spec, n_cls)
        self.D = Discriminator(spec, config.width, n_cls)

    def styles(
        self,
        z: torch.Tensor,
        y: torch.Tensor | None,
        psi: float = 1.0,
        mix_z: torch.Tensor | None = None,
        crossover: int | None = None,
    ) -> torch.Tensor:
        """Per-layer styles ws (B, num_ws, w_dim): w(z), layers >= ``crossover`` from w(mix_z)
        when given, each truncated towards w_avg: w_avg + psi (w - w_avg)."""
        ws = self.G.mapping(z, y)[:, None].repeat(1, self.G.num_ws, 1)
        if mix_z is not None and crossover is not None:
            ws[:, crossover:] = self.G.mapping(mix_z, y)[:, None]
        if psi != 1.0:
            ws = self.G.w_avg.lerp(ws, psi)
        return ws

    def generate(
        self, z: torch.Tensor, y: torch.Tensor | None, generator: Generators | None = None
    ) -> torch.Tensor:
        """Training-time G: random noise, style mixing with probability ``mixing``, and the
        running mean of w updated (no truncation)."""
        if generator is None:
            return self.synthesise(self.styles(z, y), None)
        mix_z = crossover = None
        if self.config.mixing > 0 and rand((), generator, z.device).item() < self.config.mixing:
            mix_z = self.z(z.shape[0], generator, z.device)
            crossover = int(rand((), generator, z.device).item() * (self.G.num_ws - 1)) + 1
        ws = self.styles(z, y, mix_z=mix_z, crossover=crossover)
        if self.training:
            with torch.no_grad():
                b = self.config.w_avg_beta
                self.G.w_avg.copy_(ws[:, 0].float().mean(0).lerp(self.G.w_avg, b))
        return self.synthesise(ws, generator)

    def synthesise(self, ws: torch.Tensor, generator: Generators | None) -> torch.Tensor:
        """Images in [-1, 1] from styles (B, num_ws, w_dim); noise from ``generator`` (None: 0)."""
        noise = self.G.synthesis.noise(ws.shape[0], generator, ws.device)
        return torch.tanh(self.G.synthesis(ws, noise))

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        generator: Generators,
        labels: torch.Tensor | None = None,
        truncation: float = 1.0,
        **options: Any,
    ) -> torch.Tensor:
        """Images with per-layer noise; styles truncated by psi = ``truncation`` (1: none)."""
        if not 0.0 <= truncation <= 2.0:
            raise ConfigError(f"truncation psi={truncation} is out of range: use 0 .. 1 (1: none)")
        device = next(self.parameters()).device
        y = self.check_labels(n, labels, device)
        ws = self.styles(self.z(n, generator, device), y, psi=truncation)
        return self.synthesise(ws, generator).float()

    def sample_options(self) -> dict[str, Any]:
        return {"truncation": 1.0}
