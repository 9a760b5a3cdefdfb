"""A toy second search space, registered only in tests: proof that generic code needs no NB201.

Two cell types (``normal``, ``reduce``), each a 3-node cell with 3 edges (1<-0, 2<-0, 2<-1) and 3 ops
(``skip``, ``conv``, ``pool``): an arch is 6 ints (normal edges, then reduce edges), 3^6 = 729 archs.
It declares ``enumerable`` only: no table (a1/a2, rank-linear, rsps-biased are skipped with their
reason), no functional classes (every arch is its own class), no topology. Arch strings look like
``normal:skip,conv,pool/reduce:conv,conv,skip``.
"""
from __future__ import annotations

from typing import ClassVar, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from supernetbench.spaces.base import SPACES, Arch, ArchStringError, SearchSpace

OPS = ("skip", "conv", "pool")
EDGES = ((1, 0), (2, 0), (2, 1))


class ToySpace(SearchSpace):
    name: ClassVar[str] = "toy"
    ops: ClassVar[tuple[str, ...]] = OPS
    cell_types: ClassVar[tuple[str, ...]] = ("normal", "reduce")
    capabilities: ClassVar[frozenset[str]] = frozenset({"enumerable"})

    def edges(self, cell_type: str) -> tuple[tuple[int, int], ...]:
        if cell_type not in self.cell_types:
            raise ValueError(f"toy space cell types are normal, reduce; not {cell_type!r:.40}")
        return EDGES

    def parse(self, s: str) -> Arch:
        if not isinstance(s, str):
            raise ArchStringError(f"arch string must be str, got {type(s).__name__}")
        parts = s.strip().split("/")
        if len(parts) != 2:
            raise ArchStringError(f"malformed toy arch string {s!r:.80}: expected 'normal:a,b,c/reduce:a,b,c'")
        arch: list[int] = []
        for part, cell in zip(parts, self.cell_types):
            name, _, ops = part.partition(":")
            names = ops.split(",")
            if name != cell or len(names) != len(EDGES) or any(o not in OPS for o in names):
                raise ArchStringError(f"malformed toy arch string {s!r:.80}: expected '{cell}:' and 3 of {', '.join(OPS)}")
            arch += [OPS.index(o) for o in names]
        return tuple(arch)

    def format(self, arch: Sequence[int]) -> str:
        a = self.validate(arch)
        return "/".join(f"{cell}:" + ",".join(OPS[o] for o in a[3 * i:3 * i + 3]) for i, cell in enumerate(self.cell_types))

    def discretize(self, edge_probs: Mapping[str, np.ndarray]) -> Arch:
        return tuple(int(o) for k in self.cell_types for o in np.asarray(edge_probs[k]).argmax(axis=1))

    def sample(self, edge_logits: Mapping[str, np.ndarray], n: int, rng: np.random.Generator) -> np.ndarray:
        cols = []
        for k in self.cell_types:
            z = np.asarray(edge_logits[k], dtype=np.float64)
            p = np.exp(z - z.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            cols += [rng.choice(len(OPS), size=n, p=p[e]) for e in range(len(EDGES))]
        return np.stack(cols, axis=1).astype(np.int64)

    def random_arch(self, generator: torch.Generator) -> Arch:
        return tuple(int(i) for i in torch.randint(len(OPS), (self.arch_length,), generator=generator))

    def build_supernet(self, profile, num_classes: int, dtype=None):
        old = torch.get_default_dtype()
        torch.set_default_dtype(dtype or profile.torch_dtype)
        try:
            return ToySupernet(profile.C, num_classes)
        finally:
            torch.set_default_dtype(old)


def _op(name: str, c: int) -> nn.Module:
    if name == "skip":
        return nn.Identity()
    if name == "conv":
        return nn.Sequential(nn.ReLU(), nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c, affine=False))
    return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)


class ToyCell(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.edges = nn.ModuleList(nn.ModuleList(_op(o, c) for o in OPS) for _ in EDGES)

    def forward(self, x, w, hard, arch, beta: float):
        nodes = [x]
        for i in (1, 2):
            acc = 0
            for e, (to, frm) in enumerate(EDGES):
                if to != i:
                    continue
                h = nodes[frm]
                if arch is not None:
                    out = self.edges[e][arch[e]](h)
                elif hard is not None:
                    k = int(hard[e])
                    out = self.edges[e][k](h) * w[e, k] + torch.cat([w[e, :k], w[e, k + 1:]]).sum()
                else:
                    out = sum(self.edges[e][o](h) * w[e, o] for o in range(len(OPS))
                              if w.requires_grad or float(w[e, o]) != 0.0)
                acc = acc + out + (beta * h if beta else 0)
            nodes.append(acc)
        return nodes[-1]


class ToySupernet(nn.Module):
    """stem -> normal cell -> 2x2 pool -> reduce cell -> head (BN-ReLU, global pool, linear)."""

    space = ToySpace()

    def __init__(self, c: int, num_classes: int):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        self.cells = nn.ModuleDict({"normal": ToyCell(c), "reduce": ToyCell(c)})
        self.head = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes))
        self.aux_skip_beta = 0.0

    def forward(self, x, weights=None, *, hard=None, arch=None):
        if (weights is None) == (arch is None):
            raise ValueError("pass exactly one of `weights` (mixture) or `arch` (single path)")
        if arch is not None:
            arch = self.space.validate(arch)
        for k, shape in self.space.weight_shapes.items():
            if weights is not None and tuple(weights[k].shape) != shape:
                raise ValueError(f"{k} weights must have shape {shape}, got {tuple(weights[k].shape)}")
        h = self.stem(x)
        for i, k in enumerate(self.space.cell_types):
            if i:
                h = nn.functional.avg_pool2d(h, 2)
            h = self.cells[k](h, None if weights is None else weights[k], None if hard is None else hard[k],
                              None if arch is None else arch[3 * i:3 * i + 3], self.aux_skip_beta)
        return self.head(h)


def register(monkeypatch) -> ToySpace:
    """Register ``toy`` in :data:`SPACES` for one test only (the registry is restored afterwards)."""
    ToySpace.name = "toy"
    monkeypatch.setitem(SPACES._items, "toy", ToySpace)
    return ToySpace()
