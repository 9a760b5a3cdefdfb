"""Search spaces. NAS-Bench-201 (NB201) cell space: 4 nodes, 6 edges, 5 ops, 5^6 = 15,625 archs.

An NB201 architecture is a 6-tuple of op indices, one per edge, in arch-string order
``1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2`` (``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``), with ops in the
order ``[none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3]`` (protocol conventions).

The *official NB201 index* (the row order of the benchmark table) is not an enumeration formula but
a property of the benchmark; :class:`supernetbench.spaces.nb201.benchmark.GroundTruth` provides it as
``gt.archs`` (an ``(15625, 6)`` array). Functions here act on arrays of archs in whatever order the
caller gives, so results come back in NB201 index order when given ``gt.archs``.

Two equivalence relations are computed here:

* :meth:`NB201Space.iso_string` - NB201's own isomorphism-canonical string (``UniqueString``,
  6,466 classes): ops on a path are composed, ``skip_connect`` passes its input through, sums are
  sorted, ``none`` contributes nothing.
* :meth:`NB201Space.functional_key` - equality of the *function* under shared supernet weights:
  an edge can be dropped (set to ``none``) when its input node is identically zero or its output
  never reaches the cell output (node 3). This holds whenever an op maps an all-zero input to zero,
  true for every op with batch-statistics or recalibrated BN; with eval-mode running statistics a
  ReLU-Conv-BN op maps 0 to ``-mean/std`` != 0, so only the reachability part holds
  (``zero_propagates=False``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar, Mapping, Sequence

import numpy as np

from ..base import SPACES, Arch, ArchStringError, SearchSpace
from ...harness.store import one_line

__all__ = ["Arch", "ArchStringError", "NB201Space", "softmax_rows"]


def softmax_rows(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, float64; ``-inf`` logits (probability 0) stay at probability 0."""
    z = np.asarray(logits, dtype=np.float64)
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


@SPACES.register("nb201")
@dataclass(frozen=True)
class NB201Space(SearchSpace):
    """The NAS-Bench-201 topology search space (Dong & Yang, ICLR 2020): one cell type ``cell``."""

    name: ClassVar[str] = "nb201"
    capabilities: ClassVar[frozenset[str]] = frozenset({"table", "enumerable", "functional_classes"})
    ground_truth: ClassVar[str | None] = "NB201 table: 200-epoch mean test accuracy of all 15,625 archs"
    scoring_engines: ClassVar[frozenset[str]] = frozenset({"prefix", "batched"})
    model_shape: ClassVar[tuple[str, ...]] = ("C", "N")  #: ``model_info``'s stem channels, cells per stage
    ops: ClassVar[tuple[str, ...]] = (
        "none",
        "skip_connect",
        "nor_conv_1x1",
        "nor_conv_3x3",
        "avg_pool_3x3",
    )
    #: The cell graph, the ONE description the supernet cell, the stand-alone cell, the batched
    #: scorer and the prefix scorer share (or are tested against): (to_node, from_node) per edge,
    #: in arch-string order; node ``i`` is the sum, in edge order, of its input edges; the cell
    #: output is the last node.
    EDGES: ClassVar[tuple[tuple[int, int], ...]] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
    num_nodes: ClassVar[int] = 4
    NONE: ClassVar[int] = 0
    SKIP: ClassVar[int] = 1

    def edges(self, cell_type: str = "cell") -> tuple[tuple[int, int], ...]:
        if cell_type != "cell":
            raise ValueError(f"NB201 has one cell type 'cell', not {cell_type!r:.40}")
        return self.EDGES

    def node_inputs(self, node: int) -> tuple[tuple[int, int], ...]:
        """``(edge index, from node)`` of every input edge of ``node``, in edge order (the node rule)."""
        return tuple((e, frm) for e, (to, frm) in enumerate(self.EDGES) if to == node)

    # ---------------------------------------------------------------- strings and codes
    _TOKEN = re.compile(r"([a-z_0-9]+)~([0-9]+)", re.ASCII)  # whole token, ASCII digits only

    def parse(self, s: str) -> Arch:
        """Parse ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` into a 6-tuple of op indices."""
        if not isinstance(s, str):
            raise ArchStringError(f"arch string must be str, got {type(s).__name__}")
        shown = one_line(repr(s), 120)  # a 10 kB string is not echoed back in full
        nodes = s.strip().split("+")
        if len(nodes) != self.num_nodes - 1:
            raise ArchStringError(
                f"malformed NB201 arch string {shown}: expected 3 '+'-separated nodes like "
                "'|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|avg_pool_3x3~2|'"
            )
        arch: list[int] = []
        for i, node in enumerate(nodes, start=1):
            if not (node.startswith("|") and node.endswith("|")):
                raise ArchStringError(f"malformed NB201 arch string {shown}: node {i} must be '|...|'")
            tokens = node[1:-1].split("|")
            if len(tokens) != i:
                raise ArchStringError(f"malformed NB201 arch string {shown}: node {i} needs {i} inputs, got {len(tokens)}")
            for j, tok in enumerate(tokens):
                m = self._TOKEN.fullmatch(tok)
                if not m or m.group(2) != str(j):
                    raise ArchStringError(
                        f"malformed NB201 arch string {shown}: token {one_line(repr(tok), 40)} should be 'op~{j}'")
                if m.group(1) not in self.ops:
                    raise ArchStringError(
                        f"unknown op {m.group(1)!r:.40} in arch string {shown}; valid ops: {', '.join(self.ops)}"
                    )
                arch.append(self.ops.index(m.group(1)))
        return tuple(arch)

    def format(self, arch: Arch) -> str:
        arch = self.validate(arch)
        it = iter(arch)
        nodes = ["|" + "|".join(f"{self.ops[next(it)]}~{j}" for j in range(i)) + "|" for i in range(1, 4)]
        return "+".join(nodes)

    def validate(self, arch: Sequence[int]) -> Arch:
        a = tuple(int(x) for x in arch)
        if len(a) != len(self.EDGES) or any(not 0 <= x < len(self.ops) for x in a):
            raise ArchStringError(f"an NB201 arch is 6 op indices in 0..4, got {one_line(repr(tuple(arch)), 80)}")
        return a

    def encode(self, archs: np.ndarray) -> np.ndarray:
        """Base-5 code of each arch (first edge most significant): a dense id in 0..15,624."""
        archs = np.asarray(archs, dtype=np.int64).reshape(-1, len(self.EDGES))
        weights = len(self.ops) ** np.arange(len(self.EDGES) - 1, -1, -1)
        return archs @ weights

    def all_archs(self) -> np.ndarray:
        """All 15,625 archs in base-5 code order (NOT the NB201 index order; see module doc)."""
        return super().all_archs()

    # ---------------------------------------------------------------- arch weights
    def one_hot(self, arch: Arch) -> dict[str, np.ndarray]:
        arch = self.validate(arch)
        w = np.zeros((len(self.EDGES), len(self.ops)))
        w[np.arange(len(self.EDGES)), arch] = 1.0
        return {"cell": w}

    def discretize(self, edge_probs: Mapping[str, np.ndarray]) -> Arch:
        """Per-edge argmax (DARTS' discretisation, protocol §5.6; first op on ties)."""
        p = self._check_probs(edge_probs)
        return tuple(int(i) for i in p.argmax(axis=1))

    def sample(self, edge_logits: Mapping[str, np.ndarray], n: int, rng: np.random.Generator) -> np.ndarray:
        """Edges independent, op ``o`` of edge ``e`` with probability ``softmax(logits[e])[o]``
        (protocol §4): ``(n, 6)`` int64, drawn edge by edge with ``rng.choice``."""
        logits = np.asarray(edge_logits["cell"], dtype=np.float64)
        if logits.shape != (len(self.EDGES), len(self.ops)) or np.isnan(logits).any() or np.isposinf(logits).any():
            raise ValueError(f"NB201 per-edge logits must be a (6, 5) array without NaN or +inf, got shape {logits.shape}")
        p = self._check_probs({"cell": softmax_rows(logits)})
        cols = [rng.choice(len(self.ops), size=n, p=p[e] / p[e].sum()) for e in range(len(self.EDGES))]
        return np.stack(cols, axis=1).astype(np.int64).reshape(n, len(self.EDGES))

    def random_arch(self, generator: "torch.Generator") -> Arch:
        """Every edge picks an op uniformly: uniform over all 5^6 archs (RSPS, protocol §3.2)."""
        import torch  # lazily: importing the space (reports, the CLI) must not load torch

        return tuple(int(i) for i in torch.randint(len(self.ops), (len(self.EDGES),), generator=generator))

    # ---------------------------------------------------------------- networks and ground truth
    def build_supernet(self, profile, num_classes: int, dtype: "torch.dtype | None" = None):
        """The NB201 supernet (protocol §1) at the profile's C and N, initialised in ``dtype``.

        Its edges have no partial channels (every NB201 run of the papers had k = 1, protocol §3.1):
        a profile with ``k != 1`` is refused, never run as k = 1."""
        from .supernet import SupernetConfig, build_supernet

        k = getattr(profile, "k", 1)
        if k != 1:
            raise ValueError(f"profile field k={k!r:.20}: the nb201 supernet has no partial channels (PC-DARTS "
                             "k is for the DARTS spaces, e.g. --space darts); use k=1")
        return build_supernet(SupernetConfig(C=profile.C, N=profile.N, num_classes=num_classes),
                              dtype if dtype is not None else profile.torch_dtype)

    def complexity(self, archs: np.ndarray, dataset: str) -> dict[str, np.ndarray]:
        """Params/FLOPs of the stand-alone networks, the size strata and the parameter-free-dominated
        flags (:mod:`~.complexity`)."""
        from . import complexity as CX

        return {"features": CX.arch_complexity(archs, dataset), "strata": CX.size_strata(archs),
                "parameter_free": CX.parameter_free_dominated(archs)}

    def scorer(self, engine: str, net, sd, cfg, precision: str = "exact"):
        """``batched``: :class:`~.batched.BatchedScorer` (many archs per op); ``prefix``:
        :class:`~.prefix.PrefixScorer` (shared first-cell work) in the BN modes it supports."""
        if engine == "batched":
            from .batched import BatchedScorer

            return BatchedScorer(net, sd, cfg, precision=precision).accuracy
        if engine == "prefix":
            from .prefix import PrefixScorer

            return PrefixScorer(net, sd, cfg).accuracy if cfg.bn_mode in PrefixScorer.MODES else None
        return super().scorer(engine, net, sd, cfg, precision)

    def network(self, arch, num_classes: int, **kwargs):
        """NB201's stand-alone network of ``arch`` (:class:`~.network.NB201Network`)."""
        from .network import NB201Network

        return NB201Network(arch, num_classes=num_classes, **kwargs)

    def model_info(self, arch: str, dataset: str, **shape) -> dict:
        """NB201's parameter and FLOP counts (:func:`~.network.model_info`)."""
        from .network import model_info

        return model_info(arch, dataset, **shape)

    def benchmark(self, dataset: str | None = None):
        """The NB201 table (:class:`~.benchmark.GroundTruth`, a ``TabularBenchmark``)."""
        from .benchmark import load_ground_truth

        return load_ground_truth()

    def arch_probs(self, archs: np.ndarray, probs: Mapping[str, np.ndarray]) -> np.ndarray:
        """P(arch) = prod_e p[e, op_e] for each row of ``archs`` (protocol §4, ``archprob``).

        Summed over all 15,625 archs this is exactly 1 when every edge row sums to 1.
        """
        p = self._check_probs(probs)
        archs = np.asarray(archs, dtype=np.int64)
        return np.prod(p[np.arange(len(self.EDGES)), archs], axis=1)

    def _check_probs(self, probs: Mapping[str, np.ndarray]) -> np.ndarray:
        p = np.asarray(probs["cell"], dtype=np.float64)
        if p.shape != (len(self.EDGES), len(self.ops)):
            raise ValueError(f"NB201 per-edge probabilities must have shape (6, 5), got {p.shape}")
        if not np.all(np.isfinite(p)) or np.any(p < 0):
            raise ValueError("per-edge probabilities must be finite and non-negative")
        return p

    # ---------------------------------------------------------------- equivalence relations
    def iso_string(self, arch: Arch) -> str:
        """NB201's isomorphism-canonical string (the ``UniqueString`` column of the table).

        Node 0 is ``"0"``; an edge contributes ``"#"`` for ``none``, the input string for
        ``skip_connect`` and ``"(input)@op"`` otherwise, except that an op on a
        node that is exactly ``"#"`` gives ``"#"`` (NB201 does not simplify ``"(#+#)@op"``); a node is the sorted ``+``-join of its
        incoming terms. Reproduces all 15,625 entries of the table (tested).
        """
        strs = ["0"]
        for i in range(1, self.num_nodes):
            terms = []
            for e, (to, frm) in enumerate(self.EDGES):
                if to != i:
                    continue
                op = arch[e]
                if op == self.NONE or strs[frm] == "#":
                    terms.append("#")
                elif op == self.SKIP:
                    terms.append(strs[frm])
                else:
                    terms.append(f"({strs[frm]})@{self.ops[op]}")
            strs.append("+".join(sorted(terms)))
        return strs[-1]

    def live_edges(self, arch: Arch, zero_propagates: bool = True) -> tuple[bool, ...]:
        """Which edges can change the cell output under shared weights."""
        arch = self.validate(arch)
        n = self.num_nodes
        nonzero = [True] + [False] * (n - 1)  # node value not identically zero
        for i in range(1, n):
            nonzero[i] = any(
                arch[e] != self.NONE and (nonzero[frm] or not zero_propagates)
                for e, (to, frm) in enumerate(self.EDGES)
                if to == i
            )
        reaches = [False] * (n - 1) + [True]  # node feeds the cell output
        for j in range(n - 2, -1, -1):
            reaches[j] = any(
                arch[e] != self.NONE and reaches[to] for e, (to, frm) in enumerate(self.EDGES) if frm == j
            )
        return tuple(
            arch[e] != self.NONE and reaches[to] and (nonzero[frm] or not zero_propagates)
            for e, (to, frm) in enumerate(self.EDGES)
        )

    def functional_key(self, arch: Arch, zero_propagates: bool = True) -> Arch:
        """Canonical representative of the shared-weight functional class of ``arch``.

        Irrelevant edges are set to ``none``; all archs whose cell output is identically zero map
        to the all-``none`` arch.
        """
        live = self.live_edges(arch, zero_propagates)
        return tuple(op if keep else self.NONE for op, keep in zip(arch, live))

    def is_zero_output(self, arch: Arch) -> bool:
        """True when the cell output is identically zero (no live path from input to output)."""
        return not any(self.live_edges(arch, zero_propagates=True))

    @cached_property
    def _lex_archs(self) -> np.ndarray:
        return self.all_archs()

    def info(self) -> dict[str, int]:
        """Counts: archs, isomorphism classes, shared-weight functional classes, zero-output archs."""
        archs = self._lex_archs
        tuples = [tuple(int(x) for x in a) for a in archs]
        iso = {self.iso_string(a) for a in tuples}
        labels, reps = self.functional_classes(archs)
        labels_running, reps_running = self.functional_classes(archs, zero_propagates=False)
        return {
            "archs": len(archs),
            "isomorphism_classes": len(iso),
            "functional_classes": len(reps),
            "functional_classes_running_bn": len(reps_running),
            "zero_output_archs": sum(self.is_zero_output(a) for a in tuples),
        }

