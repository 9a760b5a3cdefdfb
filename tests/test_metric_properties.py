"""Property tests for ``supernetbench.harness.metrics`` (hypothesis; small N, fast).

Profiles (``ci``/``dev``) come from ``tests/conftest.py``; here only ``max_examples`` is set.
Float sums are compared with ``atol=1e-12``; anything built from integer counts exactly.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from supernetbench.harness import metrics as M

try:  # tests/ as a package (tests/__init__.py) or as a plain directory on sys.path
    from tests import strategies as sst
except ImportError:  # pragma: no cover - depends on how pytest was started
    import strategies as sst

ATOL = 1e-12
# deadline=None: the first example pays scipy's lazy import (~0.5 s)
PROPERTY_SETTINGS = settings(max_examples=60, deadline=None)

INCREASING_TRANSFORMS = {
    "affine": lambda a: 3.0 * a - 7.0,
    "exp": lambda a: np.exp(a / 20.0),
    "cube": lambda a: (a - 50.0) ** 3,
    "tanh": lambda a: np.tanh((a - 50.0) / 25.0),
}


@st.composite
def _accs_scores_group(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int]:
    acc, group_size = draw(sst.grouped_accuracies())
    return acc, draw(sst.score_arrays(acc.size)), group_size


@st.composite
def _accs_probs_group(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int]:
    acc, group_size = draw(sst.grouped_accuracies())
    return acc, draw(sst.probability_vectors(acc.size)), group_size


@st.composite
def _paired_scores(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    x = draw(sst.accuracy_arrays(max_size=60))
    y = draw(sst.score_arrays(x.size))
    assume(np.ptp(x) > 0 and np.ptp(y) > 0)
    return x, y


# ------------------------------------------------------------------------------------------
# threshold groups, a1, a2


@PROPERTY_SETTINGS
@given(sst.grouped_accuracies())
def test_groups_are_ordered_by_error(case: tuple[np.ndarray, int]) -> None:
    """Groups lie in 0..G-1, are monotone in the error and put equal errors together."""
    acc, group_size = case
    g = M.threshold_groups(acc, group_size)
    assert g.min() >= 0 and g.max() <= acc.size // group_size - 1
    order = np.argsort(-acc, kind="stable")
    assert (np.diff(g[order]) >= 0).all()
    for value in np.unique(acc):
        assert np.unique(g[acc == value]).size == 1
    # |T_j| <= group_size * (j + 1) below the last level (ties only push archs to later
    # groups); the last level holds everything, including the N % group_size remainder
    sizes = np.cumsum(np.bincount(g, minlength=acc.size // group_size))
    assert (sizes[:-1] <= group_size * (np.arange(sizes.size - 1) + 1)).all()
    assert sizes[-1] == acc.size


@PROPERTY_SETTINGS
@given(sst.grouped_accuracies(), st.sampled_from(sorted(INCREASING_TRANSFORMS)))
def test_perfect_ranking_has_top_id_rate_one(case: tuple[np.ndarray, int], transform: str) -> None:
    """Scores = test accuracy, or any strictly increasing transform of it: a1 = 1 at every level
    with a non-empty T_j (NaN where more than group_size archs tie at the top)."""
    acc, group_size = case
    sizes = M.random_baseline(acc, group_size) * acc.size
    for scores in (acc, INCREASING_TRANSFORMS[transform](acc)):
        a1 = M.top_id_rate(acc, scores, group_size)
        np.testing.assert_array_equal(a1[sizes > 0], 1.0)
        assert np.isnan(a1[sizes == 0]).all()


@PROPERTY_SETTINGS
@given(_accs_scores_group())
def test_top_id_rate_bounds(case: tuple[np.ndarray, np.ndarray, int]) -> None:
    acc, scores, group_size = case
    a1 = M.top_id_rate(acc, scores, group_size)
    assert a1.shape == (acc.size // group_size,)
    finite = a1[~np.isnan(a1)]
    assert ((finite >= 0) & (finite <= 1)).all()
    assert a1[-1] == 1.0  # T and V hold every architecture at the last level


@PROPERTY_SETTINGS
@given(_accs_probs_group())
def test_sampling_probability_monotone_and_ends_at_one(case: tuple[np.ndarray, np.ndarray, int]) -> None:
    acc, probs, group_size = case
    a2 = M.cumulative_sampling_probability(acc, probs, group_size)
    assert a2.shape == (acc.size // group_size,)
    assert (np.diff(a2) >= 0).all()
    assert a2[0] >= 0
    assert a2[-1] == pytest.approx(1.0, abs=ATOL)


@PROPERTY_SETTINGS
@given(sst.grouped_accuracies())
def test_uniform_probs_give_random_baseline(case: tuple[np.ndarray, int]) -> None:
    """a2 of the uniform distribution equals |T_j| / N (up to float summation error)."""
    acc, group_size = case
    uniform = np.full(acc.size, 1.0 / acc.size)
    np.testing.assert_allclose(
        M.cumulative_sampling_probability(acc, uniform, group_size),
        M.random_baseline(acc, group_size),
        rtol=0,
        atol=ATOL,
    )


@PROPERTY_SETTINGS
@given(st.data())
def test_joint_permutation_invariance(data: st.DataObject) -> None:
    """Relabelling the architectures (same permutation for every input) changes no metric;
    ties allowed, since groups, a1, a2 and the rank correlations do not depend on index order."""
    acc, scores, group_size = data.draw(_accs_scores_group())
    probs = data.draw(sst.probability_vectors(acc.size))
    perm = data.draw(sst.permutations_of(acc.size))
    pa, ps, pp = acc[perm], scores[perm], probs[perm]

    np.testing.assert_array_equal(
        M.threshold_groups(pa, group_size), M.threshold_groups(acc, group_size)[perm]
    )
    np.testing.assert_array_equal(M.threshold_values(pa, group_size), M.threshold_values(acc, group_size))
    np.testing.assert_array_equal(M.top_id_rate(pa, ps, group_size), M.top_id_rate(acc, scores, group_size))
    np.testing.assert_array_equal(M.random_baseline(pa, group_size), M.random_baseline(acc, group_size))
    np.testing.assert_allclose(
        M.cumulative_sampling_probability(pa, pp, group_size),
        M.cumulative_sampling_probability(acc, probs, group_size),
        rtol=0,
        atol=ATOL,
    )
    if np.ptp(acc) > 0 and np.ptp(scores) > 0:
        assert M.spearman(pa, ps) == pytest.approx(M.spearman(acc, scores), abs=1e-10)
        assert M.kendall_tau(pa, ps) == pytest.approx(M.kendall_tau(acc, scores), abs=1e-10)


@PROPERTY_SETTINGS
@given(st.data())
def test_permutation_invariance_without_ties(data: st.DataObject) -> None:
    """Metrics that break ties by index are permutation-equivariant when there are no ties."""
    acc = data.draw(sst.distinct_accuracy_arrays())
    scores = data.draw(sst.distinct_accuracy_arrays(min_size=acc.size, max_size=acc.size))
    perm = data.draw(sst.permutations_of(acc.size))
    frac = data.draw(st.sampled_from([0.01, 0.1, 0.25, 0.5, 1.0]))
    assert M.precision_at_top(acc[perm], scores[perm], frac) == M.precision_at_top(acc, scores, frac)
    np.testing.assert_array_equal(M.rank_linear_probs(acc[perm]), M.rank_linear_probs(acc)[perm])


# ------------------------------------------------------------------------------------------
# rank-linear sampler


@PROPERTY_SETTINGS
@given(sst.accuracy_arrays())
def test_rank_linear_probs_is_a_distribution(acc: np.ndarray) -> None:
    p = M.rank_linear_probs(acc)
    n = acc.size
    assert p.sum() == pytest.approx(1.0, abs=ATOL)
    assert p.min() == 0.0 and p.max() == pytest.approx(2.0 / n, abs=ATOL)
    # weights are the positions 0..N-1, each used once
    np.testing.assert_array_equal(np.sort(np.rint(p * (n * (n - 1) / 2))), np.arange(n))
    # never gives a strictly worse arch more mass
    order = np.argsort(acc, kind="stable")
    assert (np.diff(p[order]) > 0).all()


@PROPERTY_SETTINGS
@given(st.data())
def test_rank_linear_top_k_mass(data: st.DataObject) -> None:
    acc = data.draw(sst.distinct_accuracy_arrays())
    n = acc.size
    k = data.draw(st.integers(1, n))
    top = np.argsort(-acc)[:k]
    mass = M.rank_linear_probs(acc)[top].sum()
    assert mass == pytest.approx(k * (2 * n - k - 1) / (n * (n - 1)), abs=ATOL)


# ------------------------------------------------------------------------------------------
# rank correlations


@PROPERTY_SETTINGS
@given(_paired_scores())
def test_correlations_bounded_and_symmetric(pair: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = pair
    for corr in (M.spearman, M.kendall_tau):
        r = corr(x, y)
        assert -1.0 - ATOL <= r <= 1.0 + ATOL
        assert corr(y, x) == pytest.approx(r, abs=ATOL)


@PROPERTY_SETTINGS
@given(sst.accuracy_arrays(max_size=60), st.sampled_from(sorted(INCREASING_TRANSFORMS)))
def test_correlation_identities(x: np.ndarray, transform: str) -> None:
    """tau(x, x) = 1, tau(x, -x) = -1, unchanged under strictly increasing transforms."""
    assume(np.ptp(x) > 0)
    fx = INCREASING_TRANSFORMS[transform](x)
    for corr in (M.spearman, M.kendall_tau):
        assert corr(x, x) == pytest.approx(1.0, abs=ATOL)
        assert corr(x, -x) == pytest.approx(-1.0, abs=ATOL)
        assert corr(x, fx) == pytest.approx(1.0, abs=ATOL)


@PROPERTY_SETTINGS
@given(_paired_scores(), st.sampled_from(sorted(INCREASING_TRANSFORMS)))
def test_correlations_invariant_to_increasing_transform(
    pair: tuple[np.ndarray, np.ndarray], transform: str
) -> None:
    x, y = pair
    fx = INCREASING_TRANSFORMS[transform](x)
    assert M.spearman(fx, y) == pytest.approx(M.spearman(x, y), abs=1e-10)
    assert M.kendall_tau(fx, y) == pytest.approx(M.kendall_tau(x, y), abs=1e-10)


@PROPERTY_SETTINGS
@given(_paired_scores())
def test_precision_at_top_bounds(pair: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = pair
    assert M.precision_at_top(x, x, 0.3) == 1.0
    assert 0.0 <= M.precision_at_top(x, y, 0.3) <= 1.0
    assert M.precision_at_top(x, y, 1.0) == 1.0


# ------------------------------------------------------------ precision / adaptive agreement
@PROPERTY_SETTINGS
@given(_accs_scores_group(), st.sampled_from(sorted(INCREASING_TRANSFORMS)))
def test_precision_agreement_is_perfect_under_increasing_transforms(data, transform):
    """A score vector and any strictly increasing transform of it rank the archs alike: Kendall 1 and
    the same top score groups, hence the same a1."""
    acc, scores, group_size = data
    assume(np.unique(scores).size > 1)
    other = INCREASING_TRANSFORMS[transform](scores)
    assume(np.unique(other).size == np.unique(scores).size)  # the transform kept every distinct value distinct
    out = M.precision_agreement(scores, other, acc, group_size=group_size)
    assert out["kendall"] == pytest.approx(1.0)
    assert out["top_group_identity"] == [1.0] * len(out["top_group_identity"])
    np.testing.assert_array_equal(out["a1_reference"], out["a1_other"])


@PROPERTY_SETTINGS
@given(_accs_scores_group(), st.integers(0, 2**32 - 1))
def test_precision_agreement_of_a_reversal_is_minus_one(data, seed):
    acc, _, group_size = data
    scores = 1.0 + np.random.default_rng(seed).permutation(acc.size)  # distinct, non-zero scores
    out = M.precision_agreement(scores, -scores, group_size=group_size)
    assert out["kendall"] == pytest.approx(-1.0) and out["identical_fraction"] == 0.0
