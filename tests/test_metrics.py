"""Metrics checked against independent computations on fixed, seeded inputs.

Oracles: slow pure-Python implementations written from the protocol's wording (``bisect.bisect``
over sorted error lists, python sets for T_j / V_j), ``scipy.stats``, an O(N^2) Kendall loop,
and the paper's toy example (App. C.1). Tolerances: exact equality for anything built from
integer counts (groups, a1, random baseline); ``atol=1e-12`` for sums of floats (a2, probs),
whose summation order differs between the fast and the slow path.
"""
from __future__ import annotations

import bisect
import csv
import doctest
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
from scipy import stats

from supernetbench.harness import metrics as M

FLOAT_ATOL = 1e-12
NB201_CSV = Path("/work/shared/data/nb201/nats_tss_200ep_test_acc.csv")
NB201_COLUMNS = (
    "CIFAR10TestAccuracy200Epochs",
    "CIFAR100TestAccuracy200Epochs",
    "ImageNetTestAccuracy200Epochs",
)


# ------------------------------------------------------------------------------------------
# slow reference implementations (deliberately obvious; no numpy in the core loops)


def slow_groups(errors: list[float], group_size: int) -> tuple[list[int], list[float]]:
    s = sorted(errors)
    thresholds = [s[group_size * j] for j in range(1, len(errors) // group_size)]
    return [bisect.bisect(thresholds, e) for e in errors], thresholds


def slow_levels(test_acc: list[float], group_size: int) -> list[set[int]]:
    g, _ = slow_groups([100 - a for a in test_acc], group_size)
    n_groups = len(test_acc) // group_size
    return [{i for i, gi in enumerate(g) if gi <= j} for j in range(n_groups)]


def slow_a1(test_acc: list[float], scores: list[float], group_size: int) -> list[float]:
    T = slow_levels(test_acc, group_size)
    v, _ = slow_groups([-x for x in scores], group_size)
    out = []
    for j, T_j in enumerate(T):
        V_j = {i for i, vi in enumerate(v) if vi <= j}
        out.append(len(T_j & V_j) / len(T_j) if T_j else math.nan)
    return out


def slow_a2(test_acc: list[float], probs: list[float], group_size: int) -> list[float]:
    return [math.fsum(probs[i] for i in T_j) for T_j in slow_levels(test_acc, group_size)]


def slow_baseline(test_acc: list[float], group_size: int) -> list[float]:
    return [len(T_j) / len(test_acc) for T_j in slow_levels(test_acc, group_size)]


def slow_kendall_tau_b(x: list[float], y: list[float]) -> float:
    concordant = discordant = ties_x = ties_y = 0
    n = len(x)
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = x[i] - x[j], y[i] - y[j]
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                ties_x += 1
            elif dy == 0:
                ties_y += 1
            elif (dx > 0) == (dy > 0):
                concordant += 1
            else:
                discordant += 1
    denom = math.sqrt((concordant + discordant + ties_x) * (concordant + discordant + ties_y))
    return (concordant - discordant) / denom


def slow_top(values: list[float], k: int) -> set[int]:
    return set(sorted(range(len(values)), key=lambda i: (-values[i], i))[:k])


# ------------------------------------------------------------------------------------------
# seeded inputs


class _Input(NamedTuple):
    test_acc: np.ndarray
    scores: np.ndarray
    probs: np.ndarray
    group_size: int


def _make_input(seed: int, n: int, group_size: int) -> _Input:
    rng = np.random.default_rng(seed)
    acc = np.clip(np.round(rng.normal(85.0, 6.0, n), 1), 10.0, 94.4)  # 0.1 grid: many ties
    acc[rng.choice(n, size=n // 20, replace=False)] = 10.0  # a block of "broken" archs
    scores = np.round(acc + rng.normal(0.0, 4.0, n), 1)
    probs = rng.dirichlet(np.full(n, 0.3))
    return _Input(acc, scores, probs, group_size)


_INPUTS = {
    "n1003-g40": _make_input(1, 1003, 40),
    "n500-g20": _make_input(2, 500, 20),
    "n257-g7": _make_input(3, 257, 7),
    "n40-g40": _make_input(4, 40, 40),
}


@pytest.fixture(params=sorted(_INPUTS), name="inp")
def _inp(request: pytest.FixtureRequest) -> _Input:
    return _INPUTS[request.param]


# ------------------------------------------------------------------------------------------
# fast path == slow path


def test_threshold_groups_match_bisect(inp: _Input) -> None:
    expected_g, expected_t = slow_groups([100 - a for a in inp.test_acc.tolist()], inp.group_size)
    got = M.threshold_groups(inp.test_acc, inp.group_size)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, expected_g)
    np.testing.assert_array_equal(M.threshold_values(inp.test_acc, inp.group_size), expected_t)
    assert got.max() <= len(inp.test_acc) // inp.group_size - 1


def test_top_id_rate_matches_sets(inp: _Input) -> None:
    expected = slow_a1(inp.test_acc.tolist(), inp.scores.tolist(), inp.group_size)
    np.testing.assert_array_equal(M.top_id_rate(inp.test_acc, inp.scores, inp.group_size), expected)


def test_cumulative_sampling_probability_matches_sets(inp: _Input) -> None:
    expected = slow_a2(inp.test_acc.tolist(), inp.probs.tolist(), inp.group_size)
    got = M.cumulative_sampling_probability(inp.test_acc, inp.probs, inp.group_size)
    np.testing.assert_allclose(got, expected, rtol=0, atol=FLOAT_ATOL)


def test_random_baseline_matches_sets(inp: _Input) -> None:
    expected = slow_baseline(inp.test_acc.tolist(), inp.group_size)
    np.testing.assert_array_equal(M.random_baseline(inp.test_acc, inp.group_size), expected)


def test_empty_top_level_is_nan() -> None:
    """More than group_size archs tie at the best error: T_0 is empty and a1_0 is undefined."""
    acc = np.array([90.0, 90.0, 90.0, 80.0, 70.0, 60.0])
    assert M.threshold_groups(acc, 2).tolist() == [1, 1, 1, 1, 2, 2]
    a1 = M.top_id_rate(acc, acc, 2)
    assert math.isnan(a1[0])
    np.testing.assert_array_equal(a1[1:], [1.0, 1.0])
    assert M.random_baseline(acc, 2).tolist() == [0.0, 4 / 6, 1.0]


def test_single_group_when_n_below_two_groups() -> None:
    acc = [94.0, 93.0, 92.0]
    assert M.threshold_values(acc, 2).size == 0
    assert M.threshold_groups(acc, 2).tolist() == [0, 0, 0]
    assert M.top_id_rate(acc, [1.0, 3.0, 2.0], 2).tolist() == [1.0]


# ------------------------------------------------------------------------------------------
# correlations and precision@top


def test_spearman_against_scipy_and_ranks(inp: _Input) -> None:
    got = M.spearman(inp.test_acc, inp.scores)
    assert got == pytest.approx(stats.spearmanr(inp.test_acc, inp.scores).statistic, abs=FLOAT_ATOL)
    ranks = np.corrcoef(stats.rankdata(inp.test_acc), stats.rankdata(inp.scores))[0, 1]
    assert got == pytest.approx(ranks, abs=1e-10)


def test_kendall_tau_b_against_scipy_and_pair_loop() -> None:
    inp = _INPUTS["n257-g7"]
    x, y = inp.test_acc[:80], inp.scores[:80]  # ties in both
    got = M.kendall_tau(x, y)
    assert got == pytest.approx(stats.kendalltau(x, y, variant="b").statistic, abs=FLOAT_ATOL)
    assert got == pytest.approx(slow_kendall_tau_b(x.tolist(), y.tolist()), abs=1e-10)


def test_correlations_of_constant_input_are_nan() -> None:
    assert math.isnan(M.spearman([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))
    assert math.isnan(M.kendall_tau([1.0, 2.0, 3.0], [5.0, 5.0, 5.0]))


@pytest.mark.parametrize("frac", [0.01, 0.04, 0.1, 0.5, 1.0])
def test_precision_at_top_against_sorted(inp: _Input, frac: float) -> None:
    n = len(inp.test_acc)
    k = max(1, math.ceil(round(frac * n, 9)))
    expected = len(slow_top(inp.test_acc.tolist(), k) & slow_top(inp.scores.tolist(), k)) / k
    assert M.precision_at_top(inp.test_acc, inp.scores, frac) == expected


def test_precision_at_top_k_rounding_and_ties() -> None:
    n = 15_625
    acc = np.arange(n, dtype=np.float64)
    # 0.04 * 15625 must select exactly k = 625: swapping ranks 625 and 626 then costs one hit
    # (with k = 624 or 626 the swap would not matter)
    scores = acc.copy()
    scores[[n - 625, n - 626]] = scores[[n - 626, n - 625]]
    assert M.precision_at_top(acc, scores, 0.04) == 624 / 625
    # ties are broken by the lower index: all-equal scores predict indices 0..k-1
    assert M.precision_at_top([1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0], 0.5) == 0.0
    assert M.precision_at_top([4.0, 3.0, 2.0, 1.0], [0.0, 0.0, 0.0, 0.0], 0.5) == 1.0


# ------------------------------------------------------------------------------------------
# the paper's toy example (App. C.1): N = 15,625, group 625


def _toy(converse: bool) -> tuple[np.ndarray, np.ndarray]:
    """True ranks r = 1..N (1 = best) in a shuffled index order, and predicted scores.

    Algorithm 1: the top 625 ranked correctly, the bottom 15,000 in reverse order.
    Algorithm 2 (converse): correct except the first 625 are, in reverse order, assigned
    the ranks of the last 625 (rank 1 -> N, rank 625 -> N - 624; the rest move up by 625).
    """
    n, top = 15_625, 625
    rng = np.random.default_rng(625)
    true_rank = rng.permutation(n) + 1  # arch i has true rank true_rank[i]
    test_acc = 94.0 - 0.005 * (true_rank - 1)  # distinct, best = 94.0
    r = true_rank
    if converse:
        pred_rank = np.where(r <= top, n + 1 - r, r - top)
    else:
        pred_rank = np.where(r <= top, r, n + top + 1 - r)
    assert sorted(pred_rank.tolist()) == list(range(1, n + 1))  # a valid ranking
    scores = 100.0 * (n + 1 - pred_rank) / n  # accuracy-like, higher is better
    return test_acc, scores


def test_toy_example_correlations_and_a1() -> None:
    for converse, sign in ((False, -1.0), (True, 1.0)):
        acc, scores = _toy(converse)
        assert round(M.spearman(acc, scores), 4) == sign * 0.7695
        assert round(M.kendall_tau(acc, scores), 4) == sign * 0.8432
        a1 = M.top_id_rate(acc, scores, 625)
        j = np.arange(25)
        if converse:
            # V_j = true ranks 626 .. 625 (j + 2): the top 625 are never found below level 24
            expected = np.where(j < 24, j / (j + 1), 1.0)
        else:
            # V_j = true top 625 + true bottom 625 j; these overlap T_j from j = 13 on
            expected = (625 + np.maximum(0, 625 * (2 * j - 24))) / (625 * (j + 1))
        np.testing.assert_allclose(a1, expected, rtol=0, atol=FLOAT_ATOL)
        assert a1[0] == (0.0 if converse else 1.0)
        np.testing.assert_array_equal(a1, slow_a1(acc.tolist(), scores.tolist(), 625))


# ------------------------------------------------------------------------------------------
# rank-linear sampler


def test_rank_linear_probs_against_loop(inp: _Input) -> None:
    acc = inp.test_acc.tolist()
    n = len(acc)
    ascending = sorted(range(n), key=lambda i: (acc[i], i))  # stable: ties by index
    expected = [0.0] * n
    for q, i in enumerate(ascending):
        expected[i] = q / (n * (n - 1) / 2)
    got = M.rank_linear_probs(inp.test_acc)
    np.testing.assert_allclose(got, expected, rtol=0, atol=FLOAT_ATOL)
    assert got.sum() == pytest.approx(1.0, abs=FLOAT_ATOL)


def test_rank_linear_probs_nb201_masses() -> None:
    """Protocol §3.2: best 1.28e-4, worst 0, top-625/1250/3125 masses 7.84 / 15.36 / 36.0 %."""
    n = 15_625
    acc = np.random.default_rng(7).permutation(n) / 100.0
    p = M.rank_linear_probs(acc)
    assert p.max() == pytest.approx(2 / n, rel=1e-12)
    assert round(p.max(), 6) == 0.000128
    assert p.min() == 0.0 and p[np.argmin(acc)] == 0.0
    desc = np.sort(p)[::-1]
    for k, pct in ((625, 7.84), (1250, 15.36), (3125, 36.0)):
        mass = desc[:k].sum()
        assert mass == pytest.approx(k * (2 * n - k - 1) / (n * (n - 1)), abs=FLOAT_ATOL)
        assert round(100 * mass, 2) == pct


# ------------------------------------------------------------------------------------------
# Stage-2 statistics


def test_reliance_statistics_by_hand() -> None:
    selected = {
        "N_U": [90.0, 91.0, 92.0],
        "N_I": [91.0, 91.0, 94.0],
        "R_U": [93.0, 92.0, 92.0],
        "R_I": [93.5, 93.0, 92.5],
    }
    got = M.reliance_statistics(selected)
    assert list(got) == ["N_I-N_U", "R_I-R_U", "R_U-N_U", "R_I-N_I"]
    expected_diffs = {
        "N_I-N_U": [1.0, 0.0, 2.0],
        "R_I-R_U": [0.5, 1.0, 0.5],
        "R_U-N_U": [3.0, 1.0, 0.0],
        "R_I-N_I": [2.5, 2.0, -1.5],
    }
    for name, diffs in expected_diffs.items():
        mean = sum(diffs) / 3
        std = math.sqrt(sum((d - mean) ** 2 for d in diffs) / 3)  # population std
        assert got[name].mean == pytest.approx(mean, abs=FLOAT_ATOL)
        assert got[name].std == pytest.approx(std, abs=FLOAT_ATOL)


def test_reliance_statistics_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="exactly the keys"):
        M.reliance_statistics({"N_U": [1.0], "N_I": [1.0], "R_U": [1.0]})
    with pytest.raises(ValueError, match="same length"):
        M.reliance_statistics({"N_U": [1.0, 2.0], "N_I": [1.0], "R_U": [1.0], "R_I": [1.0]})
    with pytest.raises(ValueError, match="NaN"):
        M.reliance_statistics({"N_U": [np.nan], "N_I": [1.0], "R_U": [1.0], "R_I": [1.0]})


def test_mean_std_is_population_std() -> None:
    got = M.mean_std([1.0, 2.0, 3.0, 4.0])
    assert got == M.MeanStd(2.5, math.sqrt(1.25))
    assert M.mean_std([93.0]) == M.MeanStd(93.0, 0.0)
    with pytest.raises(ValueError, match="at least 1"):
        M.mean_std([])


def test_combined_score() -> None:
    assert M.combined_score(1, 1, 1, 1) == 1.0
    # succeeding at one measure and failing the other beats mediocre at both (lower = better)
    assert M.combined_score(1, 1, 3, 3) < M.combined_score(2, 2, 2, 2)
    assert M.combined_score(2, 5, 3, 1) == 2 * 4 * 3 * 3
    np.testing.assert_array_equal(M.combined_score([1, 2], 1, 1, [1, 3]), [1.0, 2 * 2 * 1 * 3])
    with pytest.raises(ValueError, match="ranks >= 1"):
        M.combined_score(0, 1, 1, 1)
    with pytest.raises(ValueError, match="ranks >= 1"):
        M.combined_score(1, np.nan, 1, 1)


# ------------------------------------------------------------------------------------------
# bad input


_GOOD = np.linspace(80.0, 90.0, 10)
_UNIFORM = np.full(10, 0.1)
_CALLS = {
    "threshold_groups": lambda a, b: M.threshold_groups(a, 2),
    "threshold_values": lambda a, b: M.threshold_values(a, 2),
    "random_baseline": lambda a, b: M.random_baseline(a, 2),
    "rank_linear_probs": lambda a, b: M.rank_linear_probs(a),
    "top_id_rate": lambda a, b: M.top_id_rate(a, b, 2),
    "spearman": M.spearman,
    "kendall_tau": M.kendall_tau,
    "precision_at_top": lambda a, b: M.precision_at_top(a, b, 0.5),
}
_PAIRED = ["top_id_rate", "spearman", "kendall_tau", "precision_at_top"]


@pytest.mark.parametrize("name", sorted(_CALLS))
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_non_finite_rejected(name: str, bad: float) -> None:
    a = _GOOD.copy()
    a[3] = bad
    with pytest.raises(ValueError, match="NaN/inf.*index 3"):
        _CALLS[name](a, _GOOD)
    if name in _PAIRED:
        with pytest.raises(ValueError, match="NaN/inf.*index 3"):
            _CALLS[name](_GOOD, a)


@pytest.mark.parametrize("name", sorted(_CALLS))
def test_two_dimensional_rejected(name: str) -> None:
    with pytest.raises(ValueError, match=r"must be 1-D.*\(2, 5\)"):
        _CALLS[name](_GOOD.reshape(2, 5), _GOOD)


@pytest.mark.parametrize("name", _PAIRED)
def test_wrong_length_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="same length.*=10.*=9"):
        _CALLS[name](_GOOD, _GOOD[:9])


@pytest.mark.parametrize("name", sorted(_CALLS))
def test_too_short_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="at least 2"):
        _CALLS[name](_GOOD[:1], _GOOD[:1])


def test_bad_probabilities_rejected() -> None:
    with pytest.raises(ValueError, match="same length"):
        M.cumulative_sampling_probability(_GOOD, np.full(5, 0.2), 2)
    negative = _UNIFORM.copy()
    negative[[0, 1]] = [-0.1, 0.3]
    with pytest.raises(ValueError, match="non-negative.*index 0"):
        M.cumulative_sampling_probability(_GOOD, negative, 2)
    with pytest.raises(ValueError, match="sum to 1"):
        M.cumulative_sampling_probability(_GOOD, _UNIFORM * 1.001, 2)
    with pytest.raises(ValueError, match="NaN/inf"):
        M.cumulative_sampling_probability(_GOOD, np.where(_GOOD > 85, np.nan, 0.2), 2)
    # within the 1e-6 tolerance is accepted and reported as given (no renormalisation)
    a2 = M.cumulative_sampling_probability(_GOOD, _UNIFORM * (1 + 5e-7), 2)
    assert a2[-1] == pytest.approx(1 + 5e-7, abs=FLOAT_ATOL)


def test_bad_group_size_and_frac_rejected() -> None:
    with pytest.raises(ValueError, match="exceeds the number of architectures"):
        M.threshold_groups(_GOOD, 11)
    with pytest.raises(ValueError, match=">= 1"):
        M.top_id_rate(_GOOD, _GOOD, 0)
    with pytest.raises(ValueError, match="must be an int"):
        M.random_baseline(_GOOD, 2.5)
    for frac in (0.0, 1.5, -0.1, True):
        with pytest.raises(ValueError, match=r"frac must be a number in \(0, 1\]"):
            M.precision_at_top(_GOOD, _GOOD, frac)


# ------------------------------------------------------------------------------------------
# metadata and docstring examples


def test_higher_is_better_metadata() -> None:
    assert M.top_id_rate.higher_is_better is True
    assert M.cumulative_sampling_probability.higher_is_better is True
    assert M.spearman.higher_is_better is True
    assert M.kendall_tau.higher_is_better is True
    assert M.precision_at_top.higher_is_better is True
    assert M.combined_score.higher_is_better is False


def test_docstring_examples() -> None:
    result = doctest.testmod(M, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 12
    assert result.failed == 0


def test_every_public_function_has_an_example() -> None:
    for name in M.__all__:
        obj = getattr(M, name)
        if callable(obj) and not isinstance(obj, type):
            assert ">>>" in (obj.__doc__ or ""), name


# ------------------------------------------------------------------------------------------
# real NB201 ground truth


@pytest.fixture(scope="module")
def nb201() -> dict[str, np.ndarray]:
    if not NB201_CSV.exists():
        pytest.skip(reason=f"NB201 ground-truth CSV not found at {NB201_CSV}")
    with NB201_CSV.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return {c: np.array([float(r[c]) for r in rows]) for c in NB201_COLUMNS}


def test_nb201_cifar10_group_semantics(nb201: dict[str, np.ndarray]) -> None:
    acc = nb201["CIFAR10TestAccuracy200Epochs"]
    assert acc.size == 15_625
    g = M.threshold_groups(acc)
    t = M.threshold_values(acc)
    sizes = np.bincount(g)
    assert t.size == 24 and sizes.size == 25 and sizes.sum() == 15_625  # 25 groups, none empty
    assert (sizes > 0).all() and not (sizes == 625).all()
    assert sizes[:3].tolist() == [625, 617, 630]
    errors = 100.0 - acc
    tied_thresholds = 0
    for j, t_j in enumerate(t, start=1):
        tied = errors == t_j
        assert (g[tied] == j).all()  # archs tied with t_j go to the later group j
        assert (g < j).sum() == (errors < t_j).sum() <= 625 * j
        tied_thresholds += tied.sum() > 1
    assert tied_thresholds >= 10
    # the 341 archs at exactly 10.00 % accuracy all share one (the last) group
    broken = acc == 10.0
    assert broken.sum() == 341 and (g[broken] == 24).all()
    np.testing.assert_array_equal(g, slow_groups(errors.tolist(), 625)[0])


@pytest.mark.parametrize("column", NB201_COLUMNS)
def test_nb201_perfect_scores_and_baselines(nb201: dict[str, np.ndarray], column: str) -> None:
    acc = nb201[column]
    np.testing.assert_array_equal(
        M.threshold_groups(acc), slow_groups([100 - a for a in acc.tolist()], 625)[0]
    )
    # scores = test accuracy: the negated-score groups V equal the reference's 100 - acc groups
    np.testing.assert_array_equal(M.top_id_rate(acc, acc), np.ones(25))
    baseline = M.random_baseline(acc)
    ideal = (np.arange(25) + 1) / 25  # |T_j| <= 625 (j + 1); ties only make it smaller
    assert (baseline <= ideal).all() and (baseline >= ideal - 20 / 15_625).all()
    uniform = np.full(acc.size, 1 / acc.size)
    np.testing.assert_allclose(
        M.cumulative_sampling_probability(acc, uniform), baseline, rtol=0, atol=FLOAT_ATOL
    )
