"""The NB201 supernet (protocol §1): stem, 3 stages of N search cells at C/2C/4C, 2 ResNet blocks, head.

One architecture-weight matrix per cell type, shared by all cells (NB201: ``"cell"``, 6x5).
Each edge evaluates in one of three ways, chosen per call of :meth:`NB201Supernet.forward`:

* ``weights`` - the DARTS mixture ``sum_o w_o * op_o(x)``, skipping ops whose weight is exactly 0
  (so a one-hot weight runs a single path, as in the reference ``MixedOp``);
* ``weights`` + ``hard`` (per-edge op indices) - GDAS: only the chosen op runs, and the other ops
  contribute their scalar weight (value 0 under straight-through) so their logits still get
  gradients (reference ``NAS201SearchCell.forward_gdas``);
* ``arch`` - exactly one op per edge and no weights at all (RSPS, scoring): no compute on others.

``aux_skip_beta`` adds DARTS-'s auxiliary skip ``beta * x`` on every edge; 0 (the default, and
always used for scoring and selection) drops it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import torch
from torch import nn

from ...harness.checks import check_int, check_network_shape
from .ops import ResNetBasicBlock, layer_plan, make_op, stem
from .space import NB201Space


@dataclass(frozen=True, kw_only=True)
class SupernetConfig:
    """Supernet shape. Defaults are the protocol's (§1): C=16, N=5, op BNs affine=False, tracked."""

    C: int = 16
    N: int = 5
    num_classes: int = 10
    affine: bool = False
    track_running_stats: bool = True

    def __post_init__(self) -> None:
        check_network_shape(self.C, self.N)
        check_int("num_classes", self.num_classes, 1)


class SearchCell(nn.Module):
    """An NB201 search cell: node_i = sum_{j<i} edge_{i<-j}(node_j); output = node 3."""

    def __init__(self, c: int, space: NB201Space, affine: bool, track: bool):
        super().__init__()
        self.space = space
        self.edges = nn.ModuleList(
            nn.ModuleList(make_op(op, c, affine, track) for op in space.ops) for _ in space.EDGES
        )

    def forward(
        self,
        x: torch.Tensor,
        weights: torch.Tensor | None,
        hard: Sequence[int] | None,
        arch: Sequence[int] | None,
        beta: float,
    ) -> torch.Tensor:
        nodes = [x]
        for i in range(1, self.space.num_nodes):
            acc = None
            for e, frm in self.space.node_inputs(i):
                out = self._edge(e, nodes[frm], weights, hard, arch)
                if beta:
                    out = out + beta * nodes[frm]
                acc = out if acc is None else acc + out
            nodes.append(acc)
        return nodes[-1]

    def _edge(self, e, h, weights, hard, arch) -> torch.Tensor:
        ops = self.edges[e]
        if arch is not None:
            return ops[arch[e]](h)
        w = weights[e]
        if hard is not None:
            k = int(hard[e])
            out = ops[k](h) * w[k]
            others = torch.cat([w[:k], w[k + 1 :]]).sum()  # value 0, gradient 1 (straight-through)
            return out + others
        out = None
        for o, op in enumerate(ops):
            if not w.requires_grad and float(w[o]) == 0.0:
                continue
            term = op(h) * w[o]
            out = term if out is None else out + term
        return out if out is not None else h.mul(0.0)


class NB201Supernet(nn.Module):
    """The weight-sharing network over all 15,625 NB201 architectures."""

    space = NB201Space()

    def __init__(self, config: SupernetConfig = SupernetConfig()):
        super().__init__()
        self.config = config
        c, n = config.C, config.N
        self.stem = stem(c)
        self.layers = nn.ModuleList()
        c_prev = c
        for c_cur, reduction in layer_plan(c, n):
            if reduction:
                self.layers.append(ResNetBasicBlock(c_prev, c_cur, 2))
            else:
                self.layers.append(SearchCell(c_cur, self.space, config.affine, config.track_running_stats))
            c_prev = c_cur
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, config.num_classes)
        self.aux_skip_beta = 0.0

    @property
    def weight_shapes(self) -> Mapping[str, tuple[int, int]]:
        return self.space.weight_shapes

    def forward(
        self,
        x: torch.Tensor,
        weights: Mapping[str, torch.Tensor] | None = None,
        *,
        hard: Mapping[str, Sequence[int]] | None = None,
        arch: Sequence[int] | None = None,
    ) -> torch.Tensor:
        """Logits for a batch. Exactly one of ``weights`` or ``arch`` must be given."""
        if (weights is None) == (arch is None):
            raise ValueError("pass exactly one of `weights` (mixture) or `arch` (single path)")
        w = None
        if weights is not None:
            w = weights["cell"]
            if tuple(w.shape) != tuple(self.weight_shapes["cell"]):
                raise ValueError(f"cell weights must have shape {self.weight_shapes['cell']}, got {tuple(w.shape)}")
        h_idx = hard["cell"] if hard is not None else None
        if arch is not None:
            arch = self.space.validate(arch)
        return self.forward_layers(self.stem(x), 0, w, h_idx, arch)

    def forward_layers(self, h: torch.Tensor, start: int, w: torch.Tensor | None = None,
                       hard: Sequence[int] | None = None, arch: Sequence[int] | None = None) -> torch.Tensor:
        """Logits from the input ``h`` of layer ``start`` onwards (layers after the stem, then the head).
        Unchecked: :meth:`forward` validates ``weights`` / ``arch``."""
        for layer in self.layers[start:]:
            h = layer(h, w, hard, arch, self.aux_skip_beta) if isinstance(layer, SearchCell) else layer(h)
        h = self.global_pooling(self.lastact(h)).flatten(1)
        return self.classifier(h)

    def weight_parameters(self) -> list[nn.Parameter]:
        """All network weights (architecture parameters live in the Stage-1 method, not here)."""
        return list(self.parameters())


def build_supernet(cfg: SupernetConfig, dtype: torch.dtype = torch.float32) -> NB201Supernet:
    """The supernet with its weights initialised directly in ``dtype`` (a float64 net initialised in
    float32 and cast would inherit float32 rounding, which differs between SIMD kernel sets)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        return NB201Supernet(cfg)
    finally:
        torch.set_default_dtype(old)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
