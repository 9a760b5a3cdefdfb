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

DARTS-'s auxiliary skip (Chu et al., ICLR 2021, Sec. 3.2 / Fig. 1(b); protocol §8): with
``aux_skip=True`` (or :meth:`DartsSupernet.add_aux_skip`) every edge also has a skip module and
adds ``beta * skip(x)`` while ``net.aux_skip_beta = beta`` is non-zero. ``skip`` is DARTS'
``skip_connect`` at the edge's stride, as both references build it: the identity on a stride-1 edge,
and on a stride-2 edge of a reduction cell its own FactorizedReduce (two 1x1 stride-2 convs,
``affine=False`` BN; Meituan-AutoML/DARTS- ``src/search/model_search.py::MixedOp``, and the papers' fork
``two_stage/DARTS-space/model_search.py::MixedOpMinus`` with ``OPS['skip_connect'](C // k, stride)``).
With partial channels it acts on the op part only (the first ``C // k`` channels), before the bypass
is concatenated and the channels shuffled, as in that fork (``temp1 += aux_skip(xtemp) * beta``).
Its weights are built after every other module, with the global RNG forked, so the rest of the
network and the RNG stream are those of the plain network; at ``beta = 0`` (scoring, selection, the
end of the decay) the skip is never run and the output is the plain network's, bit for bit.
While ``beta != 0`` every edge is present, an all-zero weight row included (the fork's ``CellMinus``
sums all of them).

Zero weights skip work, as in the papers' fork (``Cell.forward`` / ``MixedOp.forward``): an edge
whose weight row is all 0 is absent from its node's sum (always; with ``k > 1`` that also drops its
bypassed channels, exactly as the fork does), so 0/1 weights of a discrete cell (two non-zero rows
per node) run just that cell. Inside an edge, an op whose weight is exactly 0 is not run when the
weights do not require grad (a gradient w.r.t. a 0 weight needs the op's output; the value is the
same either way).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

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
    #: DARTS-'s auxiliary skip on every edge (its stride-2 FactorizedReduce weights); see the module doc
    aux_skip: bool = False

    def __post_init__(self) -> None:
        check_int("C", self.C, 2, 256)
        check_int("layers", self.layers, 3, 64)
        check_int("k", self.k, 1, 16)
        check_int("num_classes", self.num_classes, 1)
        check_int("stem_multiplier", self.stem_multiplier, 1, 8)
        if self.C % (2 * self.k):
            raise ValueError(f"C must be a multiple of 2*k (even channels through the ops), got C={self.C}, k={self.k}")
        if not isinstance(self.aux_skip, bool):
            raise ValueError(f"aux_skip must be True or False, got {self.aux_skip!r:.40}")


class MixedOp(nn.Module):
    """One edge: the weighted sum of its candidate ops over the first ``C // k`` channels."""

    def __init__(self, c: int, stride: int, op_names: Sequence[str], k: int):
        super().__init__()
        self.k, self.stride, self.c_op = k, stride, c // k
        self.ops = nn.ModuleList(make_op(name, self.c_op, stride, affine=False, pool_bn=True) for name in op_names)
        self.bypass = nn.MaxPool2d(2, 2) if k > 1 and stride == 2 else nn.Identity()
        #: DARTS-'s auxiliary skip on the op channels (None until :meth:`build_aux_skip`)
        self.aux_skip: nn.Module | None = None

    def build_aux_skip(self) -> None:
        """DARTS-'s auxiliary skip of this edge: ``skip_connect`` over the ``C // k`` op channels at the
        edge's stride (identity, or a FactorizedReduce with ``affine=False`` BN at stride 2)."""
        if self.aux_skip is None:
            self.aux_skip = make_op("skip_connect", self.c_op, self.stride, affine=False)

    def forward(self, x: torch.Tensor, w: torch.Tensor, hard: int | None = None, beta: float = 0.0) -> torch.Tensor:
        """``hard`` (GDAS): only op ``hard`` runs; the other ops add their scalar weight (0 under
        straight-through) so that their logits still get gradients (``forward_gdas``, protocol §2).
        ``beta`` (DARTS-): the op sum plus ``beta * aux_skip(x)`` on the op channels; 0 never runs it."""
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
        if beta:
            if self.aux_skip is None:
                raise RuntimeError("this edge has no auxiliary skip: build the network with aux_skip=True")
            aux = self.aux_skip(xa) * beta
            out = aux if out is None else out + aux
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
                hard: Sequence[int] | None = None, beta: float = 0.0) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        for node in range(2, 2 + STEPS):
            acc = None
            for j in range(node):
                e = NODE_ROWS[node][j]
                if not beta and not bool(w[e].any()):
                    continue  # edge absent from this (sub)cell; with DARTS-'s skip every edge is present
                out = self.edges[e](states[j], w[e], None if hard is None else int(hard[e]), beta)
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
        self._aux_skip_beta = 0.0
        if config.aux_skip:
            self.config = dataclasses.replace(config, aux_skip=False)
            self.add_aux_skip()

    @property
    def weight_shapes(self) -> dict[str, tuple[int, int]]:
        return self.space.weight_shapes

    def add_aux_skip(self) -> None:
        """Build DARTS-'s auxiliary skip on every edge (a no-op when built): its modules are created
        after all others, in the network's dtype and device, with the global CPU RNG forked, so every
        other weight and the RNG stream after this call are those of the plain network. Call it
        before making the optimiser (the Stage-1 loop does for ``darts-``)."""
        if self.config.aux_skip:
            return
        ref = next(self.parameters())
        old = torch.get_default_dtype()
        with torch.random.fork_rng(devices=[]):
            torch.set_default_dtype(ref.dtype)
            try:
                for cell in self.cells:
                    for edge in cell.edges:
                        edge.build_aux_skip()
                        edge.aux_skip.to(device=ref.device)
            finally:
                torch.set_default_dtype(old)
        self.config = dataclasses.replace(self.config, aux_skip=True)

    @property
    def aux_skip_beta(self) -> float:
        """DARTS-'s auxiliary-skip weight beta (0: no skip; set by ``darts-`` for one forward call)."""
        return self._aux_skip_beta

    @aux_skip_beta.setter
    def aux_skip_beta(self, beta: float) -> None:
        beta = float(beta)
        if beta and not self.config.aux_skip:  # refused rather than ignored: that would train plain DARTS
            raise RuntimeError(f"DARTS-'s auxiliary skip (beta={beta:g}) needs its modules: build the DARTS "
                               "search network with DartsSupernetConfig(aux_skip=True) or call add_aux_skip() "
                               "before making the optimiser (the Stage-1 loop does for darts-)")
        self._aux_skip_beta = beta

    def load_state_dict(self, state_dict: Mapping[str, Any], *args: Any, **kwargs: Any):
        """:meth:`nn.Module.load_state_dict`; weights of an auxiliary skip (a stored ``darts-``
        supernet) build the skip first, so the trained network loads back as it was trained."""
        if not self.config.aux_skip and any(".aux_skip." in k for k in state_dict):
            self.add_aux_skip()
        return super().load_state_dict(state_dict, *args, **kwargs)

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
        beta = self._aux_skip_beta
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, weights[cell.cell_type], None if hard is None else hard[cell.cell_type], beta)
        return self.classifier(self.global_pooling(s1).flatten(1))

    def weight_parameters(self) -> list[nn.Parameter]:
        """All network weights (architecture parameters live in the Stage-1 method, not here)."""
        return list(self.parameters())


def reduction_layers(layers: int) -> tuple[int, int]:
    """Indices of the two reduction cells: 1/3 and 2/3 of the depth (DARTS ``Network.__init__``)."""
    return layers // 3, 2 * layers // 3
