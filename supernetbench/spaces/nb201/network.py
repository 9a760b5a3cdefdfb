"""Standalone NB201 networks for one architecture, and NB201's parameter / FLOP counting.

:class:`NB201Network` is the network NAS-Bench-201 trains for one cell (AutoDL-Projects
``models/cell_infers/tiny_network.py::TinyNetwork`` with ``cells.py::InferCell``):

* stem 3x3 conv 3->C (no bias) + BN; 5 cells @C; ResNet block C->2C (stride 2); 5 cells @2C;
  ResNet block 2C->4C; 5 cells @4C; head BN -> ReLU -> global average pool -> Linear
  (all from :mod:`.ops`, shared with the supernet);
* a cell holds only the ops of the arch that are not ``none``; node ``i`` is the sum, in edge
  order, of its non-``none`` input edges; the cell output is node 3.
* A node whose input edges are all ``none``: NB201's ``InferCell`` keeps ``Zero`` modules for
  ``none`` edges (``str2structure`` keeps them), so such a node is a zero tensor of the input's
  shape, and the ops reading it still run on that zero tensor (their BNs see it, and NB201's FLOP
  counter counts them). We reproduce that: the node becomes ``input.mul(0)`` and downstream ops
  run on it. Parameters and FLOPs are therefore those of every non-``none`` edge, whether or not
  it lies on a path from the cell input to the cell output.

Differences from NB201's class, all deliberate:

* ``forward`` returns the logits only (NB201's returns ``(pooled_features, logits)``), like
  :class:`~.supernet.NB201Supernet`.
* Conv bias. The 2019 ``lib/models/cell_operations.py::ReLUConvBN`` uses ``bias=False``; the later
  ``xautodl/models/cell_operations.py`` uses ``bias=not affine``. Both give **no bias** for NB201's
  benchmark networks (cell ops ``affine=True``; the ResNet blocks are always ``affine=True``), so
  parameter counts agree either way. ``conv_bias=None`` (default) follows the xautodl rule for the
  cell ops (bias iff ``not affine``); the supernet never has conv biases (protocol §1), so
  :func:`from_supernet` builds ``affine=False, conv_bias=False``.

Counting (:func:`count_params`, :func:`params_mb`, :func:`count_flops`) follows NB201's
``utils/flop_benchmark.py::get_model_infos`` (AutoDL-Projects ``lib/utils/flop_benchmark.py``,
the version that produced the benchmark files):

* params: every ``nn.Parameter`` (BN running buffers excluded), in MB = count / 1e6. (A later
  xautodl revision divides by 2**20; the published NB201/NATS-Bench numbers use 1e6, e.g.
  0.802426 for ``|skip_connect~0|+|none~0|nor_conv_3x3~1|+|avg_pool_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|``
  = 802,426 parameters.)
* FLOPs: forward hooks on ``Conv2d`` / ``Conv1d`` / ``Linear`` only, multiply-adds counted once:
  conv = k_h*k_w*C_in*C_out/groups * H_out*W_out (+ C_out*H_out*W_out with a bias), linear =
  in*out (+ out with a bias). Pooling (NB201 attaches a pooling hook but leaves pooling out of the
  sum), BN, ReLU and additions are **not** counted. Per image (divided by the batch size), in
  MFLOPs = /1e6, input ``1x3x32x32`` (CIFAR) or ``1x3x16x16`` (ImageNet16-120). This reproduces
  the published values exactly, e.g. NB201 arch index 0 = 15.64737 (CIFAR-10), 15.65322
  (CIFAR-100), 3.91948 (ImageNet16-120).
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from ...harness.checks import check_network_shape
from ...harness.data import IMAGE_SIZE, NUM_CLASSES
from .ops import ReLUConvBN, ResNetBasicBlock, layer_plan, make_op, stem
from .space import Arch, NB201Space

__all__ = [
    "InferCell",
    "NB201Network",
    "from_supernet",
    "count_params",
    "params_mb",
    "count_flops",
    "model_info",
    "resolve_dataset",
]

_SPACE = NB201Space()


def _as_arch(arch: str | Sequence[int]) -> Arch:
    """An arch string or a 6-tuple of op indices -> validated 6-tuple (ArchStringError otherwise)."""
    if isinstance(arch, str):
        return _SPACE.parse(arch)
    return _SPACE.validate(arch)


def _cell_op(name: str, c: int, affine: bool, track: bool, conv_bias: bool) -> nn.Module:
    op = make_op(name, c, affine, track)
    if conv_bias and isinstance(op, ReLUConvBN):
        old = op[1]
        op[1] = nn.Conv2d(
            old.in_channels, old.out_channels, old.kernel_size, stride=old.stride, padding=old.padding, bias=True
        )
    return op


class InferCell(nn.Module):
    """One NB201 cell for a fixed arch: only the non-``none`` ops exist (in edge order)."""

    def __init__(self, arch: Sequence[int], c: int, affine: bool = True, track: bool = True, conv_bias: bool = False):
        super().__init__()
        self.arch = _as_arch(arch)
        self.channels = c
        #: indices (into ``NB201Space.EDGES``) of the edges that hold an op, in edge order
        self.edge_ids: tuple[int, ...] = tuple(e for e, o in enumerate(self.arch) if o != _SPACE.NONE)
        self.layers = nn.ModuleList(
            _cell_op(_SPACE.ops[self.arch[e]], c, affine, track, conv_bias) for e in self.edge_ids
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        slot = {e: k for k, e in enumerate(self.edge_ids)}
        for i in range(1, _SPACE.num_nodes):
            acc = None
            for e, frm in _SPACE.node_inputs(i):
                if e not in slot:
                    continue
                out = self.layers[slot[e]](nodes[frm])
                acc = out if acc is None else acc + out
            if acc is None:  # every input edge is `none`: NB201's Zero ops give input * 0
                frm = _SPACE.node_inputs(i)[0][1]
                acc = nodes[frm].mul(0.0)
            nodes.append(acc)
        return nodes[-1]

    def extra_repr(self) -> str:
        return f"C={self.channels}, arch={_SPACE.format(self.arch)}"


class NB201Network(nn.Module):
    """The stand-alone NB201 network of one architecture (NB201's ``TinyNetwork`` + ``InferCell``).

    ``arch``: an NB201 arch string or a 6-tuple of op indices (edge order ``1<-0, 2<-0, 2<-1,
    3<-0, 3<-1, 3<-2``; ops ``none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3``).
    ``affine`` / ``track_running_stats`` apply to the cell ops' BNs (NB201 benchmark: True/True;
    the supernet: False/True); the stem, ResNet blocks and head BN are always affine and tracked.
    ``conv_bias``: bias on the cell ops' convs; ``None`` = NB201 (xautodl) rule ``not affine``.
    """

    space = _SPACE

    def __init__(
        self,
        arch: str | Sequence[int],
        C: int = 16,
        N: int = 5,
        num_classes: int = 10,
        affine: bool = True,
        track_running_stats: bool = True,
        conv_bias: bool | None = None,
    ):
        super().__init__()
        self.arch: Arch = _as_arch(arch)
        check_network_shape(C, N)  # before any allocation: --C 100000 would ask for hundreds of GB
        if conv_bias is None:
            conv_bias = not affine
        self.C, self.N, self.num_classes = int(C), int(N), int(num_classes)
        self.affine, self.track_running_stats, self.conv_bias = bool(affine), bool(track_running_stats), bool(conv_bias)
        self.stem = stem(self.C)
        self.cells = nn.ModuleList()
        c_prev = self.C
        for c_cur, reduction in layer_plan(self.C, self.N):
            if reduction:
                self.cells.append(ResNetBasicBlock(c_prev, c_cur, 2))
            else:
                self.cells.append(InferCell(self.arch, c_cur, self.affine, self.track_running_stats, self.conv_bias))
            c_prev = c_cur
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, self.num_classes)

    @property
    def arch_string(self) -> str:
        return self.space.format(self.arch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        for cell in self.cells:
            h = cell(h)
        h = self.global_pooling(self.lastact(h)).flatten(1)
        return self.classifier(h)

    def extra_repr(self) -> str:
        return (
            f"arch={self.arch_string}, C={self.C}, N={self.N}, num_classes={self.num_classes}, "
            f"affine={self.affine}, track_running_stats={self.track_running_stats}, conv_bias={self.conv_bias}"
        )

    # ------------------------------------------------------------------ weight sharing
    def copy_from_supernet(self, supernet: nn.Module) -> "NB201Network":
        """Copy the supernet's weights (and BN buffers) of this arch's ops into this network.

        Valid only when this network has the supernet's shape and cell-BN settings and no conv
        bias; then ``self(x)`` equals ``supernet(x, arch=self.arch)`` (with ``aux_skip_beta`` 0),
        in train mode and, since running statistics are copied too, in eval mode.
        """
        cfg = getattr(supernet, "config", None)
        if cfg is None or not hasattr(supernet, "layers"):
            raise TypeError(f"expected an NB201Supernet, got {type(supernet).__name__}")
        mine = (self.C, self.N, self.num_classes, self.affine, self.track_running_stats)
        theirs = (cfg.C, cfg.N, cfg.num_classes, cfg.affine, cfg.track_running_stats)
        if mine != theirs or self.conv_bias:
            raise ValueError(
                "network is incompatible with the supernet: (C, N, num_classes, affine, track_running_stats) "
                f"= {mine} vs supernet {theirs}, conv_bias={self.conv_bias} (supernet convs have no bias); "
                "build it with from_supernet() or NB201Network(..., affine=cfg.affine, conv_bias=False)"
            )
        if len(supernet.layers) != len(self.cells):
            raise ValueError(f"supernet has {len(supernet.layers)} layers, network has {len(self.cells)}")
        self.stem.load_state_dict(supernet.stem.state_dict())
        for mine_l, theirs_l in zip(self.cells, supernet.layers):
            if isinstance(mine_l, InferCell):
                for k, e in enumerate(mine_l.edge_ids):
                    mine_l.layers[k].load_state_dict(theirs_l.edges[e][self.arch[e]].state_dict())
            else:
                mine_l.load_state_dict(theirs_l.state_dict())
        self.lastact.load_state_dict(supernet.lastact.state_dict())
        self.classifier.load_state_dict(supernet.classifier.state_dict())
        return self


def from_supernet(supernet: nn.Module, arch: str | Sequence[int]) -> NB201Network:
    """A stand-alone network for ``arch`` holding copies of the supernet's shared weights.

    Built with the supernet's shape and cell-BN settings (``affine=False`` by default) and no conv
    bias, on the supernet's device and dtype, in the supernet's train/eval mode.
    """
    cfg = supernet.config
    net = NB201Network(
        arch,
        C=cfg.C,
        N=cfg.N,
        num_classes=cfg.num_classes,
        affine=cfg.affine,
        track_running_stats=cfg.track_running_stats,
        conv_bias=False,
    )
    p = next(supernet.parameters())
    net.to(device=p.device, dtype=p.dtype)
    net.copy_from_supernet(supernet)
    net.train(supernet.training)
    return net


# ---------------------------------------------------------------------------------- counting
def count_params(net: nn.Module) -> int:
    """Number of parameters (BN running buffers are not parameters), as NB201 counts them."""
    return int(sum(p.numel() for p in net.parameters()))


def params_mb(net: nn.Module) -> float:
    """Parameters in NB201's "MB": count / 1e6."""
    return count_params(net) / 1e6


def count_flops(
    net: nn.Module,
    input_shape: Sequence[int] = (1, 3, 32, 32),
    forward_kwargs: Mapping[str, Any] | None = None,
) -> float:
    """MFLOPs per image under NB201's ``get_model_infos`` convention (see module docstring).

    Runs one forward pass in eval mode under ``no_grad`` (so BN running statistics are untouched),
    then restores the train/eval mode. The input is all zeros (the count does not depend on values;
    NB201 used ``torch.rand``, which would consume the global RNG).
    """
    if len(input_shape) != 4 or input_shape[0] < 1:
        raise ValueError(f"input_shape must be (batch>=1, channels, H, W), got {tuple(input_shape)}")
    total = [0]

    def conv_hook(m: nn.Module, inputs, output) -> None:
        spatial = math.prod(output.shape[2:])
        per_pos = math.prod(m.kernel_size) * m.in_channels * m.out_channels // m.groups
        flops = per_pos * spatial * output.shape[0]
        if m.bias is not None:
            flops += m.out_channels * spatial * output.shape[0]
        total[0] += flops

    def linear_hook(m: nn.Linear, inputs, output) -> None:
        rows = inputs[0].numel() // m.in_features
        flops = rows * m.in_features * m.out_features
        if m.bias is not None:
            flops += rows * m.out_features
        total[0] += flops

    handles = []
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv1d)):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    was_training = net.training
    p = next(net.parameters(), None)
    x = torch.zeros(*input_shape, device=p.device if p is not None else None, dtype=p.dtype if p is not None else None)
    try:
        net.eval()
        with torch.no_grad():
            net(x, **(forward_kwargs or {}))
    finally:
        for h in handles:
            h.remove()
        net.train(was_training)
    return total[0] / input_shape[0] / 1e6


# ---------------------------------------------------------------------------------- model info
_DATASET_ALIASES = {"cifar10-valid": "cifar10", "imagenet16": "imagenet16-120", "imagenet": "imagenet16-120"}


def resolve_dataset(dataset: str) -> str:
    """Canonical dataset name (``cifar10``, ``cifar100``, ``imagenet16-120``); NB201 spellings accepted."""
    key = str(dataset).strip().lower()
    key = _DATASET_ALIASES.get(key, key)
    if key not in NUM_CLASSES:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {', '.join(NUM_CLASSES)}")
    return key


def model_info(arch_string: str, dataset: str = "cifar10", C: int = 16, N: int = 5) -> dict[str, Any]:
    """Parameters and FLOPs of the NB201 benchmark network of ``arch_string`` on ``dataset``.

    Raises :class:`~.space.ArchStringError` for a malformed arch string, ``ValueError`` for an
    unknown dataset. The network is NB201's (cell BNs affine, no conv bias).
    """
    arch = _SPACE.parse(arch_string)
    ds = resolve_dataset(dataset)
    num_classes, size = NUM_CLASSES[ds], IMAGE_SIZE[ds]
    net = NB201Network(arch, C=C, N=N, num_classes=num_classes)
    shape = (1, 3, size, size)
    n = count_params(net)
    return {
        "arch": _SPACE.format(arch),
        "dataset": ds,
        "num_classes": num_classes,
        "input_size": size,
        "input_shape": list(shape),
        "C": C,
        "N": N,
        "params": n,
        "params_mb": n / 1e6,
        "flops_m": count_flops(net, shape),
    }
