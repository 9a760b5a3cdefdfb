"""The DARTS cell search space and the RobustDARTS spaces S1-S4 (protocol §8, §9).

A cell has two input nodes (0: the output of the cell two back, 1: of the previous cell), four
intermediate nodes 2..5 and an output that concatenates nodes 2..5. Node ``i`` may read any node
``j < i``: 2 + 3 + 4 + 5 = 14 edges, in DARTS' order (``model_search.py::Cell``): ``2<-0, 2<-1,
3<-0, 3<-1, 3<-2, 4<-0, ..., 5<-4``. A discrete cell keeps exactly two distinct in-edges per
intermediate node, each with one op. Normal and reduction cells have their own weights
(``{"normal": (14, n_ops), "reduce": (14, n_ops)}``).

**Architecture encoding** (architecture.md: NASLib's compact genotype): 32 ints, the normal cell
then the reduction cell; per cell the nodes 2..5; per node its two ``(input, op)`` pairs, in the
order of the genotype (so published genotype strings round-trip exactly; :meth:`canonical` sorts
each node's pairs by input for deduplication). **The op is an index into that edge's candidate
list** (row ``edge`` of the weight matrix), not into a global op list: for ``darts`` both agree,
for S1 (different candidates per edge) this is what the weight matrices and the supernet index.

Ops: ``darts`` = the 7 ops of the papers' code (``none`` excluded); S1-S4 = RobustDARTS (Zela et
al., ICLR 2020, Sec. 3; per-edge lists read from ruocwang/darts-pt ``sota/cnn/spaces.py``).
``none`` (a candidate in S3 only) is never part of a discrete cell: :meth:`discretize`,
:meth:`sample` and :meth:`random_arch` skip it, as DARTS' genotype rule does.
"""
from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Any, ClassVar, Mapping, Sequence

import numpy as np

from supernetbench.harness.store import one_line
from supernetbench.spaces.base import SPACES, ArchStringError, ProjectionPlan, SearchSpace

if TYPE_CHECKING:  # torch is imported where it is used: registering the spaces must not load it
    import torch

Arch = tuple[int, ...]
#: The 7 ops of the papers' DARTS space (``genotypes.PRIMITIVES`` with ``none`` commented out).
DARTS_OPS: tuple[str, ...] = (
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
#: Every op name a DARTS-cell space may list: the DARTS ops, ``none`` (RobustDARTS S3), ``noise`` (S4).
ALL_OPS: tuple[str, ...] = DARTS_OPS + ("none", "noise")
CELL_TYPES: tuple[str, ...] = ("normal", "reduce")
STEPS = 4  #: intermediate nodes per cell
CONCAT: tuple[int, ...] = (2, 3, 4, 5)
#: (to, from) of each of the 14 edges, in DARTS' alpha-row order.
EDGES: tuple[tuple[int, int], ...] = tuple((i, j) for i in range(2, 2 + STEPS) for j in range(i))
#: alpha rows of the in-edges of each intermediate node (row of edge ``i<-j`` = NODE_ROWS[i][j]).
NODE_ROWS: dict[int, tuple[int, ...]] = {
    i: tuple(e for e, (to, _) in enumerate(EDGES) if to == i) for i in range(2, 2 + STEPS)
}
ARCH_LEN = len(CELL_TYPES) * STEPS * 2 * 2  #: 32
MAX_STRING = 4000  #: longer genotype strings are refused before parsing


class GenotypeError(ArchStringError):
    """A malformed or invalid DARTS genotype (string or int tuple)."""


def _s1() -> dict[str, tuple[tuple[str, ...], ...]]:
    """RobustDARTS S1: two candidates per edge, per cell type (darts-pt ``primitives_1``)."""
    sk, mp, ap = "skip_connect", "max_pool_3x3", "avg_pool_3x3"
    d3, d5, s3 = "dil_conv_3x3", "dil_conv_5x5", "sep_conv_3x3"
    normal = ((sk, d3), (sk, d5), (sk, d5), (sk, s3), (sk, d3), (mp, sk), (sk, s3), (sk, s3), (sk, d3),
              (sk, s3), (mp, sk), (sk, d3), (d3, d5), (d3, d5))
    reduce = ((mp, ap), (mp, d3), (mp, ap), (mp, ap), (sk, d5), (mp, ap), (mp, s3), (sk, d3), (sk, d5),
              (mp, ap), (mp, ap), (sk, d5), (sk, d5), (sk, d5))
    return {"normal": normal, "reduce": reduce}


def _uniform(ops: Sequence[str]) -> dict[str, tuple[tuple[str, ...], ...]]:
    return {ct: (tuple(ops),) * len(EDGES) for ct in CELL_TYPES}


class DartsCellSpace(SearchSpace):
    """A DARTS-cell space: the shared cell graph with its per-edge candidate op lists.

    Subclasses set ``name`` and ``candidates`` (per cell type, 14 tuples of op names); every edge
    of a space has the same number of candidates, so the weights are ``(14, n_ops)`` matrices.
    :attr:`ops` is every op name the space lists: the per-edge list itself where every edge has
    the same one (``darts``, S2-S4), else their union in :data:`ALL_OPS` order (S1); an op index
    always indexes :meth:`op_names` of its edge.

    Capabilities: ``topology`` only. No ``table``: the ground truth is training a genotype from
    scratch (:meth:`benchmark`: a :class:`~.oracle_store.DartsOracle`, protocol §8), not ``enumerable`` (about 10^18 cell pairs). The two orders of a
    node's input pairs are one functional class (:meth:`functional_key`), but the capability
    ``functional_classes`` (NB201's zero-output / dead-edge classes) is not declared.
    """

    name: ClassVar[str]
    ops: ClassVar[tuple[str, ...]]
    candidates: ClassVar[Mapping[str, tuple[tuple[str, ...], ...]]]
    capabilities: ClassVar[frozenset[str]] = frozenset({"topology"})
    cell_types: ClassVar[tuple[str, ...]] = CELL_TYPES
    #: ``model_info``'s shape: initial channels and number of cells of ``NetworkCIFAR``
    model_shape: ClassVar[tuple[str, ...]] = ("C", "layers")
    ground_truth: ClassVar[str | None] = (
        "trained oracle (protocol §8): NetworkCIFAR C=36 / 20 cells trained from scratch for 600 epochs; reports "
        "the final-epoch test accuracy (the best over epochs is kept, labelled a selection on the test set, P20); "
        "content-addressed under <cache>/oracle/<key>/, resumable; `supernetbench oracle --profile smoke|paper`")
    notes: ClassVar[str] = ("gdas samples a hard op on all 14 edges of both cells, as the papers' code ran it "
                            "(not a valid 2-in-edge cell, protocol §8); darts-'s auxiliary skip is a "
                            "FactorizedReduce on the stride-2 edges (the DARTS- and papers' code); perturb "
                            "projects the ops of both cells, then 2 in-edges per node (DARTS-PT, §8: "
                            "16 x (perturb_epochs // 5) + 1 epochs, 81 at paper); presets darts-paper (§8) "
                            "and darts-search (the DARTS paper)")

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cand = cls.candidates
        assert set(cand) == set(CELL_TYPES) and all(len(cand[ct]) == len(EDGES) for ct in CELL_TYPES)
        assert len({len(ops) for ct in CELL_TYPES for ops in cand[ct]}) == 1, "same op count on every edge"
        lists = {ops for ct in CELL_TYPES for ops in cand[ct]}
        assert all(o in ALL_OPS for ops in lists for o in ops), "unknown op name"
        cls.ops = next(iter(lists)) if len(lists) == 1 else tuple(o for o in ALL_OPS if any(o in ops for ops in lists))

    # ------------------------------------------------------------------ the graph
    def edges(self, cell_type: str) -> tuple[tuple[int, int], ...]:
        """(to, from) of each weight row of ``cell_type``, in DARTS' order (the same for both)."""
        self._cell_type(cell_type)
        return EDGES

    @property
    def num_ops(self) -> int:
        return len(self.candidates["normal"][0])

    @property
    def weight_shapes(self) -> dict[str, tuple[int, int]]:
        return {ct: (len(EDGES), self.num_ops) for ct in CELL_TYPES}

    @property
    def arch_length(self) -> int:
        """32: the (input, op) pairs of the 4 nodes of both cell types (not one int per edge)."""
        return ARCH_LEN

    @property
    def num_archs(self) -> int:
        """How many arch tuples the space holds: per node an ordered pair of distinct in-edges, each
        with a non-``none`` candidate. Each cell pair is written by ``2**8`` tuples (the two orders
        of each node's pair): ``num_archs // 256`` cell pairs (``darts``: (180 * 7^8)^2, about
        1.1e18, the DARTS paper's count)."""
        total = 1
        for ct in CELL_TYPES:
            a = self._allowed(ct).sum(axis=1)
            for node in range(2, 2 + STEPS):
                n = [int(a[r]) for r in NODE_ROWS[node]]
                total *= sum(n) ** 2 - sum(x * x for x in n)  # ordered pairs of distinct in-edges
        return total

    def op_names(self, cell_type: str, edge: int) -> tuple[str, ...]:
        """The candidate ops of ``edge`` (a weight row) of ``cell_type``."""
        return self.candidates[self._cell_type(cell_type)][edge]

    def discrete_op(self, cell_type: str, edge: int, op: int) -> bool:
        """Every candidate but ``none`` (DARTS' genotype rule: ``none`` is never part of a cell)."""
        return self.op_names(cell_type, edge)[op] != "none"

    def projection_plan(self) -> ProjectionPlan:
        """DARTS-PT on the DARTS space (protocol §8): op projection of the 14 edges of both cells,
        then topology projection of nodes 3-5 (:mod:`.projection`)."""
        from .projection import darts_projection_plan

        return darts_projection_plan()

    def info(self) -> dict[str, Any]:
        """JSON-able description (``supernetbench space info``): the generic fields, the number of
        arch tuples and of cell pairs, and per cell type each edge's (to, from) and candidate op
        names, in DARTS' edge order."""
        return {
            **super().info(),
            "space": self.name,
            "arch_length": ARCH_LEN,
            "capabilities": sorted(self.capabilities),
            "weight_shapes": {ct: list(s) for ct, s in self.weight_shapes.items()},
            "num_archs": self.num_archs,
            "num_cell_pairs": self.num_archs // 2 ** (len(CELL_TYPES) * STEPS),
            "cells": {
                ct: [{"edge": e, "to": to, "from": frm, "ops": list(self.candidates[ct][e])}
                     for e, (to, frm) in enumerate(EDGES)]
                for ct in CELL_TYPES
            },
        }

    # ------------------------------------------------------------------ validation
    def validate(self, arch: Sequence[int]) -> Arch:
        """``arch`` as a tuple after checking it is a valid discrete cell pair.

        Valid: 32 ints; per node two distinct inputs, each before the node; each op an index into
        that edge's candidates and never ``none``.
        """
        try:
            a = tuple(int(x) for x in arch)
        except (TypeError, ValueError):
            raise GenotypeError(f"a {self.name} arch is {ARCH_LEN} ints, got {one_line(repr(arch), 80)}") from None
        if len(a) != ARCH_LEN:
            raise GenotypeError(f"a {self.name} arch is {ARCH_LEN} ints (input, op per node pair), got {len(a)}")
        for ct, node, pairs in self._pairs(a):
            if pairs[0][0] == pairs[1][0]:
                raise GenotypeError(f"{ct} cell node {node}: its two inputs must differ, got {pairs[0][0]} twice")
            for inp, op in pairs:
                if not 0 <= inp < node:
                    raise GenotypeError(f"{ct} cell node {node}: input {inp} is not in 0..{node - 1}")
                ops = self.candidates[ct][NODE_ROWS[node][inp]]
                if not 0 <= op < len(ops):
                    raise GenotypeError(f"{ct} cell node {node}: op index {op} not in 0..{len(ops) - 1}")
                if ops[op] == "none":
                    raise GenotypeError(f"{ct} cell node {node}: 'none' is not part of a discrete cell")
        return a

    @staticmethod
    def _pairs(a: Arch):
        """Yield (cell_type, node, ((in, op), (in, op))) in arch order (unchecked)."""
        it = iter(range(0, ARCH_LEN, 2))
        for ct in CELL_TYPES:
            for node in range(2, 2 + STEPS):
                i, j = next(it), next(it)
                yield ct, node, ((a[i], a[i + 1]), (a[j], a[j + 1]))

    def canonical(self, arch: Sequence[int]) -> Arch:
        """The same cell with each node's two pairs sorted by input (one tuple per cell graph)."""
        out: list[int] = []
        for _, _, pairs in self._pairs(self.validate(arch)):
            for p in sorted(pairs):
                out.extend(p)
        return tuple(out)

    def functional_key(self, arch: Sequence[int], zero_propagates: bool = True) -> Arch:
        """:meth:`canonical`: the two orders of a node's pairs are the same cell, the same 0/1
        weights, so the same function under shared weights (``zero_propagates`` plays no part: a
        discrete DARTS cell has no ``none`` edge)."""
        return self.canonical(arch)

    # ------------------------------------------------------------------ strings
    def genotype(self, arch: Sequence[int]) -> dict[str, list[tuple[str, int]]]:
        """``{"normal": [(op, input), ...8], "reduce": [...]}``: DARTS' genotype lists."""
        gene: dict[str, list[tuple[str, int]]] = {ct: [] for ct in CELL_TYPES}
        for ct, node, pairs in self._pairs(self.validate(arch)):
            gene[ct].extend((self.candidates[ct][NODE_ROWS[node][inp]][op], inp) for inp, op in pairs)
        return gene

    def format(self, arch: Sequence[int]) -> str:
        """DARTS' own ``Genotype(normal=[...], normal_concat=[2, 3, 4, 5], reduce=..., ...)``."""
        g = self.genotype(arch)
        return (f"Genotype(normal={g['normal']!r}, normal_concat={list(CONCAT)!r}, "
                f"reduce={g['reduce']!r}, reduce_concat={list(CONCAT)!r})")

    def parse(self, s: str) -> Arch:
        """Parse a DARTS genotype string (strict; the Python syntax is parsed, never evaluated).

        Accepts ``Genotype(normal=[('op', input), ...], normal_concat=[2, 3, 4, 5], reduce=[...],
        reduce_concat=[2, 3, 4, 5])`` with keyword arguments in any order, lists or tuples, and
        ``range(2, 6)`` for a concat (as PC-DARTS' and DrNAS' ``genotypes.py`` write it).
        """
        if not isinstance(s, str):
            raise GenotypeError(f"a genotype must be a str, got {type(s).__name__}")
        shown = one_line(repr(s), 120)
        example = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ...8 pairs], "
                   "normal_concat=[2, 3, 4, 5], reduce=[...8 pairs], reduce_concat=[2, 3, 4, 5])")
        if len(s) > MAX_STRING:
            raise GenotypeError(f"genotype string too long ({len(s):,} characters; at most {MAX_STRING:,})")
        try:
            tree = ast.parse(s.strip(), mode="eval").body
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            raise GenotypeError(f"malformed genotype {shown}: not a Python expression like {example}") from None
        if not (isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) and tree.func.id == "Genotype"
                and not tree.args and all(k.arg for k in tree.keywords)):
            raise GenotypeError(f"malformed genotype {shown}: expected keyword arguments only, as in {example}")
        kw = {k.arg: k.value for k in tree.keywords}
        want = {"normal", "normal_concat", "reduce", "reduce_concat"}
        if set(kw) != want or len(tree.keywords) != len(want):
            raise GenotypeError(f"malformed genotype {shown}: needs exactly the keywords {', '.join(sorted(want))}")
        arch: list[int] = []
        for ct in CELL_TYPES:
            if _concat(kw[f"{ct}_concat"]) != CONCAT:
                raise GenotypeError(f"genotype {shown}: {ct}_concat must be [2, 3, 4, 5] (4 intermediate nodes)")
            pairs = _pairs_node(kw[ct])
            if pairs is None or len(pairs) != 2 * STEPS:
                raise GenotypeError(f"malformed genotype {shown}: {ct} must be a list of {2 * STEPS} "
                                    "('op', input) pairs, two per intermediate node")
            for p, (op, inp) in enumerate(pairs):
                node = 2 + p // 2
                if not 0 <= inp < node:
                    raise GenotypeError(f"genotype {shown}: {ct} cell node {node} reads input {inp}, "
                                        f"not in 0..{node - 1}")
                ops = self.candidates[ct][NODE_ROWS[node][inp]]
                if op not in ops:
                    raise GenotypeError(f"genotype {shown}: op {op!r:.40} is not a candidate of {ct} edge "
                                        f"{node}<-{inp} in space {self.name} (candidates: {', '.join(ops)})")
                arch += [inp, ops.index(op)]
        return self.validate(arch)

    # ------------------------------------------------------------------ weights and laws
    def one_hot(self, arch: Sequence[int]) -> dict[str, np.ndarray]:
        """Per-cell-type (14, n_ops) 0/1 weights of a discrete cell (two non-zero rows per node)."""
        w = {ct: np.zeros(s) for ct, s in self.weight_shapes.items()}
        for ct, node, pairs in self._pairs(self.validate(arch)):
            for inp, op in pairs:
                w[ct][NODE_ROWS[node][inp], op] = 1.0
        return w

    def _allowed(self, ct: str) -> np.ndarray:
        """(14, n_ops) mask of the ops a discrete cell may use (all but ``none``)."""
        return np.array([[o != "none" for o in ops] for ops in self.candidates[ct]])

    def _matrix(self, values: Mapping[str, np.ndarray], ct: str, what: str) -> np.ndarray:
        m = np.asarray(values[ct], dtype=np.float64)
        if m.shape != self.weight_shapes[ct]:
            raise ValueError(f"{what} of the {ct} cell must have shape {self.weight_shapes[ct]}, got {m.shape}")
        return m

    def discretize(self, edge_probs: Mapping[str, np.ndarray]) -> Arch:
        """DARTS' genotype rule ("prune", ``model_search.py::Network.genotype``; protocol §8).

        Per edge the best non-``none`` op; per node the two in-edges whose best op weighs most,
        listed strongest first. Ties go to the lower edge / op index (DARTS' stable ``sorted``).
        """
        arch: list[int] = []
        for ct in CELL_TYPES:
            p = self._matrix(edge_probs, ct, "edge probabilities")
            if not np.all(np.isfinite(p)):
                raise ValueError("edge probabilities must be finite")
            masked = np.where(self._allowed(ct), p, -np.inf)
            best_op = masked.argmax(axis=1)
            best_w = masked.max(axis=1)
            for node in range(2, 2 + STEPS):
                rows = NODE_ROWS[node]
                order = sorted(range(node), key=lambda j: -best_w[rows[j]])[:2]
                for j in order:
                    arch += [j, int(best_op[rows[j]])]
        return self.validate(arch)

    def sample(self, edge_logits: Mapping[str, np.ndarray], n: int, rng: np.random.Generator) -> np.ndarray:
        """``(n, 32)`` archs from the papers' Stage-2 sampler (``search2.py::sample``; protocol §8).

        Per intermediate node: one softmax over all (in-edge, op) logits of the node jointly
        (``none`` entries excluded), draw one pair, zero that edge's entries and renormalise, draw
        a second: two distinct in-edges, one op each. Nodes and cell types are independent.
        Vectorised over the ``n`` draws (first pairs, then second pairs given the first's edge):
        the same law as the per-sample loop of the reference, not the same random stream.
        """
        if not isinstance(n, int) or n < 0:
            raise ValueError(f"n must be a non-negative int, got {n!r}")
        out = np.empty((n, ARCH_LEN), dtype=np.int64)
        col = 0
        for ct in CELL_TYPES:
            for node in range(2, 2 + STEPS):
                p = self.node_law(edge_logits, ct, node)
                n_ops = p.shape[1]
                first = rng.choice(p.size, size=n, p=p.ravel())
                second = np.empty(n, dtype=np.int64)
                for row in range(node):  # the second draw, given the first one's edge
                    hit = first // n_ops == row
                    q = self.node_law(edge_logits, ct, node, without=row)
                    second[hit] = rng.choice(q.size, size=int(hit.sum()), p=q.ravel())
                out[:, col], out[:, col + 1] = np.divmod(first, n_ops)
                out[:, col + 2], out[:, col + 3] = np.divmod(second, n_ops)
                col += 4
        return out

    def node_law(self, edge_logits: Mapping[str, np.ndarray], cell_type: str, node: int,
                 without: int | None = None) -> np.ndarray:
        """The joint softmax of ``node``'s (in-edge, op) block: ``(node, n_ops)``, ``none`` at 0.

        ``without``: the law of the second draw, the edge from node ``without`` zeroed and the rest
        renormalised (computed from the logits, so it never divides by an underflowed 0).
        """
        z = self._matrix(edge_logits, self._cell_type(cell_type), "edge logits")[list(NODE_ROWS[node])]
        if not np.all(np.isfinite(z)):
            raise ValueError("edge logits must be finite")
        z = np.where(self._allowed(cell_type)[list(NODE_ROWS[node])], z, -np.inf)
        if without is not None:
            z[without] = -np.inf
        e = np.exp(z - z.max())
        return e / e.sum()

    def arch_probs(self, archs: np.ndarray, edge_probs: Mapping[str, np.ndarray]) -> np.ndarray:
        """P(arch) under :meth:`sample`'s law with the logits ``log(edge_probs)`` (the Stage-2
        candidates of a space without a table are drawn so): per node, with ``q`` the node's block
        of probabilities (``none`` excluded) normalised to sum 1,
        ``P((i1, o1), (i2, o2)) = q[i1, o1] * q[i2, o2] / (1 - sum_o q[i1, o])``; nodes and cell
        types independent. ``archs``: ``(n, 32)`` archs of the space (the order of a node's pairs
        matters, as it does for the sampler)."""
        archs = np.asarray(archs, dtype=np.int64).reshape(-1, ARCH_LEN)
        for a in archs:
            self.validate(a)
        out = np.ones(len(archs))
        col = 0
        for ct in CELL_TYPES:
            p = self._matrix(edge_probs, ct, "edge probabilities")
            if not np.all(np.isfinite(p)) or np.any(p < 0):
                raise ValueError("edge probabilities must be finite and non-negative")
            p = np.where(self._allowed(ct), p, 0.0)
            for node in range(2, 2 + STEPS):
                block = p[list(NODE_ROWS[node])]
                mass = block.sum(axis=1)
                others = np.array([mass[np.arange(node) != j].sum() for j in range(node)])
                if not mass.sum() > 0:
                    raise ValueError(f"edge probabilities of {ct} node {node} are all zero")
                i1, o1, i2, o2 = (archs[:, col + k] for k in range(4))
                out *= block[i1, o1] / mass.sum() * block[i2, o2] / others[i1]
                col += 4
        return out

    def random_arch(self, generator: torch.Generator | None = None) -> Arch:
        """A uniform discrete cell pair (RSPS / untrained single paths): per node two distinct
        inputs uniformly, each with a uniform non-``none`` candidate op of its edge."""
        import torch

        arch: list[int] = []
        for ct in CELL_TYPES:
            allowed = self._allowed(ct)
            for node in range(2, 2 + STEPS):
                inputs = torch.randperm(node, generator=generator)[:2].tolist()
                for j in inputs:
                    ok = np.flatnonzero(allowed[NODE_ROWS[node][j]])
                    arch += [j, int(ok[int(torch.randint(len(ok), (1,), generator=generator))])]
        return tuple(arch)

    # ------------------------------------------------------------------ networks
    def build_supernet(self, profile, num_classes: int, dtype: torch.dtype | None = None):
        """The DARTS search network (:class:`~.supernet.DartsSupernet`) of this space, its weights
        initialised directly in ``dtype`` (default: the profile's), shape (``C``, ``N``, partial
        channels ``k``) from :func:`supernet_config`."""
        import torch

        from .supernet import DartsSupernet

        old = torch.get_default_dtype()
        torch.set_default_dtype(dtype if dtype is not None else profile.torch_dtype)
        try:
            return DartsSupernet(self, supernet_config(profile, num_classes))
        finally:
            torch.set_default_dtype(old)

    def network(self, arch, num_classes: int, **kwargs):
        """``NetworkCIFAR`` of ``arch`` (an arch tuple or a genotype string); ``kwargs`` are
        :class:`~.network.NetworkConfig` fields (``C``, ``layers``, ``auxiliary``, ``pool_bn``;
        defaults §8's C=36, 20 cells, auxiliary head)."""
        from .network import NetworkCIFAR, NetworkConfig

        arch = self.parse(arch) if isinstance(arch, str) else self.validate(arch)
        return NetworkCIFAR(arch, self, NetworkConfig(num_classes=num_classes, **kwargs))

    def benchmark(self, dataset: str | None = None, profile: str = "paper", *, root: str | None = None,
                  data_root: str | None = None, device: str = "cpu", progress: bool = False):
        """The ground truth: a :class:`~.oracle_store.DartsOracle` (the space's ``TrainedOracle``) with
        the oracle profile ``profile`` (``paper`` = protocol §8, ``smoke``), storing under ``root``
        (default ``cache_dir()``). ``dataset`` is named per call of the oracle."""
        from .oracle_store import DartsOracle

        return DartsOracle(self, profile, root=root, data_root=data_root, device=device, progress=progress)

    def model_info(self, arch: str, dataset: str = "cifar10", C: int = 36, layers: int = 20) -> dict[str, Any]:
        """Parameters and FLOPs of ``NetworkCIFAR`` of the genotype string ``arch`` on a CIFAR dataset.

        ``params``: without the auxiliary head (DARTS' ``count_parameters_in_MB`` convention, the
        published "3.3M" of DARTS V2); ``params_with_aux``: with it; ``flops``: multiply-accumulates
        of one 32x32 image through the inference network (convs and linear layers, the DARTS papers'
        "FLOPs"; :func:`~.network.count_flops`), ``flops_m`` in millions. Built on the meta device.
        """
        from supernetbench.harness.data import NUM_CLASSES

        from .network import NetworkConfig, count_flops, count_parameters

        arch_t = self.parse(arch) if isinstance(arch, str) else self.validate(arch)
        ds = str(dataset).strip().lower()
        if ds not in ("cifar10", "cifar100"):
            raise ValueError(f"the DARTS evaluation network is for 32x32 CIFAR images: dataset must be cifar10 or "
                             f"cifar100, got {one_line(repr(dataset), 40)}")
        num_classes = NUM_CLASSES[ds]
        NetworkConfig(C=C, layers=layers, num_classes=num_classes)  # one clear error for a bad shape
        shape = dict(C=C, layers=layers, num_classes=num_classes)
        params = count_parameters(arch_t, self, **shape)
        flops = count_flops(arch_t, self, **shape)
        return {
            "space": self.name,
            "arch": self.format(arch_t),
            "dataset": ds,
            "num_classes": num_classes,
            "input_size": 32,
            "input_shape": [1, 3, 32, 32],
            "C": C,
            "layers": layers,
            "params": params,
            "params_with_aux": count_parameters(arch_t, self, **shape, auxiliary=True),
            "params_mb": params / 1e6,
            "flops": flops,
            "flops_m": flops / 1e6,
        }

    def _cell_type(self, cell_type: str) -> str:
        if cell_type not in CELL_TYPES:
            raise ValueError(f"cell type must be one of {', '.join(CELL_TYPES)}, got {cell_type!r:.40}")
        return cell_type


def supernet_config(profile, num_classes: int):
    """The search-network shape of a profile (:class:`~.supernet.DartsSupernetConfig`).

    ``C`` = ``profile.C``; ``layers = 3 * profile.N + 2``: ``N`` keeps its NB201 meaning, normal
    cells per stage, with DARTS' two reduction cells between the three stages (reductions at
    ``layers // 3 = N`` and ``2 * layers // 3 = 2N + 1``), so N=2 is the DARTS paper's 8 cells and
    N=6 protocol §8's 20. ``k`` = ``profile.k``, PC-DARTS' partial channels: 1 (every channel through
    the ops, the DARTS paper; the default) or §8's papers' runs' 2 (profile ``darts-paper``).
    """
    from .supernet import DartsSupernetConfig

    return DartsSupernetConfig(C=profile.C, layers=3 * profile.N + 2, k=profile.k, num_classes=num_classes)


def _concat(node: ast.expr) -> tuple[int, ...] | None:
    """The ints of a concat literal: a list/tuple of ints, or ``range(a, b)`` with int literals."""
    if isinstance(node, (ast.List, ast.Tuple)):
        vals = [_int(e) for e in node.elts]
        return None if None in vals else tuple(vals)  # type: ignore[arg-type]
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range"
            and not node.keywords and len(node.args) == 2):
        a, b = (_int(x) for x in node.args)
        if a is not None and b is not None and 0 <= a <= b <= 16:
            return tuple(range(a, b))
    return None


def _int(node: ast.expr) -> int | None:
    ok = isinstance(node, ast.Constant) and type(node.value) is int
    return node.value if ok else None  # type: ignore[union-attr]


def _pairs_node(node: ast.expr) -> list[tuple[str, int]] | None:
    """``[('op', input), ...]`` from a list/tuple literal of 2-tuples, else ``None``."""
    if not isinstance(node, (ast.List, ast.Tuple)) or len(node.elts) > 64:
        return None
    out = []
    for e in node.elts:
        if not (isinstance(e, (ast.Tuple, ast.List)) and len(e.elts) == 2):
            return None
        op, inp = e.elts
        if not (isinstance(op, ast.Constant) and isinstance(op.value, str)) or _int(inp) is None:
            return None
        out.append((op.value, _int(inp)))
    return out  # type: ignore[return-value]


@SPACES.register("darts")
class DartsSpace(DartsCellSpace):
    """``darts``: the papers' 7 ops on every edge (protocol §8)."""

    name: ClassVar[str] = "darts"
    candidates = _uniform(DARTS_OPS)


@SPACES.register("darts-s1")
class DartsS1Space(DartsCellSpace):
    """``darts-s1``: RobustDARTS S1, the two strongest ops of each edge of a DARTS run."""

    name: ClassVar[str] = "darts-s1"
    candidates = _s1()


@SPACES.register("darts-s2")
class DartsS2Space(DartsCellSpace):
    """``darts-s2``: RobustDARTS S2, {skip_connect, sep_conv_3x3} on every edge."""

    name: ClassVar[str] = "darts-s2"
    candidates = _uniform(("skip_connect", "sep_conv_3x3"))


@SPACES.register("darts-s3")
class DartsS3Space(DartsCellSpace):
    """``darts-s3``: RobustDARTS S3, {none, skip_connect, sep_conv_3x3} on every edge."""

    name: ClassVar[str] = "darts-s3"
    candidates = _uniform(("none", "skip_connect", "sep_conv_3x3"))


@SPACES.register("darts-s4")
class DartsS4Space(DartsCellSpace):
    """``darts-s4``: RobustDARTS S4, {noise, sep_conv_3x3} on every edge."""

    name: ClassVar[str] = "darts-s4"
    candidates = _uniform(("noise", "sep_conv_3x3"))


#: The DARTS-cell spaces by name (each registered in ``SPACES`` under it; ``BUILTIN_SPACES`` names this module).
DARTS_SPACES: dict[str, type[DartsCellSpace]] = {
    cls.name: cls for cls in (DartsSpace, DartsS1Space, DartsS2Space, DartsS3Space, DartsS4Space)
}
