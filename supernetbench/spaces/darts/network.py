"""The DARTS evaluation network ``NetworkCIFAR`` (Liu et al., DARTS, Sec. 3.2 / App. A.2; protocol
§8), its parameter count and its FLOPs.

Written from a reading of quark0/darts ``cnn/model.py`` / ``cnn/utils.py`` and the papers' DrNAS
fork ``two_stage/DARTS-space/model.py`` / ``operations.py``: stem 3x3 conv 3 -> 3C + BN; ``layers``
cells built from one genotype (reduction cells at 1/3 and 2/3 of the depth); each node sums its two
ops; cell output = concat of nodes 2..5; global average pool + linear. Options:

* ``auxiliary``: DARTS' auxiliary head (Szegedy et al.) on the output of cell ``2 * layers // 3``,
  used only in training (loss weight 0.4 in §8; :meth:`NetworkCIFAR.forward` returns its logits
  only in train mode);
* ``drop_path_prob``: drop-path (FractalNet) on every op output that is not an identity, only in
  training; §8 ramps it linearly from 0 to 0.3 over the epochs (``set_drop_path``);
* ``pool_bn``: a parameter-free BN after each pool. The papers' fork (and DrNAS) use it in the
  evaluation network too; DARTS' ``model.py`` has plain pools. It changes neither the parameter
  count nor the FLOPs as counted here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from supernetbench.harness.checks import check_float, check_int

from .ops import FactorizedReduce, Identity, ReLUConvBN, make_op
from .space import CONCAT, DartsCellSpace, DartsSpace
from .supernet import reduction_layers


@dataclass(frozen=True, kw_only=True)
class NetworkConfig:
    """Evaluation-network shape; defaults are §8's (C=36, 20 cells, auxiliary head on)."""

    C: int = 36
    layers: int = 20
    num_classes: int = 10
    auxiliary: bool = True
    pool_bn: bool = True

    def __post_init__(self) -> None:
        check_int("C", self.C, 2, 512)
        if self.C % 2:
            raise ValueError(f"C must be even (FactorizedReduce halves it), got {self.C}")
        check_int("layers", self.layers, 3, 64)
        check_int("num_classes", self.num_classes, 1)


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Zero whole samples with probability ``drop_prob`` and rescale the others by 1/(1 - p)."""
    keep = 1.0 - drop_prob
    mask = torch.empty(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device).bernoulli_(keep)
    return x / keep * mask


class EvalCell(nn.Module):
    """A fixed cell: per node ``op_a(state[in_a]) + op_b(state[in_b])``; output = concat 2..5."""

    def __init__(self, pairs: Sequence[tuple[str, int]], c_pp: int, c_p: int, c: int, reduction: bool,
                 reduction_prev: bool, pool_bn: bool):
        super().__init__()
        self.reduction = reduction
        self.pre0 = FactorizedReduce(c_pp, c, affine=True) if reduction_prev else ReLUConvBN(c_pp, c, 1, 1, 0, True)
        self.pre1 = ReLUConvBN(c_p, c, 1, 1, 0, affine=True)
        self.inputs = tuple(inp for _, inp in pairs)
        self.ops = nn.ModuleList(
            make_op(name, c, 2 if reduction and inp < 2 else 1, affine=True, pool_bn=pool_bn) for name, inp in pairs
        )

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        for i in range(len(self.inputs) // 2):
            total = None
            for p in (2 * i, 2 * i + 1):
                op = self.ops[p]
                h = op(states[self.inputs[p]])
                if self.training and drop_prob > 0.0 and not isinstance(op, Identity):
                    h = drop_path(h, drop_prob)
                total = h if total is None else total + h
            states.append(total)
        return torch.cat([states[i] for i in CONCAT], dim=1)


class AuxiliaryHeadCIFAR(nn.Sequential):
    """DARTS' auxiliary classifier for an 8x8 input (pooled to 2x2, then a 2x2 conv to 768)."""

    def __init__(self, c: int, num_classes: int):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),
            nn.Conv2d(c, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=False),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=False),
            nn.Flatten(1),
            nn.Linear(768, num_classes),
        )


class NetworkCIFAR(nn.Module):
    """The network a genotype is trained as from scratch (the oracle of the DARTS space)."""

    def __init__(self, arch: Sequence[int], space: DartsCellSpace | None = None,
                 config: NetworkConfig = NetworkConfig()):
        super().__init__()
        self.space = space if space is not None else DartsSpace()
        self.config = config
        gene = self.space.genotype(arch)
        c, layers = config.C, config.layers
        c_cur = 3 * c
        self.stem = nn.Sequential(nn.Conv2d(3, c_cur, 3, padding=1, bias=False), nn.BatchNorm2d(c_cur))
        c_pp, c_p, c_cur = c_cur, c_cur, c
        self.cells = nn.ModuleList()
        reduction_prev = False
        self.aux_after = 2 * layers // 3
        c_aux = 0
        for i in range(layers):
            reduction = i in reduction_layers(layers)
            if reduction:
                c_cur *= 2
            pairs = gene["reduce" if reduction else "normal"]
            self.cells.append(EvalCell(pairs, c_pp, c_p, c_cur, reduction, reduction_prev, config.pool_bn))
            reduction_prev = reduction
            c_pp, c_p = c_p, len(CONCAT) * c_cur
            if i == self.aux_after:
                c_aux = c_p
        self.auxiliary_head = AuxiliaryHeadCIFAR(c_aux, config.num_classes) if config.auxiliary else None
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_p, config.num_classes)
        self.drop_path_prob = 0.0

    def set_drop_path(self, prob: float) -> None:
        """Drop-path probability for the next forward passes (§8: ``0.3 * epoch / epochs``)."""
        self.drop_path_prob = check_float("drop_path_prob", prob, 0.0, 0.99)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(logits, aux_logits)``; ``aux_logits`` is ``None`` in eval mode or without the head."""
        aux = None
        s0 = s1 = self.stem(x)
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if i == self.aux_after and self.auxiliary_head is not None and self.training:
                aux = self.auxiliary_head(s1)
        return self.classifier(self.global_pooling(s1).flatten(1)), aux


def count_parameters(arch: Sequence[int], space: DartsCellSpace | None = None, *, C: int = 36, layers: int = 20,
                     num_classes: int = 10, auxiliary: bool = False) -> int:
    """Trainable parameters of ``NetworkCIFAR`` for a genotype.

    ``auxiliary=False`` is DARTS' convention (``utils.count_parameters_in_MB`` skips every
    parameter named ``auxiliary``; the published "3.3M" of DARTS V2); ``True`` adds the head.
    Built on the meta device: no memory is allocated for the weights.
    """
    cfg = NetworkConfig(C=C, layers=layers, num_classes=num_classes, auxiliary=auxiliary)
    with torch.device("meta"):
        net = NetworkCIFAR(arch, space, cfg)
    return sum(p.numel() for p in net.parameters())


def count_flops(arch: Sequence[int], space: DartsCellSpace | None = None, *, C: int = 36, layers: int = 20,
                num_classes: int = 10, image_size: int = 32) -> int:
    """Multiply-accumulates of one ``image_size``\\ :sup:`2` image through the inference network.

    Convention (that of DARTS-family papers' "FLOPs"/"MAdds"): every Conv2d counts
    ``out_elements * in_channels / groups * kh * kw`` MACs and every Linear ``in * out``; BN, ReLU,
    pooling, additions, drop-path and the auxiliary head (training only) count 0.
    """
    cfg = NetworkConfig(C=C, layers=layers, num_classes=num_classes, auxiliary=False)
    with torch.device("meta"):
        net = NetworkCIFAR(arch, space, cfg).eval()
        x = torch.empty(1, 3, image_size, image_size)
    total = 0

    def hook(mod: nn.Module, _inp, out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(mod, nn.Conv2d):
            kh, kw = mod.kernel_size
            total += out.numel() * (mod.in_channels // mod.groups) * kh * kw
        else:
            total += mod.in_features * mod.out_features * (out.numel() // mod.out_features)

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in handles:
            h.remove()
    return total
