"""Bias diagnostics and top-k-aware correlations (``harness/diagnostics.py``, ``spaces/nb201/complexity.py``):
property tests (hypothesis), direct scipy computations, brute force over tie orders, and the
vectorised parameter / FLOP counts against the slow per-arch ``model_info`` path."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from supernetbench.spaces.nb201 import complexity as CX
from supernetbench.harness import diagnostics as D
from supernetbench.harness import metrics as M

try:  # tests/ as a package or as a plain directory on sys.path
    from tests import strategies as sst
except ImportError:  # pragma: no cover
    import strategies as sst

SETTINGS = settings(max_examples=60, deadline=None)
FRACS = st.sampled_from([0.01, 0.05, 0.1, 0.25, 0.5, 1.0])


@st.composite
def _acc_scores(draw, min_size=2, max_size=60):
    acc = draw(sst.accuracy_arrays(min_size=min_size, max_size=max_size))
    return acc, draw(sst.score_arrays(acc.size))


# ------------------------------------------------------------------ top-k membership and precision@k
@given(st.data())
@SETTINGS
def test_top_membership_sums_to_k_and_matches_enumeration(data):
    v = data.draw(sst.score_arrays(data.draw(st.integers(1, 5))))
    k = data.draw(st.integers(1, v.size))
    p = D.top_membership(v, k)
    assert p.sum() == pytest.approx(k, abs=1e-12)
    # brute force: the share of orders of the ties (all permutations, stable sort) that put i in the top-k
    counts = np.zeros(v.size)
    perms = list(itertools.permutations(range(v.size)))
    for perm in perms:
        order = np.asarray(perm)[np.argsort(-v[list(perm)], kind="stable")]
        counts[order[:k]] += 1
    np.testing.assert_allclose(p, counts / len(perms), atol=1e-12)


@given(_acc_scores(), FRACS)
@SETTINGS
def test_precision_at_k_properties(pair, frac):
    acc, sc = pair
    p = D.precision_at_k(acc, sc, frac)
    assert 0.0 <= p <= 1.0 + 1e-12
    perm = np.random.default_rng(0).permutation(acc.size)  # order of archs does not matter (unlike index ties)
    assert D.precision_at_k(acc[perm], sc[perm], frac) == pytest.approx(p, abs=1e-12)
    assert D.precision_at_k(acc, 3 * sc + 1, frac) == pytest.approx(p, abs=1e-12)  # increasing transform
    assert D.precision_at_k(acc, acc, frac) == pytest.approx(  # perfect scores: only truth ties cost
        float(np.sum(D.top_membership(acc, D.top_k_size(acc.size, frac)) ** 2)) / D.top_k_size(acc.size, frac))


@given(sst.distinct_accuracy_arrays(max_size=60), st.data(), FRACS)
@SETTINGS
def test_precision_at_k_equals_index_tie_break_without_ties(acc, data, frac):
    sc = acc[data.draw(sst.permutations_of(acc.size))]  # distinct values, no ties anywhere
    assert D.precision_at_k(acc, sc, frac) == pytest.approx(M.precision_at_top(acc, sc, frac), abs=1e-12)


def test_precision_at_k_constant_score_is_random_baseline():
    acc = np.arange(100.0)
    assert D.precision_at_k(acc, np.zeros(100), 0.05) == pytest.approx(0.05)  # k/N: what a coin would get
    assert M.precision_at_top(acc, np.zeros(100), 0.05) == 0.0  # index tie-break: arbitrary (here 0)


def test_precision_at_k_catches_a_reversed_ranking():
    acc = np.arange(200.0)
    assert D.precision_at_k(acc, acc, 0.05) == 1.0
    assert D.precision_at_k(acc, -acc, 0.05) == 0.0


# ----------------------------------------------------------------------------- top correlations
@given(_acc_scores(min_size=5), FRACS)
@SETTINGS
def test_top_correlations_match_scipy_on_the_true_top(pair, frac):
    acc, sc = pair
    out = D.top_correlations(acc, sc, (frac,))[f"top{frac * 100:g}pct"]
    k = D.top_k_size(acc.size, frac)
    kth = sorted(acc, reverse=True)[k - 1]
    idx = [i for i in range(acc.size) if acc[i] >= kth]  # ties at the cutoff included
    assert out["n"] == len(idx) >= k
    a, s = acc[idx], sc[idx]
    if len(idx) < 2 or len(set(a)) == 1 or len(set(s)) == 1:
        assert math.isnan(out["kendall"]) and math.isnan(out["spearman"])
    else:
        assert out["kendall"] == pytest.approx(stats.kendalltau(a, s).statistic, abs=1e-12)
        assert out["spearman"] == pytest.approx(stats.spearmanr(a, s).statistic, abs=1e-12)
    assert out["precision"] == D.precision_at_k(acc, sc, frac)


# --------------------------------------------------------------------------- stratified Kendall
@given(_acc_scores(min_size=3), st.data())
@SETTINGS
def test_stratified_kendall_matches_pair_weighted_scipy(pair, data):
    acc, sc = pair
    strata = np.asarray(data.draw(st.lists(st.integers(0, 4), min_size=acc.size, max_size=acc.size)))
    out = D.stratified_kendall(acc, sc, strata)
    num = den = 0.0
    used = covered = 0
    for s in set(strata.tolist()):
        m = strata == s
        if m.sum() < 2 or len(set(acc[m])) == 1 or len(set(sc[m])) == 1:
            continue
        w = m.sum() * (m.sum() - 1) / 2
        num += w * stats.kendalltau(acc[m], sc[m]).statistic
        den += w
        used += 1
        covered += m.sum()
    assert out["strata"] == used and out["skipped"] == len(set(strata.tolist())) - used
    assert out["coverage"] == pytest.approx(covered / acc.size)
    if den == 0:
        assert math.isnan(out["tau"])
    else:
        assert out["tau"] == pytest.approx(num / den, abs=1e-12)
    relabel = D.stratified_kendall(acc, sc, strata * 7 + 3)  # labels are names only
    assert relabel["tau"] == out["tau"] or (math.isnan(relabel["tau"]) and math.isnan(out["tau"]))


def test_stratified_kendall_tells_size_sorting_from_within_size_ranking():
    rng = np.random.default_rng(0)
    size = rng.integers(0, 5, 500)
    acc = size + rng.normal(0, 1, 500)
    by_size = size + 0.0  # sorts by size only: global tau high, within-size tau undefined/none
    noisy = size + rng.normal(0, 1e-3, 500)  # sorts by size, noise within a size
    good = acc + rng.normal(0, 0.1, 500)  # ranks inside each size too
    assert M.kendall_tau(acc, noisy) > 0.5
    assert math.isnan(D.stratified_kendall(acc, by_size, size)["tau"])
    assert abs(D.stratified_kendall(acc, noisy, size)["tau"]) < 0.1
    assert D.stratified_kendall(acc, good, size)["tau"] > 0.8
    one = D.stratified_kendall(acc, good, np.zeros(500))  # one stratum = the global tau
    assert one["tau"] == pytest.approx(M.kendall_tau(acc, good)) and one["coverage"] == 1.0


def test_stratified_kendall_rejects_a_wrong_strata_shape():
    with pytest.raises(ValueError, match="one label per architecture"):
        D.stratified_kendall([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [0, 1])


# ------------------------------------------------------------------------ shares and the rule
@given(_acc_scores(), st.data(), FRACS)
@SETTINGS
def test_top_share_is_expected_share(pair, data, frac):
    acc, sc = pair
    mask = np.asarray(data.draw(st.lists(st.booleans(), min_size=acc.size, max_size=acc.size)))
    share = D.top_share(sc, mask, frac)
    assert 0.0 <= share <= 1.0 + 1e-12
    assert share + D.top_share(sc, ~mask, frac) == pytest.approx(1.0, abs=1e-12)
    if len(set(sc.tolist())) == acc.size:  # no ties: the plain share of the top-k set
        k = D.top_k_size(sc.size, frac)
        assert share == pytest.approx(mask[np.argsort(-sc)[:k]].mean(), abs=1e-12)


def test_bias_diagnostics_and_size_sentence():
    rng = np.random.default_rng(1)
    params = rng.integers(0, 6, 800).astype(float)
    acc = params + rng.normal(0, 2, 800)
    free = params < 2
    feats = {"params": params}
    by_size = params + rng.normal(0, 1e-3, 800)
    d = D.bias_diagnostics(acc, by_size, feats, params, free)
    assert d["feature_spearman"]["params"]["score"] == pytest.approx(stats.spearmanr(by_size, params).statistic)
    assert d["feature_spearman"]["params"]["truth"] == pytest.approx(stats.spearmanr(acc, params).statistic)
    assert d["size_dominated"] and "ranks by parameter count" in D.size_sentence(d)
    good = D.bias_diagnostics(acc, acc + rng.normal(0, 0.1, 800), feats, params, free)
    assert not good["size_dominated"] and D.size_sentence(good) is None
    rev = D.bias_diagnostics(acc, -params + rng.normal(0, 1e-3, 800), feats, params, free)  # prefers small archs
    assert rev["size_dominated"] and rev["param_free_share"]["top5pct"]["score"] == pytest.approx(1.0)
    assert rev["param_free_share"]["top5pct"]["truth"] < 0.5
    assert not D.size_dominated(math.nan, 0.0) and not D.size_dominated(0.9, math.nan)


# -------------------------------------------------------------------- complexity of all archs
def _check_against_model_info(dataset, C, N, n_random):
    from supernetbench.spaces.nb201.network import model_info
    from supernetbench.spaces.nb201.space import NB201Space

    space = NB201Space()
    archs = space.all_archs()
    pick = np.concatenate([[0, len(archs) - 1], np.random.default_rng(0).choice(len(archs), n_random, replace=False)])
    cx = CX.arch_complexity(archs[pick], dataset, C=C, N=N)
    for j, i in enumerate(pick):
        info = model_info(space.format(tuple(archs[i])), dataset, C=C, N=N)
        assert cx["params"][j] == info["params"]
        assert cx["flops_m"][j] == pytest.approx(info["flops_m"], rel=1e-12)


def test_vectorised_params_flops_match_model_info():
    _check_against_model_info("cifar100", 4, 1, 3)  # small networks: the additivity argument, fast
    counts = CX.op_counts(NB201Space_all())
    assert (counts.sum(1) == 6).all() and counts.shape == (15625, 5)


@pytest.mark.slow
def test_vectorised_params_flops_match_model_info_benchmark_networks():
    _check_against_model_info("cifar10", 16, 5, 4)  # the networks behind the ground truth


def test_published_param_count():
    """The docstring of spaces/nb201/network.py: this arch has 802,426 parameters in NB201's files."""
    from supernetbench.spaces.nb201.space import NB201Space

    arch = NB201Space().parse("|skip_connect~0|+|none~0|nor_conv_3x3~1|+|avg_pool_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|")
    assert CX.arch_complexity(np.array([arch]))["params"][0] == 802426


def NB201Space_all():
    from supernetbench.spaces.nb201.space import NB201Space

    return NB201Space().all_archs()


def test_size_strata_are_parameter_count_classes():
    from supernetbench.spaces.nb201.space import NB201Space

    archs = NB201Space().all_archs()
    params = CX.arch_complexity(archs)["params"]
    strata = CX.size_strata(archs)
    pairs = set(zip(strata.tolist(), params.tolist()))
    assert len(pairs) == len(set(strata.tolist())) == len(set(params.tolist())) == 28


def test_parameter_free_dominated_definition():
    a = np.array([[1, 4, 2, 0, 0, 0],   # 2 free vs 1 conv -> True
                  [1, 3, 0, 0, 0, 0],   # 1 vs 1 -> False
                  [0, 0, 0, 0, 0, 0],   # 0 vs 0 -> False
                  [4, 0, 0, 0, 0, 0]])  # 1 vs 0 -> True
    assert CX.parameter_free_dominated(a).tolist() == [True, False, False, True]
    with pytest.raises(ValueError, match="op indices"):
        CX.op_counts(np.array([[5, 0, 0, 0, 0, 0]]))


def test_report_size_sentence_uses_the_seed_means():
    from supernetbench.report.diagnostics_section import size_sentences

    rng = np.random.default_rng(2)
    params = rng.integers(0, 6, 400).astype(float)
    acc = params + rng.normal(0, 2, 400)
    by_size = [D.bias_diagnostics(acc, params + rng.normal(0, 1e-3, 400), {"params": params}, params, params < 2)
               for _ in range(2)]
    good = [D.bias_diagnostics(acc, acc, {"params": params}, params, params < 2)]
    out = size_sentences({"sized": by_size, "good": good})
    assert len(out) == 1 and out[0].startswith("sized ranks by parameter count: τ within size strata")
