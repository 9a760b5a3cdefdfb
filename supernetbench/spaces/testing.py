"""Contract tests every registered search space must pass (optuna ``testing/pytest_storages.py`` style).

A test module subclasses :class:`SearchSpaceContract` and provides a ``space`` fixture (an instance)::

    class TestMySpace(SearchSpaceContract):
        @pytest.fixture
        def space(self):
            return get_space("myspace")

Each check is small and seeded (seconds on CPU at ``C=2, N=1``). It imports pytest: only tests import it.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ..harness.profiles import get_profile
from .base import ArchStringError, SearchSpace

#: the tiny network every supernet check builds (float64: exact comparisons)
TINY = get_profile("smoke", {"C": 2, "N": 1})
BATCH = 2


def _random_logits(space: SearchSpace, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {k: rng.normal(0.0, 1.0, shape) for k, shape in space.weight_shapes.items()}


def _archs(space: SearchSpace, n: int, seed: int = 0) -> list[tuple[int, ...]]:
    g = torch.Generator().manual_seed(seed)
    return [space.random_arch(g) for _ in range(n)]


def _weights(w: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.as_tensor(v, dtype=TINY.torch_dtype) for k, v in w.items()}


class SearchSpaceContract:
    """What generic code relies on; see :class:`~.base.SearchSpace`."""

    @pytest.fixture
    def space(self) -> SearchSpace:  # pragma: no cover - overridden
        raise NotImplementedError

    @pytest.fixture
    def supernet(self, space):
        torch.manual_seed(0)
        return space.build_supernet(TINY, 10, TINY.torch_dtype)

    # ------------------------------------------------------------------ strings and validation
    def test_declares_known_capabilities(self, space):
        from .base import CAPABILITIES

        assert set(space.capabilities) <= set(CAPABILITIES), set(space.capabilities) - set(CAPABILITIES)
        assert space.name and len(space.ops) >= 2 and space.cell_types

    def test_parse_format_round_trip(self, space):
        for a in _archs(space, 25):
            s = space.format(a)
            assert isinstance(s, str) and space.parse(s) == a and space.format(space.parse(s)) == s

    @pytest.mark.parametrize("bad", ["", "nonsense", "|x~0|", "+" * 5, "\n"])
    def test_bad_string_is_one_clear_error(self, space, bad):
        with pytest.raises(ArchStringError) as e:
            space.parse(bad)
        assert "\n" not in str(e.value) and len(str(e.value)) < 400

    def test_bad_tuple_is_an_error(self, space):
        good = _archs(space, 1)[0]
        for bad in (good[:-1], good + (0,), (len(space.ops),) * len(good), (-1,) * len(good)):
            with pytest.raises(ArchStringError):
                space.format(bad)

    # ------------------------------------------------------------------ arch weights
    def test_weight_shapes_follow_edges(self, space):
        """One row per edge, one column per candidate op of that edge (``op_names``; the global
        ``ops`` list where every edge has the same candidates, as in NB201)."""
        for k, (n_edges, n_ops) in space.weight_shapes.items():
            assert n_edges == len(space.edges(k))
            assert all(n_ops == len(space.op_names(k, e)) for e in range(n_edges))
            assert all(frm < to for to, frm in space.edges(k)), "edges must run forward (to > from)"

    def test_discretize_of_a_one_hot_is_the_arch(self, space):
        """The discretized one-hot is the same cell: equal one-hot weights (an arch may write a
        node's inputs in either order, as DARTS' genotypes do; where the one-hot is injective, as
        in NB201, this is equality of the archs)."""
        for a in _archs(space, 20, seed=1):
            d = space.discretize(space.one_hot(a))
            assert space.validate(d) == d
            got, want = space.one_hot(d), space.one_hot(a)
            assert set(got) == set(want) and all(np.array_equal(got[k], want[k]) for k in want)

    def test_projection_plan_covers_every_edge_once(self, space):
        """``perturb``'s plan (:meth:`SearchSpace.projection_plan`): one op step per weight row of
        every cell type; node (topology) steps only on a ``topology`` space, one per listed node and
        after that cell type's op steps; a listed node's rows are its own in-edges, more than it
        keeps; every op of a discrete arch is a ``discrete_op``."""
        plan = space.projection_plan()
        flat = [step for event in plan.events for step in event]
        assert plan.events and all(plan.events) and {kind for kind, _ in flat} <= {"op", "edge"}
        assert {k for _, k in flat} <= set(space.cell_types)
        for k, (n_edges, _) in space.weight_shapes.items():
            nodes = plan.nodes.get(k, {})
            assert plan.steps("op", k) == n_edges and plan.steps("edge", k) == len(nodes)
            for node, rows in nodes.items():
                assert len(set(rows)) == len(rows) > plan.keep >= 1
                assert all(space.edges(k)[r][0] == node for r in rows)
            if nodes:
                assert space.has("topology")
                last_op = max(i for i, s in enumerate(flat) if s == ("op", k))
                assert min(i for i, s in enumerate(flat) if s == ("edge", k)) > last_op
        assert plan.tune_epochs(0) == 0 and plan.tune_epochs(1) >= 1
        for a in _archs(space, 10, seed=4):
            for k, w in space.one_hot(a).items():
                assert all(space.discrete_op(k, int(e), int(o)) for e, o in zip(*np.nonzero(w)))

    def test_random_arch_is_valid_and_seeded(self, space):
        a, b = _archs(space, 30, seed=2), _archs(space, 30, seed=2)
        assert a == b and all(space.validate(x) == x for x in a)
        assert len(set(a)) > 1, "random_arch must not be constant"

    def test_sample_shape_and_determinism(self, space):
        logits = _random_logits(space, np.random.default_rng(0))
        a = space.sample(logits, 64, np.random.default_rng(1))
        b = space.sample(logits, 64, np.random.default_rng(1))
        assert a.shape == (64, space.arch_length) and np.issubdtype(a.dtype, np.integer)
        assert np.array_equal(a, b)
        assert all(space.validate(x) == tuple(int(v) for v in x) for x in a)

    def test_sample_law_matches_arch_probs(self, space):
        """Empirical marginals of ``sample`` = marginals of :meth:`arch_probs` (enumerable spaces:
        the law summed exactly over every arch), within 5 standard errors."""
        if not space.has("enumerable"):
            pytest.skip(f"space {space.name!r} is not enumerable: its law is checked by its own tests")
        rng = np.random.default_rng(3)
        logits = _random_logits(space, rng)
        probs = {k: np.exp(v) / np.exp(v).sum(axis=1, keepdims=True) for k, v in logits.items()}
        archs = space.all_archs().astype(np.int64)
        law = space.arch_probs(archs, probs)
        assert law.sum() == pytest.approx(1.0, abs=1e-9)
        n = 20_000
        draws = space.sample(logits, n, rng)
        for pos in range(space.arch_length):
            want = np.bincount(archs[:, pos], weights=law, minlength=len(space.ops))
            got = np.bincount(draws[:, pos], minlength=len(space.ops)) / n
            tol = 5 * np.sqrt(want * (1 - want) / n) + 1e-12
            assert np.all(np.abs(got - want) <= tol), (pos, got, want)

    # ------------------------------------------------------------------ the supernet
    def test_supernet_accepts_weight_shapes(self, space, supernet):
        assert supernet.space.name == space.name
        x = torch.randn(BATCH, 3, 32, 32, dtype=TINY.torch_dtype)
        w = {k: np.full(shape, 1.0 / shape[1]) for k, shape in space.weight_shapes.items()}
        out = supernet(x, _weights(w))
        assert out.shape == (BATCH, 10) and torch.isfinite(out).all()
        bad = {k: np.ones((shape[0] + 1, shape[1])) for k, shape in space.weight_shapes.items()}
        with pytest.raises(ValueError):
            supernet(x, _weights(bad))

    def test_single_path_equals_one_hot_mixture_on_every_cell_type(self, space, supernet):
        """For each cell type: a one-hot mixture on that type (others too) computes the single path.

        Every pass starts from the same global torch seed: a space may have a stochastic op
        (RobustDARTS S4's ``noise``), which then draws the same numbers on both paths."""
        supernet.train()
        x = torch.randn(BATCH, 3, 32, 32, dtype=TINY.torch_dtype, generator=torch.Generator().manual_seed(4))

        def run(**kw):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(6)
                return supernet(x, **kw)

        for a in _archs(space, 3, seed=5):
            single = run(arch=a)
            mixed = run(weights=_weights(space.one_hot(a)))
            torch.testing.assert_close(single, mixed, rtol=1e-10, atol=1e-10)
        uniform = {k: np.full(shape, 1.0 / shape[1]) for k, shape in space.weight_shapes.items()}
        for k, (n_edges, n_ops) in space.weight_shapes.items():  # every cell type's weights are used
            w2 = {**uniform, k: np.eye(n_ops)[np.full(n_edges, 1)]}
            assert not torch.allclose(run(weights=_weights(uniform)), run(weights=_weights(w2))), k
