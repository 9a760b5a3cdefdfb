"""DARTS-space candidate operations (Liu et al., DARTS, ICLR 2019, Sec. 3 / App. A.1.1).

Written from a reading of quark0/darts ``cnn/operations.py`` and ``cnn/model_search.py``, the
papers' fork of DrNAS (``two_stage/DARTS-space/operations.py``, where pools carry a BN also in the
evaluation network) and ruocwang/darts-pt ``sota/cnn/operations.py`` (RobustDARTS' ``noise``).

Every op maps ``C`` channels to ``C`` channels; stride 2 (the edges of a reduction cell that read
the two cell inputs) halves height and width. ``affine`` is the BN flag of the conv ops (``False``
in the search network, ``True`` in the evaluation network); the BN after a pool never has
parameters (``affine=False``), as in DARTS' search ``MixedOp``.
"""
from __future__ import annotations

import torch
from torch import nn

# the op names (DARTS_OPS: the papers' 7; ALL_OPS: every name make_op knows) are defined with the
# space, which registers without importing torch
from .space import ALL_OPS, DARTS_OPS  # noqa: F401


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv(k, stride, pad, no bias) -> BN: the cell preprocessing of DARTS."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class DilConv(nn.Sequential):
    """``dil_conv_kxk``: ReLU -> depthwise conv (dilation 2) -> pointwise 1x1 -> BN."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, dilation: int,
                 affine: bool):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, stride=stride, padding=padding, dilation=dilation, groups=c_in,
                      bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class SepConv(nn.Sequential):
    """``sep_conv_kxk``: the depthwise-separable block applied twice (only the first is strided)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool):
        super().__init__(
            DilConv(c_in, c_in, kernel, stride, padding, 1, affine),
            DilConv(c_in, c_out, kernel, 1, padding, 1, affine),
        )


class FactorizedReduce(nn.Module):
    """Halve the resolution with two 1x1 stride-2 convs on pixel grids offset by one, concatenated.

    ``skip_connect`` at stride 2 and the preprocessing of a cell after a reduction cell. Needs an
    even ``c_out`` and an even input height/width (as DARTS does).
    """

    def __init__(self, c_in: int, c_out: int, affine: bool):
        super().__init__()
        if c_out % 2:
            raise ValueError(f"FactorizedReduce needs an even number of output channels, got {c_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


class Identity(nn.Module):
    """``skip_connect`` at stride 1 (its own class: drop-path skips exactly these ops)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Zero(nn.Module):
    """``none``: zeros of the (strided) input's shape, dtype and device."""

    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        return x.mul(0.0)


class Noise(nn.Module):
    """RobustDARTS S4's ``noise`` op (Zela et al., ICLR 2020, Sec. 3): i.i.d. N(0, 1) of the
    (strided) input's shape, independent of the input's values (no gradient to the input)."""

    def __init__(self, stride: int, mean: float = 0.0, std: float = 1.0):
        super().__init__()
        self.stride, self.mean, self.std = stride, mean, std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        return torch.randn_like(x).mul_(self.std).add_(self.mean)


def _pool(kind: str, c: int, stride: int, bn: bool) -> nn.Module:
    pool = (nn.MaxPool2d(3, stride=stride, padding=1) if kind == "max"
            else nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False))
    return nn.Sequential(pool, nn.BatchNorm2d(c, affine=False)) if bn else pool


def make_op(name: str, c: int, stride: int, affine: bool, pool_bn: bool = True) -> nn.Module:
    """The DARTS-space op ``name`` at ``c`` channels and ``stride`` (1, or 2 in a reduction cell).

    ``pool_bn`` appends a parameter-free BN to the pools (DARTS' search network; the papers' fork
    also in the evaluation network); DARTS' own evaluation network has plain pools.
    """
    if stride not in (1, 2):
        raise ValueError(f"stride must be 1 or 2, got {stride!r}")
    if name == "none":
        return Zero(stride)
    if name == "noise":
        return Noise(stride)
    if name == "skip_connect":
        return Identity() if stride == 1 else FactorizedReduce(c, c, affine)
    if name in ("max_pool_3x3", "avg_pool_3x3"):
        return _pool(name[:3], c, stride, pool_bn)
    if name in ("sep_conv_3x3", "sep_conv_5x5"):
        k = int(name[-1])
        return SepConv(c, c, k, stride, k // 2, affine)
    if name in ("dil_conv_3x3", "dil_conv_5x5"):
        k = int(name[-1])
        return DilConv(c, c, k, stride, k - 1, 2, affine)  # dilation 2: padding (k-1) keeps the size
    raise ValueError(f"unknown DARTS op {name!r}; valid ops: {', '.join(ALL_OPS)}")


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet's channel shuffle (PC-DARTS mixes the processed 1/k with the bypassed channels)."""
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)
