"""The Stage-2 interface: pick one architecture from a finished Stage-1 run.

A selector sees the run (its supernet, learned distribution and data) through a
:class:`SelectionContext` and returns a :class:`Selection` (the arch plus the per-candidate scores
it used). Capabilities are declared: ``requires = {"arch_weights"}`` means the selector needs
learned per-edge architecture weights (``prune``), so pairing it with a method that has none
(``rsps``, ``untrained``, ``rsps-biased``) is an explicit, listed incompatibility.

The sampling selectors (``valid``, ``synflow``, ``jacob_cov``; protocol §5.4) share ONE candidate
set per (run, seed, candidate distribution): :meth:`SelectionContext.candidates`, drawn once with
``np.random.default_rng(seed)`` (100 draws with replacement, protocol §5.2). The candidate
distribution is the run's learned one, or an override for the Stage-2 baselines (protocol §5.7):
``uniform`` (N_U, R_U) or the idealised ``rank-linear`` sampler of ``rsps-biased`` (N_I, R_I).

Candidates are indices into :attr:`SelectionContext.archs`. On a space with a ``table`` (NB201) that
is the table's arch order and the draw is ``rng.choice`` over the table rows with the candidate law
(as it always was, so every stored result keeps its value); on any other space the candidates are
drawn by the space's own law (:meth:`SearchSpace.sample`) and ``archs`` is the pool of archs drawn so
far. Selections on a space without a table have no index and no test accuracy (``None``).

Winner rule (all sampling selectors, :func:`pick_best`): the highest finite score among candidates
whose cell output is not identically zero, first candidate in draw order on ties (the reference's
``argmax``/``nanargmax``). NaN (``jacob_cov`` of a disconnected arch, P19) and zero-output archs
never win unless no candidate is left: then the first connected candidate in draw order, or the
first candidate if all are zero-output; ``details["fallback"]`` records it.
"""
from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping

import numpy as np

from ..harness.registry import Registry
from ..spaces.base import SearchSpace, get_space, missing_capability

#: name -> Stage-2 selector class. Add a selector: one module + ``@SELECTORS.register("name")``.
#: Plugins: entry-point group ``supernetbench.selectors`` (see :mod:`supernetbench.api`).
SELECTORS: Registry[type["Selector"]] = Registry("Stage-2 selector", group="supernetbench.selectors")

#: Stage-2 candidate distributions (protocol §5.2, §5.7).
DISTRIBUTIONS: dict[str, str] = {
    "run": "the Stage-1 run's learned architecture distribution (archprob)",
    "uniform": "uniform over all 15,625 archs (baselines N_U, R_U)",
    "rank-linear": "the idealised rank-linear sampler of rsps-biased, from the ground truth (baselines N_I, R_I)",
}


class IncompatiblePair(ValueError):
    """The Stage-1 method (or the search space) does not provide what the selector requires."""


def _softmax_of(alphas: Mapping[str, np.ndarray], edge_probs: Mapping[str, np.ndarray]) -> bool:
    """Whether ``edge_probs`` is the per-edge softmax of ``alphas`` (then the alphas are its logits)."""
    if set(alphas) != set(edge_probs):
        return False
    for k, a in alphas.items():
        a, p = np.asarray(a, dtype=np.float64), np.asarray(edge_probs[k], dtype=np.float64)
        if a.shape != p.shape:
            return False
        e = np.exp(a - a.max(axis=1, keepdims=True))
        if not np.allclose(e / e.sum(axis=1, keepdims=True), p, rtol=1e-6, atol=1e-9):
            return False
    return True


@dataclass
class SelectionContext:
    """What a selector may use; expensive parts are loaded on first use and cached.

    Args:
        run: the finished Stage-1 run (:class:`~supernetbench.oneshot.train.SearchRun`).
        gt: the space's tabular ground truth (candidate indices are its row indices), or None for a
            space without a table.
        full_scores: the run's full-space shared-weight validation accuracies (NB201 order) when
            already computed; otherwise :meth:`score` evaluates only the archs asked for.
        seed: the selection seed (the shared candidate set and every selector's RNG derive from it).
        distribution: candidate distribution, a key of :data:`DISTRIBUTIONS`.
        device: where the supernet runs.
        data: the run's search data; loaded from its profile (and ``data_root``) when None.
        net: the supernet; loaded from the run directory when None.
        progress: show progress bars for long measures (e.g. all 15,625 archs).
        cache: memoised candidates and per-functional-class measures (shared by ``dataclasses.replace``
            copies, e.g. the same run under another candidate distribution).
    """

    run: Any
    gt: Any = None  # a TabularBenchmark (spaces.base) or None
    full_scores: np.ndarray | None = None
    space: SearchSpace | None = None  # None: the run's space (``config["space"]``, default nb201)
    seed: int = 0
    distribution: str = "run"
    device: Any = "cpu"
    data: Any = None
    data_root: str | None = None
    net: Any = None
    progress: bool = False
    cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.distribution not in DISTRIBUTIONS:
            raise ValueError(f"unknown candidate distribution {self.distribution!r}; "
                             f"valid choices: {', '.join(DISTRIBUTIONS)}")
        if self.space is None:
            self.space = get_space(getattr(self.run, "config", {}).get("space", "nb201"))
        if self.space.has("table") and self.gt is None:
            raise ValueError(f"space {self.space.name!r} has a table: pass its ground truth (gt)")
        if self.distribution == "rank-linear" and self.gt is None:
            raise ValueError(missing_capability(self.space, "table", "the rank-linear candidate distribution"))

    # ------------------------------------------------------------------ the run
    @property
    def profile(self):
        """The run's profile (:func:`~supernetbench.harness.profiles.profile_from_dict`)."""
        from ..harness.profiles import profile_from_dict

        if "profile" not in self.cache:
            self.cache["profile"] = profile_from_dict(self.run.config["profile"])
        return self.cache["profile"]

    @property
    def dtype(self):
        return self.profile.torch_dtype

    def supernet(self):
        """The run's supernet on ``device`` (selectors that change weights work on a copy)."""
        if self.net is None:
            self.net = self.run.load_supernet(self.device)
        return self.net

    def search_data(self):
        if self.data is None:
            from ..harness.data import DataConfig
            from ..oneshot.train import cached_search_data

            p = self.profile
            self.data = cached_search_data(DataConfig(self.run.dataset, self.data_root, p.split,
                                                      p.train_size, p.valid_size))
        return self.data

    @property
    def image_size(self) -> int:
        from ..harness.data import IMAGE_SIZE

        return IMAGE_SIZE[self.run.dataset]

    # ------------------------------------------------------------------ candidates
    @property
    def archs(self) -> np.ndarray:
        """The archs candidate indices point into: the table's rows, or the pool drawn so far."""
        if self.gt is not None:
            return self.gt.archs
        pool = self.cache.setdefault("pool", {})
        return np.array(list(pool), dtype=np.int64).reshape(-1, self.space.arch_length)

    @property
    def candidate_law(self) -> np.ndarray:
        """Probability of every table row under the candidate distribution (spaces with a table)."""
        if self.gt is None:
            raise ValueError(missing_capability(self.space, "table", "a candidate law over table rows"))
        if self.distribution == "run":
            return self.run.archprob
        if self.distribution == "uniform":
            return np.full(len(self.gt), 1.0 / len(self.gt))
        from ..harness.metrics import rank_linear_probs

        return rank_linear_probs(self.gt.accuracy(self.run.dataset, self.profile.gt_split, "stage1"))

    def _edge_logits(self) -> dict[str, np.ndarray]:
        """Per-cell-type logits of the candidate distribution (spaces without a table)."""
        if self.distribution == "uniform":
            return {k: np.zeros(shape) for k, shape in self.space.weight_shapes.items()}
        if self.run.edge_probs is None:
            raise ValueError(f"Stage-1 method {self.run.algo!r} learns no per-edge distribution to draw candidates "
                             "from on this space; use --distribution uniform")
        alphas = getattr(self.run, "alphas", None)
        if alphas and _softmax_of(alphas, self.run.edge_probs):
            # the law is softmax(alpha) per edge: alpha itself are its logits, and a sampler that
            # normalises over several edges at once (DARTS, protocol §8) needs them unshifted
            return {k: np.asarray(v, dtype=np.float64) for k, v in alphas.items()}
        with np.errstate(divide="ignore"):
            return {k: np.log(np.asarray(v, dtype=np.float64)) for k, v in self.run.edge_probs.items()}

    def sample_indices(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n candidates drawn with replacement from the candidate distribution, as indices into
        :attr:`archs` (table rows by ``rng.choice``; otherwise :meth:`SearchSpace.sample`)."""
        if self.gt is not None:
            p = self.candidate_law
            return rng.choice(len(p), size=n, replace=True, p=p / p.sum())
        pool = self.cache.setdefault("pool", {})
        drawn = self.space.sample(self._edge_logits(), n, rng)
        return np.array([pool.setdefault(tuple(int(v) for v in a), len(pool)) for a in drawn], dtype=np.int64)

    def candidates(self, n: int) -> np.ndarray:
        """The shared candidate set of (run, seed, distribution): ``n`` draws from ``default_rng(seed)``."""
        key = ("candidates", self.distribution, n)
        if key not in self.cache:
            self.cache[key] = self.sample_indices(n, np.random.default_rng(self.seed))
        return self.cache[key]

    # ------------------------------------------------------------------ measures
    def by_class(self, measure: str, idx: np.ndarray, fn: Callable[[np.ndarray], np.ndarray], *,
                 zero_propagates: bool = True) -> np.ndarray:
        """``fn`` (archs -> scores) on one representative per shared-weight functional class of the
        candidates ``idx`` (indices into :attr:`archs`), memoised under ``measure``, broadcast back."""
        archs = self.archs[np.asarray(idx, dtype=np.int64)]
        memo = self.cache.setdefault(("measure", measure), {})
        labels, reps = self.space.functional_classes(archs, zero_propagates)  # the one dedup (first-seen order)
        keys = [tuple(int(v) for v in r) for r in reps]
        todo = [k for k in keys if k not in memo]
        if todo:
            memo.update(zip(todo, np.asarray(fn(np.array(todo, dtype=np.int64)), dtype=np.float64)))
        return np.array([memo[k] for k in keys], dtype=np.float64)[labels].reshape(len(archs))

    def score(self, idx: np.ndarray) -> np.ndarray:
        """Shared-weight validation accuracy (%) of NB201 indices on the run's scoring subset and BN
        mode: the full-space scores when given, else exactly those values computed for ``idx`` only."""
        if self.full_scores is not None:
            return self.full_scores[np.asarray(idx)]
        return self.valid_accuracy(idx, self.profile.score_images)

    def valid_accuracy(self, idx: np.ndarray, images: int | None) -> np.ndarray:
        """Shared-weight accuracy (%) on the first ``images`` validation images (None = the whole
        valid half), in the run's BN mode and augmentation setting (:mod:`~supernetbench.oneshot.scoring`)."""
        from ..oneshot.scoring import ScoreConfig, make_scoring_data, score_archs

        p = self.profile
        n_valid = len(self.search_data().valid_y)
        n = n_valid if images is None else int(images)
        if n > n_valid:
            raise ValueError(f"{n} validation images requested but the run's split has {n_valid}; "
                             "lower valid_images / perturb_valid_images or raise valid_size")
        if n == p.score_images and self.full_scores is not None:
            return self.full_scores[np.asarray(idx)]
        cfg = dataclasses.replace(ScoreConfig.from_profile(p), images=n)

        def evaluate(archs: np.ndarray) -> np.ndarray:
            key = ("scoring-data", n)
            if key not in self.cache:
                self.cache[key] = make_scoring_data(self.search_data(), cfg, self.device, self.dtype)
            return score_archs(self.supernet(), archs, self.cache[key], cfg, progress=self.progress)

        return self.by_class(f"valid@{n}", idx, evaluate, zero_propagates=cfg.bn_mode != "running")


@dataclass(frozen=True)
class Selection:
    """The chosen arch (its string), its table row and test accuracy (None on a space without a table)."""

    arch: str
    index: int | None
    test_acc: float | None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class SelectorConfig:
    pass


class Selector(abc.ABC):
    name: ClassVar[str]
    requires: ClassVar[frozenset[str]] = frozenset()
    #: search-space capabilities the selector needs (:data:`~supernetbench.spaces.CAPABILITIES`)
    space_requires: ClassVar[frozenset[str]] = frozenset()
    #: what the selector reads from the run, for `supernetbench list`
    uses: ClassVar[str] = ""
    #: True: draws its candidates from the candidate distribution (so N_I/N_U etc. differ)
    samples: ClassVar[bool] = False
    Config: ClassVar[type[SelectorConfig]] = SelectorConfig

    def __init__(self, config: SelectorConfig | None = None):
        self.config = config if config is not None else self.Config()

    @classmethod
    def make_config(cls, overrides: Mapping[str, Any] | None = None) -> SelectorConfig:
        overrides = dict(overrides or {})
        valid = {f.name for f in dataclasses.fields(cls.Config)}
        bad = sorted(set(overrides) - valid)
        if bad:
            raise ValueError(f"option(s) {', '.join(bad)} do not apply to selector {cls.name!r}; "
                             f"its options are: {', '.join(sorted(valid)) or '(none)'}")
        return cls.Config(**overrides)

    @classmethod
    def config_from_profile(cls, profile) -> SelectorConfig:
        """The selector's config for a run profile (default: the paper defaults)."""
        return cls.Config()

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """What ``supernetbench list`` shows."""
        return {"requires": sorted(cls.requires), "uses": cls.uses, "samples_candidates": cls.samples}

    @classmethod
    def space_problem(cls, space: SearchSpace) -> str | None:
        """Why the selector cannot run on ``space`` (None when it can): a missing capability."""
        for cap in sorted(cls.space_requires):
            reason = missing_capability(space, cap, f"selector {cls.name!r}")
            if reason:
                return reason
        return None

    @classmethod
    def check_space(cls, space: SearchSpace) -> None:
        problem = cls.space_problem(space)
        if problem:
            raise IncompatiblePair(problem)

    @classmethod
    def check_compatible(cls, provides: frozenset[str], algo: str) -> None:
        missing = cls.requires - provides
        if missing:
            raise IncompatiblePair(
                f"selector {cls.name!r} needs {', '.join(sorted(missing))}, which Stage-1 method {algo!r} "
                "does not learn; pick a selector such as 'valid'"
            )

    def __call__(self, ctx: SelectionContext, rng: np.random.Generator) -> Selection:
        self.check_compatible(ctx.run.provides, ctx.run.algo)
        self.check_space(ctx.space)
        return self.select(ctx, rng)

    @abc.abstractmethod
    def select(self, ctx: SelectionContext, rng: np.random.Generator) -> Selection: ...

    @staticmethod
    def selection(ctx: SelectionContext, index: int, **details: Any) -> Selection:
        """The selection of candidate ``index`` (into :attr:`SelectionContext.archs`)."""
        if ctx.gt is None:
            return Selection(arch=ctx.space.format(ctx.archs[int(index)]), index=None, test_acc=None, details=details)
        acc = float(ctx.gt.accuracy(ctx.run.dataset, ctx.profile.gt_split, "stage2")[index])
        return Selection(arch=ctx.gt.strings[index], index=int(index), test_acc=acc, details=details)

    @classmethod
    def selection_of(cls, ctx: SelectionContext, arch, **details: Any) -> Selection:
        """The selection of the arch tuple ``arch`` (prune, perturb)."""
        if ctx.gt is None:
            return Selection(arch=ctx.space.format(arch), index=None, test_acc=None, details=details)
        return cls.selection(ctx, ctx.gt.index_of(arch), **details)

SELECTORS.base = Selector


def pick_best(space: SearchSpace, archs: np.ndarray, scores: np.ndarray) -> tuple[int, str | None]:
    """Position of the winning candidate and the fallback used (None normally); see the module doc."""
    s = np.asarray(scores, dtype=np.float64)
    connected = np.array([not space.is_zero_output(tuple(int(v) for v in a)) for a in archs], dtype=bool)
    ok = np.isfinite(s) & connected
    if ok.any():
        return int(np.argmax(np.where(ok, s, -np.inf))), None  # first index on ties
    if connected.any():
        return int(np.argmax(connected)), "no finite score on a connected candidate: first connected candidate"
    return 0, "every candidate is zero-output: first candidate"


@dataclass(frozen=True, kw_only=True)
class SamplingConfig(SelectorConfig):
    num_samples: int = 100


class SamplingSelector(Selector):
    """Score the shared candidate set with :meth:`measure` and keep the best (protocol §5.4)."""

    samples = True
    Config = SamplingConfig

    @abc.abstractmethod
    def measure(self, ctx: SelectionContext, idx: np.ndarray) -> np.ndarray:
        """One score per candidate in ``idx`` (indices into ``ctx.archs``; higher is better; NaN = undefined)."""

    def measure_info(self, ctx: SelectionContext) -> dict[str, Any]:
        """The measure's settings, recorded in the selection's details."""
        return {}

    def zero_propagates(self, ctx: SelectionContext) -> bool:
        """Whether the measure is a function of the zero-propagating functional class (see
        :meth:`SearchSpace.functional_key`); False: only of the reachability class."""
        return True

    def select(self, ctx: SelectionContext, rng: np.random.Generator) -> Selection:
        idx = ctx.candidates(self.config.num_samples)
        scores = self.measure(ctx, idx)
        best, fallback = pick_best(ctx.space, ctx.archs[idx], scores)
        # without a table the indices point into this context's pool: record the archs themselves too
        extra = {} if ctx.gt is not None else {"candidate_archs": [ctx.space.format(a) for a in ctx.archs[idx]]}
        return self.selection(ctx, int(idx[best]), score=float(scores[best]), candidates=idx.tolist(),
                              scores=scores.tolist(), distribution=ctx.distribution, fallback=fallback,
                              **extra, **self.measure_info(ctx))
