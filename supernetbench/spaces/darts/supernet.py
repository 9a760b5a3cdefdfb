"""The DARTS search network (Liu et al., DARTS, Sec. 2.1-2.2; protocol §8), with PC-DARTS' partial
channels (Xu et al., PC-DARTS, ICLR 2020, Sec. 3.2).

Written from a reading of quark0/darts ``cnn/model_search.py``, yuhuixu1993/PC-DARTS
``model_search.py`` and the papers' DrNAS fork ``two_stage/DARTS-space/model_search.py``:

* stem: 3x3 conv 3 -> 3C (no bias) + BN; ``layers`` cells, reduction cells (channels doubled,
  stride 2 on the edges that read the cell inputs) at ``layers // 3`` and ``2 * layers // 3``;
* cell inputs preprocessed by ReLU-Conv1x1-BN, or FactorizedReduce after a reduction cell; cell
  output = the concatenation of the 4 intermediate nodes (4C channels); all op BNs affine=False;
* edge ``i<-j`` = MixedOp ``sum_o w_o op_o(x)``. With ``k > 1`` only the first ``C // k`` channels
  go through the ops; the other channels bypass them (max-pooled 2x2 on a stride-2 edge) and are
  concatenated, then channel-shuffled with ``k`` groups. PC-DARTS' edge normalisation (a second
  set of edge weights) is not part of the papers' fork, so not here either.

Zero weights skip work, as in the papers' fork (``Cell.forward`` / ``MixedOp.forward``): an edge
whose weight row is all 0 is absent from its node's sum (always; with ``k > 1`` that also drops its
bypassed channels, exactly as the fork does), so 0/1 weights of a discrete cell (two non-zero rows
per node) run just that cell. Inside an edge, an op whose weight is exactly 0 is not run when the
weights do not require grad (a gradient w.r.t. a 0 weight needs the op's output; the value is the
same either way).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import torch
from torch import nn

from supernetbench.harness.checks import check_int

from .ops import FactorizedReduce, ReLUConvBN, channel_shuffle, make_op
from .space import CELL_TYPES, EDGES, NODE_ROWS, STEPS, DartsCellSpace


@dataclass(frozen=True, kw_only=True)
class DartsSupernetConfig:
    """Search-network shape. Defaults: the DARTS paper's (C=16, 8 cells, all channels); the papers'
    Stage 1 (protocol §8) is ``C=36, layers=20, k=2``."""

    C: int = 16
    layers: int = 8
    k: int = 1
    num_classes: int = 10
    stem_multiplier: int = 3

    def __post_init__(self) -> None:
        check_int("C", self.C, 2, 256)
        check_int("layers", self.layers, 3, 64)
        check_int("k", self.k, 1, 16)
        check_int("num_classes", self.num_classes, 1)
        check_int("stem_multiplier", self.stem_multiplier, 1, 8)
        if self.C % (2 * self.k):
            raise ValueError(f"C must be a multiple of 2*k (even channels through the ops), got C={self.C}, k={self.k}")


class MixedOp(nn.Module):
    """One edge: the weighted sum of its candidate ops over the first ``C // k`` channels."""

    def __init__(self, c: int, stride: int, op_names: Sequence[str], k: int):
        super().__init__()
        self.k, self.stride, self.c_op = k, stride, c // k
        self.ops = nn.ModuleList(make_op(name, self.c_op, stride, affine=False, pool_bn=True) for name in op_names)
        self.bypass = nn.MaxPool2d(2, 2) if k > 1 and stride == 2 else nn.Identity()

    def forward(self, x: torch.Tensor, w: torch.Tensor, hard: int | None = None) -> torch.Tensor:
        """``hard`` (GDAS): only op ``hard`` runs; the other ops add their scalar weight (0 under
        straight-through) so that their logits still get gradients (``forward_gdas``, protocol §2)."""
        xa = x if self.k == 1 else x[:, : self.c_op]
        skip_zeros = not w.requires_grad
        out = None
        if hard is not None:
            out = self.ops[hard](xa) * w[hard] + torch.cat([w[:hard], w[hard + 1:]]).sum()
        for o, op in enumerate(self.ops if hard is None else ()):
            if skip_zeros and float(w[o]) == 0.0:
                continue
            term = w[o] * op(xa)
            out = term if out is None else out + term
        if out is None:  # every weight 0: the op-sum is zero
            out = make_op("none", self.c_op, self.stride, affine=False)(xa)
        if self.k == 1:
            return out
        return channel_shuffle(torch.cat([out, self.bypass(x[:, self.c_op:])], dim=1), self.k)


class SearchCell(nn.Module):
    """A DARTS search cell of one type: 2 preprocessed inputs, 4 nodes, 14 MixedOps, concat."""

    def __init__(self, space: DartsCellSpace, c_pp: int, c_p: int, c: int, reduction: bool,
                 reduction_prev: bool, k: int):
        super().__init__()
        self.reduction = reduction
        self.cell_type = "reduce" if reduction else "normal"
        self.c = c
        self.pre0 = FactorizedReduce(c_pp, c, affine=False) if reduction_prev else ReLUConvBN(c_pp, c, 1, 1, 0, False)
        self.pre1 = ReLUConvBN(c_p, c, 1, 1, 0, affine=False)
        self.edges = nn.ModuleList(
            MixedOp(c, 2 if reduction and frm < 2 else 1, space.op_names(self.cell_type, e), k)
            for e, (_, frm) in enumerate(EDGES)
        )

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, w: torch.Tensor,
                hard: Sequence[int] | None = None) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        for node in range(2, 2 + STEPS):
            acc = None
            for j in range(node):
                e = NODE_ROWS[node][j]
                if not bool(w[e].any()):
                    continue  # edge absent from this (sub)cell
                out = self.edges[e](states[j], w[e], None if hard is None else int(hard[e]))
                acc = out if acc is None else acc + out
            if acc is None:  # no in-edge at all: the node is zero
                ref = states[1][:, :, ::2, ::2] if self.reduction else states[1]
                acc = ref.mul(0.0)
            states.append(acc)
        return torch.cat(states[2:], dim=1)


class DartsSupernet(nn.Module):
    """The weight-sharing DARTS network over a :class:`DartsCellSpace` (per-edge candidate ops)."""

    def __init__(self, space: DartsCellSpace, config: DartsSupernetConfig = DartsSupernetConfig()):
        super().__init__()
        self.space, self.config = space, config
        c, layers = config.C, config.layers
        c_cur = config.stem_multiplier * c
        self.stem = nn.Sequential(nn.Conv2d(3, c_cur, 3, padding=1, bias=False), nn.BatchNorm2d(c_cur))
        c_pp, c_p, c_cur = c_cur, c_cur, c
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = i in reduction_layers(layers)
            if reduction:
                c_cur *= 2
            self.cells.append(SearchCell(space, c_pp, c_p, c_cur, reduction, reduction_prev, config.k))
            reduction_prev = reduction
            c_pp, c_p = c_p, STEPS * c_cur
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_p, config.num_classes)

    @property
    def weight_shapes(self) -> dict[str, tuple[int, int]]:
        return self.space.weight_shapes

    @property
    def aux_skip_beta(self) -> float:
        """DARTS-' auxiliary skip weight: always 0, the skip is not built into this network."""
        return 0.0

    @aux_skip_beta.setter
    def aux_skip_beta(self, beta: float) -> None:
        if beta:  # refused rather than ignored: a DARTS- run would silently train plain DARTS
            raise NotImplementedError(f"DARTS-' auxiliary skip (beta={beta:g}) is not implemented in the DARTS "
                                      "search network; darts- runs on the nb201 space")

    def forward(self, x: torch.Tensor, weights: Mapping[str, torch.Tensor] | None = None, *,
                hard: Mapping[str, Sequence[int]] | None = None,
                arch: Sequence[int] | None = None) -> torch.Tensor:
        """Logits. ``weights``: ``{"normal": (14, n_ops), "reduce": (14, n_ops)}`` op weights (a
        mixture); or ``arch``: a discrete cell pair of the space, run as its 0/1 weights. ``hard``
        (GDAS, with ``weights``): per cell type, the one op each of the 14 edges executes - every
        edge, as the papers' DARTS-space GDAS ran it (not a valid 2-in-edge cell; protocol §8)."""
        if hard is not None and weights is None:
            raise ValueError("`hard` (GDAS' executed ops) needs the straight-through `weights`")
        if (weights is None) == (arch is None):
            raise ValueError("pass exactly one of `weights` (mixture) or `arch` (discrete cells)")
        if arch is not None:
            weights = {ct: torch.as_tensor(m, dtype=x.dtype, device=x.device)
                       for ct, m in self.space.one_hot(arch).items()}
        assert weights is not None
        for ct in CELL_TYPES:
            shape = tuple(weights[ct].shape) if ct in weights else None
            if shape != self.weight_shapes[ct]:
                raise ValueError(f"{ct} weights must have shape {self.weight_shapes[ct]}, got {shape}")
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, weights[cell.cell_type], None if hard is None else hard[cell.cell_type])
        return self.classifier(self.global_pooling(s1).flatten(1))

    def weight_parameters(self) -> list[nn.Parameter]:
        """All network weights (architecture parameters live in the Stage-1 method, not here)."""
        return list(self.parameters())


def reduction_layers(layers: int) -> tuple[int, int]:
    """Indices of the two reduction cells: 1/3 and 2/3 of the depth (DARTS ``Network.__init__``)."""
    return layers // 3, 2 * layers // 3
