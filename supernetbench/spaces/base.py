"""The search-space interface every generic part of the harness goes through, and its registry.

One rule carries it: **an architecture is a fixed-length tuple of ints that only its space reads**
(NB201: 6 op indices, one per edge). Generic code passes ``(n, L)`` int arrays, hashes and caches
them, and never indexes into them; it asks the space (``parse`` / ``format``, ``discretize``,
``sample``, ``random_arch``, ``build_supernet``, ``functional_classes``).

The abstract core is small (optuna ``samplers/_base.py`` style): ``parse``, ``format``, ``edges``,
``discretize``, ``sample``, ``random_arch``, ``build_supernet``. Everything else has a default body
that is exact for any space (every arch its own functional class, no zero-output archs, no table).

Capabilities are declared (:data:`CAPABILITIES`), like ``provides`` / ``requires`` of methods and
selectors; what needs a capability the space lacks (a1/a2 need a ``table``, full-space scoring an
``enumerable`` space) is skipped with :func:`missing_capability`'s reason, never attempted.

Ground truth is separate from the space: a :class:`TabularBenchmark` (NB201's table) or a
:class:`TrainedOracle` (train a genotype from scratch, content-addressed; the DARTS space).
"""
from __future__ import annotations

import abc
import importlib
import itertools
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

from ..harness.registry import Registry
from ..harness.store import one_line

Arch = tuple[int, ...]

#: capability -> what it means (``supernetbench list`` shows it)
CAPABILITIES: dict[str, str] = {
    "table": "every arch has a known accuracy (a1/a2, rank correlations, N_I/R_I baselines, rsps-biased)",
    "enumerable": "the space can be listed arch by arch (full-space scoring, whole-space proxies)",
    "functional_classes": "archs that compute the same function under shared weights are grouped (scored once)",
    "topology": "a node's input edges are chosen too (perturb adds topology projection)",
}

#: space name -> module that registers it on import (imported on first lookup, so that importing
#: this module never imports a space, and a space module may import this one at module level)
BUILTIN_SPACES: dict[str, str] = {"nb201": "supernetbench.spaces.nb201.space",
                                  **{n: "supernetbench.spaces.darts.space"
                                     for n in ("darts", "darts-s1", "darts-s2", "darts-s3", "darts-s4")}}


class ArchStringError(ValueError):
    """A malformed architecture string or arch tuple."""


class MissingCapability(ValueError):
    """A step needs a capability the search space does not declare; the message says which and why."""


#: one step of a projection event: ``("op", cell_type)`` or ``("edge", cell_type)``
ProjectionStep = tuple[str, str]
#: the projection intervals the profiles' ``perturb_epochs`` are set for: DARTS-PT's budget on NB201,
#: ``proj_intv * (6 - 1)`` (protocol §5.5; ``paper``: 25 = 5 x 5)
PROFILE_PROJECTION_INTERVALS = 5


@dataclass(frozen=True)
class ProjectionPlan:
    """How DARTS-PT's projection (Wang et al., ICLR 2021; the ``perturb`` selector) runs on a space:
    its events in order and, for topology projection, the nodes whose in-edges are chosen.

    ``events``: each event happens at one point of the fine-tuning schedule and is a tuple of steps
    done one after the other: ``("op", cell_type)`` fixes one undecided edge of that cell type to
    one op (DARTS-PT ``project_op``); ``("edge", cell_type)`` keeps ``keep`` in-edges of one
    undecided node of ``nodes[cell_type]`` (``project_edge``). ``nodes``: per cell type, node ->
    the weight rows of its in-edges (DARTS-PT ``nid2eids``). ``profile_intervals``: None when the
    profile's ``perturb_epochs`` are this space's fine-tuning epochs as they are; else the number
    of projection intervals those epochs are set for (NB201's 6 events: 5), whose length
    (``proj_intv``) is kept while the epochs follow this plan's events (:meth:`tune_epochs`).
    ``final_epochs``: epochs tuned after the interval of the last event (DARTS-PT on DARTS: 1).
    """

    events: tuple[tuple[ProjectionStep, ...], ...]
    nodes: Mapping[str, Mapping[int, tuple[int, ...]]] = field(default_factory=dict)
    keep: int = 2
    profile_intervals: int | None = None
    final_epochs: int = 0

    def tune_epochs(self, epochs: int) -> int:
        """Fine-tuning epochs for the profile's ``perturb_epochs``: ``epochs`` itself, or with
        ``proj_intv = epochs // profile_intervals >= 1`` DARTS-PT's ``proj_intv * (events - 1) +
        final_epochs`` (``pt_project``); a budget under one epoch per interval (``smoke``) stays
        ``epochs``, its events spread over the steps."""
        if self.profile_intervals is None or epochs < self.profile_intervals:
            return epochs
        return epochs // self.profile_intervals * (len(self.events) - 1) + self.final_epochs

    def steps(self, kind: str, cell_type: str) -> int:
        """How many ``(kind, cell_type)`` steps the events hold."""
        return sum(step == (kind, cell_type) for event in self.events for step in event)


class SearchSpace(abc.ABC):
    """A cell search space: its archs, its arch weights, its supernet and its ground truth.

    ``weight_shapes`` maps each cell type to ``(num_edges, num_ops)``: one architecture-weight
    matrix per cell type (NB201: one ``cell`` matrix shared by every cell; DARTS: ``normal`` and
    ``reduce``). An arch concatenates the op (or (input, op)) choices of every cell type.
    """

    name: ClassVar[str]
    ops: ClassVar[tuple[str, ...]]
    #: the cell types, each with its own arch-weight matrix (NB201: one; DARTS: normal, reduce)
    cell_types: ClassVar[tuple[str, ...]] = ("cell",)
    #: declared capabilities, keys of :data:`CAPABILITIES`
    capabilities: ClassVar[frozenset[str]] = frozenset()
    #: the name of the ground truth (``benchmark``); ``None`` when there is none
    ground_truth: ClassVar[str | None] = None
    #: scoring engines beyond the generic per-class loops (NB201: ``prefix``, ``batched``)
    scoring_engines: ClassVar[frozenset[str]] = frozenset()
    #: how methods run on this space where that differs from NB201 (``supernetbench list`` shows it)
    notes: ClassVar[str] = ""
    #: the shape options :meth:`model_info` takes (``model-info --C / --N / --layers``); the CLI
    #: refuses an option the space does not list
    model_shape: ClassVar[tuple[str, ...]] = ()

    # ------------------------------------------------------------------ abstract core
    @abc.abstractmethod
    def parse(self, s: str) -> Arch:
        """The arch of an arch string; :class:`ArchStringError` (one clear line) for a bad one."""

    @abc.abstractmethod
    def format(self, arch: Sequence[int]) -> str:
        """The arch string of ``arch`` (``parse(format(a)) == a``)."""

    @abc.abstractmethod
    def edges(self, cell_type: str) -> tuple[tuple[int, int], ...]:
        """``(to_node, from_node)`` of each row of the cell type's arch-weight matrix."""

    @abc.abstractmethod
    def discretize(self, edge_probs: Mapping[str, np.ndarray]) -> Arch:
        """The discrete arch of the learned weights (``prune``; NB201: per-edge argmax)."""

    @abc.abstractmethod
    def sample(self, edge_logits: Mapping[str, np.ndarray], n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` archs, ``(n, L)`` int64, from the space's candidate law given the per-cell-type
        architecture logits (unnormalised log-probabilities; ``log(edge_probs)`` is one)."""

    @abc.abstractmethod
    def random_arch(self, generator) -> Arch:
        """One uniform single path drawn with the ``torch.Generator`` (RSPS, untrained)."""

    @abc.abstractmethod
    def build_supernet(self, profile, num_classes: int, dtype=None):
        """The space's weight-sharing network at the profile's ``C`` / ``N`` in ``dtype``. It takes
        ``net(x, weights={cell_type: (edges, ops)})`` (mixture) or ``net(x, arch=...)`` (single path),
        and carries ``net.space`` (this space) and ``net.aux_skip_beta`` (DARTS-'s auxiliary skip,
        0 = none). A network whose auxiliary skip has weights builds them in ``net.add_aux_skip()``,
        which the Stage-1 loop calls for ``darts-`` before making the optimiser. A profile field the
        network cannot honour (e.g. partial channels ``k != 1``) is refused here, never ignored."""

    # ------------------------------------------------------------------ defaults
    def op_names(self, cell_type: str, edge: int) -> tuple[str, ...]:
        """The candidate ops of row ``edge`` of ``cell_type``'s arch-weight matrix, in column order
        (default: :attr:`ops` on every edge; a space whose edges have their own lists overrides it)."""
        self.edges(cell_type)[edge]  # an unknown cell type or edge is an error
        return self.ops

    def discrete_op(self, cell_type: str, edge: int, op: int) -> bool:
        """Whether op ``op`` of row ``edge`` may be part of a discrete arch (default: every candidate;
        the DARTS spaces: every one but ``none``)."""
        return True

    def projection_plan(self) -> ProjectionPlan:
        """DARTS-PT's projection on this space (``perturb``; protocol §5.5). Default: op projection
        only, one event per edge row, each fixing one undecided edge of every cell type that still
        has one (NB201: 6 events of one edge; the profile's ``perturb_epochs`` used as they are).
        A space with ``topology`` adds node events (the DARTS spaces: §8)."""
        n = max(n_edges for n_edges, _ in self.weight_shapes.values())
        return ProjectionPlan(events=tuple(tuple(("op", k) for k, (n_edges, _) in self.weight_shapes.items()
                                                 if i < n_edges) for i in range(n)))

    @property
    def weight_shapes(self) -> Mapping[str, tuple[int, int]]:
        """``{cell_type: (len(edges(cell_type)), len(ops))}``, derived from :meth:`edges`."""
        return {k: (len(self.edges(k)), len(self.ops)) for k in self.cell_types}

    @property
    def arch_length(self) -> int:
        """L: the number of ints in an arch (default: one op per edge of every cell type)."""
        return sum(n for n, _ in self.weight_shapes.values())

    def has(self, capability: str) -> bool:
        return capability in self.capabilities

    def validate(self, arch: Sequence[int]) -> Arch:
        """``arch`` as a tuple of ints; :class:`ArchStringError` when it is not an arch of the space."""
        try:
            a = tuple(int(x) for x in arch)
        except (TypeError, ValueError):
            raise ArchStringError(f"an arch of {self.name} is a sequence of ints, got {one_line(repr(arch), 80)}") from None
        if len(a) != self.arch_length or any(not 0 <= x < len(self.ops) for x in a):
            raise ArchStringError(f"an arch of {self.name} is {self.arch_length} op indices in 0..{len(self.ops) - 1}, "
                                  f"got {one_line(repr(tuple(arch)), 80)}")
        return a

    def one_hot(self, arch: Sequence[int]) -> dict[str, np.ndarray]:
        """Per-cell-type one-hot weight matrices of a discrete arch (default: one op per edge)."""
        arch = self.validate(arch)
        out, pos = {}, 0
        for k, (n_edges, n_ops) in self.weight_shapes.items():
            w = np.zeros((n_edges, n_ops))
            w[np.arange(n_edges), arch[pos:pos + n_edges]] = 1.0
            out[k], pos = w, pos + n_edges
        return out

    def arch_probs(self, archs: np.ndarray, edge_probs: Mapping[str, np.ndarray]) -> np.ndarray:
        """P(arch) under the candidate law given per-edge probabilities (default: edges independent,
        the product of the chosen ops' probabilities)."""
        archs = np.asarray(archs, dtype=np.int64).reshape(-1, self.arch_length)
        out, pos = np.ones(len(archs)), 0
        for k, (n_edges, _) in self.weight_shapes.items():
            p = np.asarray(edge_probs[k], dtype=np.float64)
            out *= np.prod(p[np.arange(n_edges), archs[:, pos:pos + n_edges]], axis=1)
            pos += n_edges
        return out

    @property
    def num_archs(self) -> int:
        """How many archs the space holds (one op per edge by default)."""
        return len(self.ops) ** self.arch_length

    def all_archs(self) -> np.ndarray:
        """Every arch, ``(num_archs, L)`` (lexicographic); only for an ``enumerable`` space."""
        require(self, "enumerable", "listing every arch")
        return np.array(list(itertools.product(range(len(self.ops)), repeat=self.arch_length)), dtype=np.int8)

    def functional_key(self, arch: Sequence[int], zero_propagates: bool = True) -> Arch:
        """Canonical member of the shared-weight functional class of ``arch`` (default: itself)."""
        return self.validate(arch)

    def functional_classes(self, archs: np.ndarray, zero_propagates: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """``(labels, representatives)``: ``labels[i]`` indexes ``representatives`` (first-seen order),
        the canonical arch of each class of the rows of ``archs``. The ONE dedup every scorer uses."""
        archs = np.asarray(archs)
        keys: dict[Arch, int] = {}
        labels = np.empty(len(archs), dtype=np.int64)
        for i, a in enumerate(archs):
            labels[i] = keys.setdefault(self.functional_key(tuple(int(x) for x in a), zero_propagates), len(keys))
        return labels, np.array(list(keys), dtype=np.int8).reshape(-1, self.arch_length)

    def is_zero_output(self, arch: Sequence[int]) -> bool:
        """True when the network's cell outputs are identically zero (default: never)."""
        return False

    def complexity(self, archs: np.ndarray, dataset: str) -> dict[str, np.ndarray]:
        """Per-arch size features for the bias diagnostics: ``features`` (name -> array, e.g.
        params), ``strata`` (size class of each arch) and ``parameter_free`` (bool: dominated by
        parameter-free ops); a space without them raises :class:`MissingCapability`."""
        raise MissingCapability(f"search space {self.name!r} has no arch-complexity features (bias diagnostics)")

    def scorer(self, engine: str, net, sd, cfg, precision: str = "exact"):
        """The space's own full-space scoring strategy ``engine`` (one of :attr:`scoring_engines`) on a
        prepared supernet: ``batched`` -> ``archs (n, L) -> accuracies``; ``prefix`` -> ``arch ->
        accuracy``, or None where the BN mode cannot share work (the generic per-class loop runs)."""
        raise NotImplementedError(f"search space {self.name!r} has no scoring engine {engine!r}")

    def network(self, arch, num_classes: int, **kwargs):
        """The stand-alone network of ``arch`` (trained from scratch by the ground truth)."""
        raise NotImplementedError(f"search space {self.name!r} has no stand-alone network")

    def model_info(self, arch: str, dataset: str, **shape) -> dict[str, Any]:
        """Parameters and FLOPs of the stand-alone network of the arch string ``arch`` (``model-info``)."""
        raise MissingCapability(f"search space {self.name!r} has no stand-alone network to describe")

    def benchmark(self, dataset: str | None = None):
        """The ground truth: a :class:`TabularBenchmark` (``table``) or a :class:`TrainedOracle`."""
        raise MissingCapability(f"search space {self.name!r} has no ground truth")

    def info(self) -> dict[str, Any]:
        """What ``supernetbench space info`` prints."""
        return {"space": self.name, "ops": list(self.ops), "arch_length": self.arch_length,
                "weight_shapes": {k: list(v) for k, v in self.weight_shapes.items()},
                "capabilities": sorted(self.capabilities), "ground_truth": self.ground_truth}

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """What ``supernetbench list`` shows."""
        out = {"capabilities": sorted(cls.capabilities), "ground_truth": cls.ground_truth, "ops": len(cls.ops)}
        return {**out, "notes": cls.notes} if cls.notes else out


@runtime_checkable
class TabularBenchmark(Protocol):
    """Ground truth as a table: the accuracy of every arch of an enumerable space (NB201's
    ``GroundTruth``). ``archs[i]`` is the arch of row ``i``; every per-arch array is in row order."""

    archs: np.ndarray
    strings: tuple[str, ...]

    def test_acc(self, dataset: str) -> np.ndarray: ...

    def record(self, dataset: str, gt_split: str = "table") -> dict[str, Any]: ...

    def index_of(self, arch) -> int: ...

    def __len__(self) -> int: ...


@runtime_checkable
class TrainedOracle(Protocol):
    """Ground truth by training: the test accuracy of a genotype trained from scratch by the
    space's stand-alone network (:meth:`SearchSpace.network`) under a fixed protocol.

    A result is content-addressed by ``key(arch, dataset, seed)`` (the arch, the training protocol,
    the data and the code version), so it is computed once and read back from the store ever after;
    training is a study task of its own (``oracle``), never done inside a selector.
    """

    def key(self, arch: Sequence[int], dataset: str, seed: int = 0) -> str:
        """Content hash of what determines the result."""
        ...

    def cached(self, arch: Sequence[int], dataset: str, seed: int = 0) -> float | None:
        """The stored final-epoch test accuracy (%) of ``arch``, or None when it was not trained yet."""
        ...

    def train(self, arch: Sequence[int], dataset: str, seed: int = 0) -> float:
        """Train ``arch`` from scratch (resumable, atomic), store and return its final-epoch test
        accuracy (%) (DARTS: :class:`~.darts.oracle_store.DartsOracle`, protocol §8)."""
        ...


#: name -> search-space class. Add a space: one module + ``@SPACES.register("name")`` (+ an entry in
#: :data:`BUILTIN_SPACES` for a built-in one, imported on first lookup).
#: Plugins: entry-point group ``supernetbench.spaces`` (a subclass of :class:`SearchSpace`).
SPACES: Registry[type[SearchSpace]] = Registry("search space", group="supernetbench.spaces")
SPACES.base = SearchSpace


def _load_builtins() -> None:
    for name, module in BUILTIN_SPACES.items():
        if name not in SPACES:
            importlib.import_module(module)


def space_names() -> list[str]:
    _load_builtins()
    return SPACES.names()


def get_space(name: str = "nb201") -> SearchSpace:
    """The registered space ``name`` (``ValueError`` listing the valid names otherwise)."""
    _load_builtins()
    if not isinstance(name, str) or name not in SPACES:
        raise ValueError(f"unknown search space {name!r:.80}; valid choices: {', '.join(SPACES.names())}")
    return SPACES.get(name)()


def missing_capability(space: SearchSpace, capability: str, what: str) -> str | None:
    """The reason ``what`` cannot run on ``space`` (None when it can)."""
    if capability in space.capabilities:
        return None
    return (f"{what} needs a search space with '{capability}' ({CAPABILITIES[capability]}); "
            f"space {space.name!r} has {', '.join(sorted(space.capabilities)) or 'no capabilities'}")


def require(space: SearchSpace, capability: str, what: str) -> None:
    """Raise :class:`MissingCapability` when ``space`` lacks ``capability``."""
    reason = missing_capability(space, capability, what)
    if reason:
        raise MissingCapability(reason)
