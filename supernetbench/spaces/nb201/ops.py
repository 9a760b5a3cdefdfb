"""NB201 building blocks (protocol §1): ReLU-Conv-BN ops, avg-pool, identity, zero, ResNet block.

Shared by the supernet (:mod:`.supernet`) and the standalone networks (:mod:`.network`), so a
one-hot supernet path and a standalone network with the same weights compute the same function.
"""
from __future__ import annotations

import torch
from torch import nn


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv (no bias) -> BN, NB201's ``nor_conv_kxk``."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool, track: bool):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out, affine=affine, track_running_stats=track),
        )


class Zero(nn.Module):
    """``none``: multiplies the input by 0 (keeps shape, dtype and device)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def make_op(name: str, c: int, affine: bool, track: bool) -> nn.Module:
    """The NB201 op ``name`` at ``c`` channels, stride 1 (all NB201 cell ops are stride 1)."""
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(c, c, 1, 1, 0, affine, track)
    if name == "nor_conv_3x3":
        return ReLUConvBN(c, c, 3, 1, 1, affine, track)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown NB201 op {name!r}")


class ResNetBasicBlock(nn.Module):
    """NB201 reduction block: ReLU-Conv3x3(s2)-BN -> ReLU-Conv3x3-BN, shortcut AvgPool2x2 + Conv1x1."""

    def __init__(self, c_in: int, c_out: int, stride: int = 2):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride, 1, affine=True, track=True)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1, affine=True, track=True)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(c_in, c_out, kernel_size=1, stride=1, padding=0, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


def stem(c: int) -> nn.Sequential:
    """3x3 conv 3->C (no bias) + BN (affine, tracked); no ReLU."""
    return nn.Sequential(nn.Conv2d(3, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))


def layer_plan(c: int, n: int) -> list[tuple[int, bool]]:
    """(channels, is_reduction) per layer: N cells @C, block, N @2C, block, N @4C."""
    plan: list[tuple[int, bool]] = []
    for stage, mult in enumerate((1, 2, 4)):
        if stage > 0:
            plan.append((c * mult, True))
        plan.extend([(c * mult, False)] * n)
    return plan
