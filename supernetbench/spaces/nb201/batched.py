"""Batched multi-arch scoring: many single-path forwards of one supernet in one pass (the GPU engine).

A chunk of archs is evaluated together. Every node value is held as a stack of *unique* tensors
plus, per arch, the row it uses, so work shared by archs is done once: in the first cell all archs
read the same stem output, so an edge leaving node 0 runs each op once, and an edge whose op and
input row coincide for several archs runs once for all of them (the prefix sharing of
:class:`~supernetbench.spaces.nb201.prefix.PrefixScorer`, in every cell). Per edge, the archs are
grouped by op and each op runs once on the stacked rows: one large convolution with the shared
weights instead of one small call per arch (what fills a GPU; on CPU, stacking costs more per arch
than separate calls, see ``benchmarks/README.md``). A node's ReLU is computed once per cell and shared
by every conv op on every edge leaving it (ReLU and the row gather commute exactly), instead of once
per (edge, op) on a gathered copy: fewer passes over memory, which bounds this engine on a GPU.

BatchNorm stays per arch (protocol P1) in every mode:

* ``batch`` - each row is normalised with the statistics of its own images, never over the stack:
  activations are laid out (B, rows, C, H, W), so one train-mode BN call on the (B, rows*C, H, W)
  view has per-(row, channel) statistics over batch and space, exactly the per-arch BN;
* ``running`` - the shared running buffers (an elementwise map: stacking changes nothing);
* ``recalibrate`` - the per-arch cumulative average of batch statistics over the recalibration
  batches (``momentum=None``: mean of batch means, mean of unbiased batch variances), then eval.

``none`` is never computed (it adds nothing); ``skip_connect`` reuses its input row. Node sums run
in the cell's edge order, as in :class:`~supernetbench.spaces.nb201.supernet.SearchCell`. The result is
the per-arch path's correct-prediction count (tested against
:func:`~supernetbench.oneshot.scoring.score_archs` on random supernets and arch subsets); logits can
differ from it in the last bits (the per-arch BN reduction is a different kernel).

``precision="bf16"`` runs the stacked forward under bf16 autocast (never the default; its agreement
with ``exact`` is measured by :func:`supernetbench.harness.metrics.precision_agreement`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .ops import ReLUConvBN, ResNetBasicBlock, Zero
from ...harness.precision import check_precision, precision_context
from .supernet import NB201Supernet, SearchCell



@dataclass
class Rows:
    """A node value for a chunk of archs: unique tensors ``values`` laid out (B, rows, C, H, W) - images
    first, so that one BatchNorm call over the (B, rows*C, H, W) view normalises every row with its own
    statistics - and, per arch, the row it uses (``idx``)."""

    values: torch.Tensor
    idx: np.ndarray


class _BNState:
    """How BN layers normalise during one batched forward (see the module docstring). Each BN layer is
    called at most once per forward, on the rows of that call (the same rows in every pass over a chunk)."""

    def __init__(self, mode: str):
        self.mode = mode  # batch | running | collect | apply
        self.buffers: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # id(bn) -> per-row running stats
        self.batches = 0  # recalibration batches seen (collect)

    def __call__(self, bn: nn.BatchNorm2d, x: torch.Tensor) -> torch.Tensor:
        """``x``: (B, rows, C, H, W) -> the same shape, normalised per row."""
        b, r, c, h, w = x.shape
        weight = bias = None
        if bn.weight is not None:
            weight, bias = bn.weight.repeat(r), bn.bias.repeat(r)
        if self.mode == "running":  # shared buffers: an elementwise map, rows need no separation
            y = F.batch_norm(x.reshape(b * r, c, h, w), bn.running_mean, bn.running_var, bn.weight, bn.bias,
                             False, 0.0, bn.eps)
            return y.view(b, r, c, h, w)
        flat = x.reshape(b, r * c, h, w)
        if self.mode == "batch":
            y = F.batch_norm(flat, None, None, weight, bias, True, 0.0, bn.eps)
        elif self.mode == "collect":  # train-mode BN whose buffers are the cumulative average (momentum=None)
            acc = torch.promote_types(x.dtype, torch.float32)
            mean, var = self.buffers.setdefault(id(bn), (torch.zeros(r * c, dtype=acc, device=x.device),
                                                         torch.ones(r * c, dtype=acc, device=x.device)))
            y = F.batch_norm(flat, mean, var, weight, bias, True, 1.0 / self.batches, bn.eps)
        else:  # apply: eval mode with the per-row recalibrated statistics
            mean, var = self.buffers[id(bn)]
            y = F.batch_norm(flat, mean, var, weight, bias, False, 0.0, bn.eps)
        return y.view(b, r, c, h, w)


def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])


def _conv_bn(mod: nn.Sequential, x: torch.Tensor, bn_state: _BNState, relu_done: bool = False) -> torch.Tensor:
    """ReLU -> Conv -> per-row BN on (B, rows, C, H, W); ``relu_done``: ``x`` is already rectified."""
    conv, bn = mod[1], mod[2]
    y = conv(_flat(x) if relu_done else F.relu(_flat(x)))
    return bn_state(bn, y.view(*x.shape[:2], *y.shape[1:]))


class _Relu:
    """ReLU of a node's unique rows, computed at most once per node (shared by every conv op on every
    edge that leaves the node) instead of once per (edge, op): relu and the row gather commute
    exactly, so gathering rows of the rectified node gives the per-op path's bits.

    Sharing pays only when the conv ops reading the node would rectify more rows than it holds
    (per op: gather + relu = 4 passes over its rows; shared: 2 over the node + 2 per op's gather),
    so ``_cell`` shares where that row count exceeds the node's (always for the stem output)."""

    def __init__(self, values: torch.Tensor):
        self.values, self._relu = values, None

    def __call__(self) -> torch.Tensor:
        if self._relu is None:
            self._relu = F.relu(self.values)
        return self._relu


def _apply_op(op: nn.Module, src: Rows, rows: np.ndarray, bn_state: _BNState, relu: _Relu | None) -> torch.Tensor:
    """``op`` on rows ``rows`` of ``src`` (the (B, rows, C, H, W) stack of their outputs)."""
    if isinstance(op, ReLUConvBN):
        if relu is not None:
            return _conv_bn(op, _rows(relu(), rows), bn_state, relu_done=True)
        return _conv_bn(op, _rows(src.values, rows), bn_state)
    if isinstance(op, nn.AvgPool2d):
        x = _rows(src.values, rows)
        y = op(_flat(x))
        return y.view(*x.shape[:2], *y.shape[1:])
    raise TypeError(f"batched scoring does not know the op {type(op).__name__}")


def _cell(cell: SearchCell, x: Rows, archs: np.ndarray, bn_state: _BNState, share_relu: bool = True) -> Rows:
    """One search cell for every arch of the chunk, each distinct (op, input row) computed once, and
    (``share_relu``) each node's ReLU once for all the conv ops that read it."""
    space = cell.space
    nodes = [x]
    relus = [_shared_relu(cell, x, 0, archs)] if share_relu else None
    for i in range(1, space.num_nodes):
        terms = []  # per incoming edge: (value tensors by op, per-arch op, per-arch row in that tensor)
        for e, frm in space.node_inputs(i):
            src = nodes[frm]
            ops = archs[:, e]
            tensors: dict[int, torch.Tensor] = {}
            pos = np.full(len(archs), -1)
            for o in np.unique(ops):
                sel = ops == o
                module = cell.edges[e][o]
                if isinstance(module, Zero):
                    continue
                if isinstance(module, nn.Identity):
                    tensors[o], pos[sel] = src.values, src.idx[sel]
                    continue
                rows, inv = np.unique(src.idx[sel], return_inverse=True)
                tensors[o] = _apply_op(module, src, rows, bn_state, relus[frm] if relus is not None else None)
                pos[sel] = inv.reshape(-1)
            terms.append((tensors, ops, pos))
        nodes.append(_sum_terms(terms, x.values))
        if relus is not None:
            relus.append(_shared_relu(cell, nodes[-1], i, archs))
    return nodes[-1]


def _shared_relu(cell: SearchCell, node: Rows, j: int, archs: np.ndarray) -> _Relu | None:
    """A shared ReLU for node ``j`` when its conv readers would rectify more rows than it holds."""
    need = 0
    for e, (_, frm) in enumerate(cell.space.EDGES):
        if frm != j:
            continue
        for o in np.unique(archs[:, e]):
            if isinstance(cell.edges[e][o], ReLUConvBN):
                need += len(np.unique(node.idx[archs[:, e] == o]))
    return _Relu(node.values) if need > node.values.shape[1] else None


def _rows(values: torch.Tensor, rows: np.ndarray) -> torch.Tensor:
    if len(rows) == values.shape[1] and np.array_equal(rows, np.arange(len(rows))):
        return values
    return values.index_select(1, torch.as_tensor(rows, device=values.device))


def _sum_terms(terms, like: torch.Tensor) -> Rows:
    """Node = left-fold sum of its incoming edges' outputs per arch, each distinct sum once. A row's
    first non-``none`` term is copied in (``index_copy_``), the later ones added in edge order: the
    per-arch fold's values (its ``none`` terms are zeros, and 0 + a == a exactly) without a zero-filled
    buffer to read and write; rows with no term at all are zero-filled at the end."""
    n = len(terms[0][1])
    key = np.stack([np.where(pos >= 0, ops * (1 << 20) + pos, -1) for _, ops, pos in terms], axis=1)
    uniq, first, idx = np.unique(key, axis=0, return_index=True, return_inverse=True)
    acc = None
    written = np.zeros(len(uniq), dtype=bool)
    for tensors, ops, pos in terms:
        for o, values in tensors.items():
            members = np.flatnonzero(ops[first] == o)
            if len(members) == 0:
                continue
            if acc is None:
                acc = torch.empty((values.shape[0], len(uniq), *values.shape[2:]), dtype=values.dtype,
                                  device=values.device)
            new = ~written[members]
            for sel, put in ((members[new], acc.index_copy_), (members[~new], acc.index_add_)):
                if len(sel):
                    put(1, torch.as_tensor(sel, device=values.device), _rows(values, pos[first[sel]]))
            written[members] = True
    if acc is None:  # every incoming edge is `none` for every arch
        acc = torch.zeros((like.shape[0], 1, *like.shape[2:]), dtype=like.dtype, device=like.device)
        return Rows(acc, np.zeros(n, dtype=np.int64))
    if not written.all():
        acc.index_fill_(1, torch.as_tensor(np.flatnonzero(~written), device=acc.device), 0.0)
    return Rows(acc, idx.reshape(-1))


def _block(block: ResNetBasicBlock, x: Rows, bn_state: _BNState) -> Rows:
    v = x.values
    out = _conv_bn(block.conv_b, _conv_bn(block.conv_a, v, bn_state), bn_state)
    pool, conv = block.downsample
    short = conv(pool(_flat(v)))
    return Rows(out + short.view(out.shape), x.idx)


def batched_logits(net: NB201Supernet, x0: torch.Tensor, archs: np.ndarray, bn_state: _BNState,
                   share_relu: bool = True) -> tuple[torch.Tensor, np.ndarray]:
    """Logits (B, rows, classes) and the row of each arch, from the stem output ``x0`` (B, C, H, W)."""
    h = Rows(x0.unsqueeze(1), np.zeros(len(archs), dtype=np.int64))
    for layer in net.layers:
        if isinstance(layer, SearchCell):
            h = _cell(layer, h, archs, bn_state, share_relu)
        else:
            h = _block(layer, h, bn_state)
    v = F.relu(bn_state(net.lastact[0], h.values))
    pooled = v.mean(dim=(3, 4))
    return net.classifier(pooled), h.idx


class BatchedScorer:
    """Correct-prediction counts of chunks of archs (rows of op indices), stacked per op.

    ``chunk``: archs per forward (None: sized to free GPU memory, 64 on CPU). ``share_relu``: each
    node's ReLU once per cell for all conv ops reading it (default; ``False``: one ReLU per edge and op, as
    the first version did, kept to measure the difference - both give identical bits, tested).
    """

    def __init__(self, net: NB201Supernet, sd, cfg, *, precision: str = "exact", chunk: int | None = None,
                 share_relu: bool = True):
        self.device = next(net.parameters()).device
        check_precision(precision, self.device)
        self.net, self.cfg, self.precision, self.share_relu = net, cfg, precision, share_relu
        bs = cfg.batch_size
        self.batches = [(sd.x[i : i + bs], sd.y[i : i + bs]) for i in range(0, len(sd.y), bs)]
        self.recal = sd.recal
        self.n_images = len(sd.y)
        self.chunk = chunk or self._auto_chunk()

    def _auto_chunk(self) -> int:
        """Archs per forward: ~40% of free GPU memory over an estimate of the live activations
        (about 12 node-sized tensors per arch and image at the widest stage, 15 when the rectified
        nodes of a cell are kept for sharing)."""
        if self.device.type != "cuda":
            return 64
        free, _ = torch.cuda.mem_get_info(self.device)
        x = self.batches[0][0]
        per_arch = (15 if self.share_relu else 12) * len(x) * self.net.config.C * x.shape[-1] * x.shape[-2] * x.element_size()
        return int(max(1, min(1024, 0.4 * free // per_arch)))

    def _bn_mode(self) -> str:
        return "running" if self.cfg.bn_mode == "running" else "batch"

    @torch.no_grad()
    def correct(self, archs: np.ndarray) -> np.ndarray:
        """Correct predictions of each arch (row) over all scoring images."""
        archs = np.asarray(archs, dtype=np.int64).reshape(-1, 6)
        out = np.zeros(len(archs), dtype=np.int64)
        for s in range(0, len(archs), self.chunk):
            out[s : s + self.chunk] = self._chunk(archs[s : s + self.chunk])
        return out

    def accuracy(self, archs: np.ndarray) -> np.ndarray:
        return 100.0 * self.correct(archs) / self.n_images

    def _chunk(self, archs: np.ndarray) -> np.ndarray:
        net = self.net
        state = _BNState(self._bn_mode())
        with precision_context(self.precision, self.device):
            if self.cfg.bn_mode == "recalibrate":
                state.mode = "collect"
                for xb in self.recal:
                    state.batches += 1
                    batched_logits(net, _stem(net, xb, state), archs, state, self.share_relu)
                state.mode = "apply"
            correct = torch.zeros(len(archs), dtype=torch.int64, device=self.device)
            for x, y in self.batches:
                logits, idx = batched_logits(net, _stem(net, x, state), archs, state, self.share_relu)
                hits = (logits.argmax(-1) == y.unsqueeze(1)).sum(0)
                correct += hits[torch.as_tensor(idx, device=self.device)]
        return correct.cpu().numpy()


def _stem(net: NB201Supernet, x: torch.Tensor, state: _BNState) -> torch.Tensor:
    conv, bn = net.stem
    return state(bn, conv(x).unsqueeze(1)).squeeze(1)
