"""Evaluation metrics for supernet NAS on NAS-Bench-201: pure numpy in, numpy out.

Notation follows the protocol (``docs/protocol.md`` §6) and App. C of "Evaluating supernet
for NAS": ``acc_i`` is the benchmark test accuracy (%) of architecture ``i``, ``e_i = 100 - acc_i``
its test error, ``N`` the number of architectures (15,625 for NB201) and ``G = N // group_size``
the number of threshold groups (25 for NB201 with ``group_size=625``).

* Threshold groups: ``s`` = errors sorted ascending, thresholds ``t_j = s[group_size * j]`` for
  ``j = 1 .. G-1`` and group ``g_i`` = number of thresholds ``<= e_i`` (right bisection: ties go
  to the later group, so group sizes are not exactly ``group_size``).
* Cumulative level ``j = 0 .. G-1``: ``T_j = {i : g_i <= j}`` (benchmark) and
  ``V_j = {i : v_i <= j}`` (the same construction on the supernet scores).
* Top-arch ID rate ``a_{1,j} = |T_j ∩ V_j| / |T_j|``; cumulative sampling probability
  ``a_{2,j} = sum_{i in T_j} Pr(i)``; random baseline ``|T_j| / N``.

Every public metric carries a ``higher_is_better`` attribute (``True``/``False``) where a
direction is meaningful, as torchmetrics does with class attributes.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "MeanStd",
    "NB201_GROUP_SIZE",
    "RELIANCE_DIFFERENCES",
    "combined_score",
    "cumulative_sampling_probability",
    "kendall_tau",
    "mean_std",
    "precision_at_top",
    "random_baseline",
    "rank_linear_probs",
    "reliance_statistics",
    "spearman",
    "threshold_groups",
    "threshold_values",
    "top_id_rate",
]

NB201_GROUP_SIZE = 625
"""Architectures per threshold group in the reference (15,625 / 25)."""

PROB_SUM_ATOL = 1e-6
"""How far ``sum(probs)`` may be from 1."""

RELIANCE_DIFFERENCES: dict[str, tuple[str, str]] = {
    "N_I-N_U": ("N_I", "N_U"),  # biased vs uniform sampling on an untrained supernet
    "R_I-R_U": ("R_I", "R_U"),  # reliance on the learned architecture distribution
    "R_U-N_U": ("R_U", "N_U"),  # reliance on shared-weight performance estimation
    "R_I-N_I": ("R_I", "N_I"),  # training gain under biased sampling
}
"""Stage-2 reliance statistics (protocol §6): name -> (minuend, subtrahend)."""

_F = TypeVar("_F", bound=Callable)


def _direction(higher_is_better: bool) -> Callable[[_F], _F]:
    def mark(fn: _F) -> _F:
        fn.higher_is_better = higher_is_better  # type: ignore[attr-defined]
        return fn

    return mark


class MeanStd(NamedTuple):
    """Mean and population standard deviation (``np.std``, ``ddof=0``) over seeds."""

    mean: float
    std: float


# --------------------------------------------------------------------------------------------
# input validation


def _vector(x: ArrayLike, name: str, *, min_size: int = 2) -> NDArray[np.float64]:
    """Return ``x`` as a finite 1-D float64 array, or raise ``ValueError`` saying how to fix it."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be numeric (one number per architecture): {err}") from None
    if arr.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D (one value per architecture), got shape {arr.shape}; "
            "pass one seed/run at a time or flatten it"
        )
    if arr.size < min_size:
        raise ValueError(f"{name} needs at least {min_size} values, got {arr.size}")
    bad = ~np.isfinite(arr)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name} contains {int(bad.sum())} NaN/inf value(s) (first at index {first}, "
            f"value {arr[first]}); drop or impute these architectures before computing metrics"
        )
    return arr


def _same_length(**arrays: NDArray) -> None:
    sizes = {name: a.size for name, a in arrays.items()}
    if len(set(sizes.values())) > 1:
        shown = ", ".join(f"{k}={v}" for k, v in sizes.items())
        raise ValueError(
            f"arrays must have the same length ({shown}); pass one value per architecture, "
            "all in the same architecture index order"
        )


def _check_group_size(n: int, group_size: int) -> None:
    if isinstance(group_size, bool) or not isinstance(group_size, (int, np.integer)):
        raise ValueError(f"group_size must be an int, got {type(group_size).__name__}")
    if group_size < 1:
        raise ValueError(f"group_size must be >= 1, got {group_size}")
    if n < group_size:
        raise ValueError(
            f"group_size={group_size} exceeds the number of architectures ({n}); "
            f"use group_size <= {n} (e.g. N // 25 for 25 groups)"
        )


def _probabilities(probs: ArrayLike, name: str = "probs") -> NDArray[np.float64]:
    p = _vector(probs, name)
    if (p < 0).any():
        first = int(np.flatnonzero(p < 0)[0])
        raise ValueError(
            f"{name} must be non-negative, got {p[first]} at index {first}; "
            "pass probabilities, not log-probabilities or logits"
        )
    total = float(p.sum())
    if abs(total - 1.0) > PROB_SUM_ATOL:
        raise ValueError(
            f"{name} must sum to 1 (within {PROB_SUM_ATOL:g}), got {total!r}; "
            "normalise it (probs / probs.sum()) over all architectures of the space"
        )
    return p


# --------------------------------------------------------------------------------------------
# threshold groups


def _groups_from_errors(errors: NDArray[np.float64], group_size: int) -> tuple[NDArray, NDArray]:
    s = np.sort(errors)
    n_thresholds = errors.size // group_size - 1
    thresholds = s[group_size * np.arange(1, n_thresholds + 1)]
    # bisect.bisect_right(thresholds, e) == number of thresholds <= e
    groups = np.searchsorted(thresholds, errors, side="right").astype(np.int64)
    return groups, thresholds


def threshold_values(test_acc: ArrayLike, group_size: int = NB201_GROUP_SIZE) -> NDArray[np.float64]:
    """Test-error thresholds ``t_j = s[group_size * j]``, ``j = 1 .. G-1``.

    ``s`` holds the test errors ``e_i = 100 - acc_i`` sorted ascending and ``G = N // group_size``
    (24 thresholds for NB201). ``t_j`` is also the x coordinate of cumulative level ``j - 1``
    in the a1/a2 plots: ``T_{j-1}`` is the set of architectures with error strictly below ``t_j``.

    Args:
        test_acc: benchmark test accuracies in %, shape ``(N,)``.
        group_size: architectures per group (625 in the reference).

    Returns:
        float64 array of shape ``(G - 1,)``, non-decreasing.

    Example:
        >>> threshold_values([90.0, 80.0, 70.0, 60.0], group_size=2)
        array([30.])
    """
    acc = _vector(test_acc, "test_acc")
    _check_group_size(acc.size, group_size)
    return _groups_from_errors(100.0 - acc, group_size)[1]


def threshold_groups(test_acc: ArrayLike, group_size: int = NB201_GROUP_SIZE) -> NDArray[np.int64]:
    """Threshold group ``g_i`` of every architecture, reference semantics (protocol §6).

    With test errors ``e_i = 100 - acc_i`` and thresholds ``t`` from :func:`threshold_values`,
    ``g_i = bisect.bisect_right(t, e_i)`` = the number of thresholds ``<= e_i``, in
    ``{0, .., G-1}``. Group 0 holds the errors strictly below ``t_1``; an architecture tied
    with a threshold goes to the later group, so groups are not exactly ``group_size`` large
    and may even be empty when many errors tie.

    Args:
        test_acc: benchmark test accuracies in %, shape ``(N,)``, ``N >= group_size``.
        group_size: architectures per group (625 in the reference: 25 groups for NB201).

    Returns:
        int64 array of shape ``(N,)``.

    Example:
        >>> threshold_groups([90.0, 80.0, 70.0, 60.0, 80.0], group_size=2)
        array([0, 1, 1, 1, 1])
    """
    acc = _vector(test_acc, "test_acc")
    _check_group_size(acc.size, group_size)
    return _groups_from_errors(100.0 - acc, group_size)[0]


def _score_groups(scores: NDArray[np.float64], group_size: int) -> NDArray[np.int64]:
    # The reference uses 100 - perfpred; -score ranks identically for accuracies and also works
    # for unbounded scores (synflow ~1e41). The two differ only if 100 - x rounds two distinct
    # scores to one float (possible below 50 %, never for values in [50, 200]).
    return _groups_from_errors(-scores, group_size)[0]


def _level_sizes(groups: NDArray[np.int64], n_groups: int) -> NDArray[np.int64]:
    """``|T_j|`` for ``j = 0 .. G-1``."""
    return np.cumsum(np.bincount(groups, minlength=n_groups))


@_direction(higher_is_better=True)
def top_id_rate(
    test_acc: ArrayLike, scores: ArrayLike, group_size: int = NB201_GROUP_SIZE
) -> NDArray[np.float64]:
    """Top-architecture ID rate ``a_{1,j} = |T_j ∩ V_j| / |T_j|`` for every level ``j``.

    ``T_j = {i : g_i <= j}`` with ``g`` from :func:`threshold_groups` on ``test_acc``;
    ``V_j = {i : v_i <= j}`` with ``v`` the same construction applied to the supernet
    ``scores`` (higher is better, e.g. shared-weight validation accuracy). The groups ``v``
    are built on ``-scores``, which for accuracies equals the reference's ``100 - score``.

    Args:
        test_acc: benchmark test accuracies in %, shape ``(N,)``.
        scores: supernet scores for the same architectures, shape ``(N,)``.
        group_size: architectures per group.

    Returns:
        float64 array of shape ``(G,)``; the last level is 1. A level with ``|T_j| = 0``
        (only when more than ``group_size`` errors tie at the top) is NaN, as in the reference.

    Example:
        >>> acc = [94.0, 93.0, 92.0, 91.0, 90.0, 89.0]
        >>> top_id_rate(acc, [0.9, 0.8, 0.1, 0.2, 0.3, 0.4], group_size=2)
        array([1. , 0.5, 1. ])
    """
    acc = _vector(test_acc, "test_acc")
    sc = _vector(scores, "scores")
    _same_length(test_acc=acc, scores=sc)
    _check_group_size(acc.size, group_size)
    g = _groups_from_errors(100.0 - acc, group_size)[0]
    v = _score_groups(sc, group_size)
    n_groups = acc.size // group_size
    # i is in T_j ∩ V_j  <=>  max(g_i, v_i) <= j
    hits = _level_sizes(np.maximum(g, v), n_groups)
    sizes = _level_sizes(g, n_groups)
    return np.where(sizes > 0, hits / np.maximum(sizes, 1), np.nan)


@_direction(higher_is_better=True)
def cumulative_sampling_probability(
    test_acc: ArrayLike, probs: ArrayLike, group_size: int = NB201_GROUP_SIZE
) -> NDArray[np.float64]:
    """Cumulative sampling probability ``a_{2,j} = sum_{i in T_j} Pr(i)`` for every level ``j``.

    Args:
        test_acc: benchmark test accuracies in %, shape ``(N,)``.
        probs: probability of sampling each architecture (e.g. ``archprob``), shape ``(N,)``,
            non-negative and summing to 1 within ``1e-6``.
        group_size: architectures per group.

    Returns:
        float64 array of shape ``(G,)``, non-decreasing; the last entry is ``sum(probs)``.

    Example:
        >>> cumulative_sampling_probability([94.0, 93.0, 92.0, 91.0], [0.4, 0.3, 0.2, 0.1], 2)
        array([0.7, 1. ])
    """
    acc = _vector(test_acc, "test_acc")
    p = _probabilities(probs)
    _same_length(test_acc=acc, probs=p)
    _check_group_size(acc.size, group_size)
    g = _groups_from_errors(100.0 - acc, group_size)[0]
    return np.cumsum(np.bincount(g, weights=p, minlength=acc.size // group_size))


def random_baseline(test_acc: ArrayLike, group_size: int = NB201_GROUP_SIZE) -> NDArray[np.float64]:
    """Random baseline ``|T_j| / N`` shared by a1 and a2 (uniform scores / uniform sampling).

    Args:
        test_acc: benchmark test accuracies in %, shape ``(N,)``.
        group_size: architectures per group.

    Returns:
        float64 array of shape ``(G,)``, non-decreasing, last entry 1 (≈ ``(j + 1) / G``).

    Example:
        >>> random_baseline([94.0, 93.0, 93.0, 91.0], group_size=2)
        array([0.25, 1.  ])
    """
    acc = _vector(test_acc, "test_acc")
    _check_group_size(acc.size, group_size)
    g = _groups_from_errors(100.0 - acc, group_size)[0]
    return _level_sizes(g, acc.size // group_size) / acc.size


# --------------------------------------------------------------------------------------------
# rank correlations and top-k overlap


def _correlation_inputs(x: ArrayLike, y: ArrayLike) -> tuple[NDArray, NDArray] | None:
    a = _vector(x, "x")
    b = _vector(y, "y")
    _same_length(x=a, y=b)
    if np.all(a == a[0]) or np.all(b == b[0]):
        return None  # undefined for a constant input
    return a, b


def _rank_correlation(x: ArrayLike, y: ArrayLike, statistic: Callable) -> float:
    """``statistic(a, b).statistic`` on validated inputs; NaN when either input is constant."""
    pair = _correlation_inputs(x, y)
    return math.nan if pair is None else float(statistic(*pair).statistic)


@_direction(higher_is_better=True)
def spearman(x: ArrayLike, y: ArrayLike) -> float:
    """Spearman rank correlation ``rho`` (``scipy.stats.spearmanr``, average ranks for ties).

    Args:
        x: first score per architecture, shape ``(N,)``.
        y: second score, same architectures and order.

    Returns:
        ``rho`` in ``[-1, 1]``; NaN when either input is constant.

    Example:
        >>> round(spearman([1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 40.0, 30.0]), 4)
        0.8
    """
    from scipy import stats

    return _rank_correlation(x, y, stats.spearmanr)


@_direction(higher_is_better=True)
def kendall_tau(x: ArrayLike, y: ArrayLike) -> float:
    """Kendall rank correlation ``tau_b`` (``scipy.stats.kendalltau``, tie-corrected).

    Args:
        x: first score per architecture, shape ``(N,)``.
        y: second score, same architectures and order.

    Returns:
        ``tau_b`` in ``[-1, 1]``; NaN when either input is constant.

    Example:
        >>> round(kendall_tau([1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 40.0, 30.0]), 4)
        0.6667
    """
    from functools import partial

    from scipy import stats

    return _rank_correlation(x, y, partial(stats.kendalltau, variant="b"))


def _top_k(values: NDArray[np.float64], k: int) -> NDArray[np.intp]:
    # descending by value, ties broken by ascending index (stable sort of -values)
    return np.argsort(-values, kind="stable")[:k]


@_direction(higher_is_better=True)
def precision_at_top(test_acc: ArrayLike, scores: ArrayLike, frac: float) -> float:
    """Fraction of the true top-``k`` also in the predicted top-``k``, ``k = ceil(frac * N)``.

    Both top sets are taken in descending order (by ``test_acc`` and by ``scores``) with ties
    broken by the lower architecture index (stable sort), so the result is deterministic.
    ``frac * N`` is rounded to 9 decimals before the ceiling, so ``0.04 * 15625`` gives 625.

    Args:
        test_acc: benchmark test accuracies, shape ``(N,)``.
        scores: predicted scores (higher is better), shape ``(N,)``.
        frac: fraction of the space in ``(0, 1]``.

    Returns:
        ``|top_k(test_acc) ∩ top_k(scores)| / k`` in ``[0, 1]``.

    Example:
        >>> precision_at_top([94.0, 93.0, 92.0, 91.0], [0.1, 0.9, 0.8, 0.2], frac=0.5)
        0.5
    """
    acc = _vector(test_acc, "test_acc")
    sc = _vector(scores, "scores")
    _same_length(test_acc=acc, scores=sc)
    numeric = isinstance(frac, (int, float, np.floating, np.integer)) and not isinstance(frac, bool)
    if not (numeric and 0.0 < frac <= 1.0):
        raise ValueError(f"frac must be a number in (0, 1], got {frac!r} (e.g. 0.04 for the top 4 %)")
    k = max(1, math.ceil(round(float(frac) * acc.size, 9)))
    overlap = np.intersect1d(_top_k(acc, k), _top_k(sc, k), assume_unique=True)
    return overlap.size / k


# --------------------------------------------------------------------------------------------
# rank-linear ("rsps+") sampler


def rank_linear_probs(test_acc: ArrayLike) -> NDArray[np.float64]:
    """Rank-linear sampling distribution of the biased sampler ``rsps+`` (protocol §3.2).

    The architecture at ascending-accuracy position ``q`` (0 = worst) gets weight ``q``,
    normalised by ``N(N-1)/2``: ``P(i) = q_i / (N(N-1)/2)``. The best architecture gets
    ``(N-1) / (N(N-1)/2)``, the worst exactly 0, and the top-``k`` mass is
    ``k(2N-k-1) / (N(N-1))`` when accuracies are distinct.

    Deviation (protocol P16): the reference sorts with ``np.argsort`` (unstable quicksort), so
    the weights of tied architectures depend on the numpy version. We use a stable sort:
    among tied architectures, the lower index gets the lower weight.

    Args:
        test_acc: benchmark test accuracies, shape ``(N,)``, ``N >= 2``.

    Returns:
        float64 array of shape ``(N,)`` summing to 1.

    Example:
        >>> rank_linear_probs([92.0, 94.0, 90.0, 93.0])
        array([0.16666667, 0.5       , 0.        , 0.33333333])
    """
    acc = _vector(test_acc, "test_acc")
    n = acc.size
    positions = np.empty(n, dtype=np.float64)
    positions[np.argsort(acc, kind="stable")] = np.arange(n, dtype=np.float64)
    return positions / (n * (n - 1) / 2)


# --------------------------------------------------------------------------------------------
# Stage-2 statistics and tables


def mean_std(values: ArrayLike) -> MeanStd:
    """Mean and population standard deviation (``np.std``, ``ddof=0``) of per-seed values.

    Args:
        values: one finite value per seed, shape ``(S,)``, ``S >= 1``.

    Returns:
        ``MeanStd(mean, std)``; ``std`` is 0 for a single seed.

    Example:
        >>> mean_std([93.0, 94.0])
        MeanStd(mean=93.5, std=0.5)
    """
    v = _vector(values, "values", min_size=1)
    return MeanStd(float(np.mean(v)), float(np.std(v)))


def reliance_statistics(selected: Mapping[str, ArrayLike]) -> dict[str, MeanStd]:
    """Stage-2 reliance statistics over seeds (protocol §6, P002 Fig. 2/5).

    ``selected`` maps each baseline to the test accuracy of the architecture its Stage-2
    method selected, one value per seed (same seed order in every array): ``N_U``/``N_I`` =
    untrained supernet with uniform / rank-linear ("biased") sampling, ``R_U``/``R_I`` =
    rsps+ supernet with uniform / rank-linear sampling. Differences are taken per seed, then
    summarised by mean and population std (``ddof=0``), as ``stats.py::plot_s2_eval`` does.

    Args:
        selected: mapping with exactly the keys ``"N_U"``, ``"N_I"``, ``"R_U"``, ``"R_I"``.

    Returns:
        ``{name: MeanStd}`` for the names of :data:`RELIANCE_DIFFERENCES`:
        ``"N_I-N_U"``, ``"R_I-R_U"``, ``"R_U-N_U"``, ``"R_I-N_I"``.

    Example:
        >>> stats = reliance_statistics(
        ...     {"N_U": [90.0, 91.0], "N_I": [92.0, 92.0], "R_U": [93.0, 93.0], "R_I": [94.0, 93.0]}
        ... )
        >>> stats["R_U-N_U"]
        MeanStd(mean=2.5, std=0.5)
    """
    required = {"N_U", "N_I", "R_U", "R_I"}
    if not isinstance(selected, Mapping) or set(selected) != required:
        got = sorted(selected) if isinstance(selected, Mapping) else type(selected).__name__
        raise ValueError(
            f"selected must be a mapping with exactly the keys {sorted(required)}, got {got}; "
            "give one per-seed array of selected test accuracies per baseline"
        )
    arrays = {k: _vector(selected[k], k, min_size=1) for k in sorted(required)}
    _same_length(**arrays)
    return {
        name: mean_std(arrays[plus] - arrays[minus])
        for name, (plus, minus) in RELIANCE_DIFFERENCES.items()
    }


@_direction(higher_is_better=False)
def combined_score(
    r_alpha1: ArrayLike, r_alpha2: ArrayLike, r_beta1: ArrayLike, r_beta2: ArrayLike
) -> float | NDArray[np.float64]:
    """Combined two-stage score (P002 App. A.4; protocol §6, last paragraph).

    ``score = r_a1 * (|r_a1 - r_a2| + 1) * r_b1 * (|r_b1 - r_b2| + 1)``, where ``r_a1`` is the
    Stage-1 method's rank by the sampling-probability metric (a2), ``r_b1`` its rank by the
    shared-weight metric (a1), and ``r_a2`` / ``r_b2`` the Stage-2 method's ranks on the
    corresponding baseline differences. The paper states neither the pairing nor the rank
    direction; our decision: rank 1 = best and a LOWER score is better (the only reading under
    which "succeeding at one measure beats being mediocre at both" holds).

    Args:
        r_alpha1: rank(s) >= 1 of the Stage-1 method by a2.
        r_alpha2: rank(s) >= 1 of the Stage-2 method on the architecture-distribution baseline.
        r_beta1: rank(s) >= 1 of the Stage-1 method by a1.
        r_beta2: rank(s) >= 1 of the Stage-2 method on the shared-weight baseline.

    Returns:
        a float for scalar ranks, else an array broadcast over the inputs.

    Example:
        >>> combined_score(1, 3, 2, 2)
        6.0
    """
    ranks = []
    for name, r in (("r_alpha1", r_alpha1), ("r_alpha2", r_alpha2),
                    ("r_beta1", r_beta1), ("r_beta2", r_beta2)):
        arr = np.asarray(r, dtype=np.float64)
        if not np.all(np.isfinite(arr)) or np.any(arr < 1):
            raise ValueError(f"{name} must hold finite ranks >= 1 (1 = best), got {r!r}")
        ranks.append(arr)
    a1, a2, b1, b2 = np.broadcast_arrays(*ranks)
    score = a1 * (np.abs(a1 - a2) + 1.0) * b1 * (np.abs(b1 - b2) + 1.0)
    return float(score) if score.ndim == 0 else score


def precision_agreement(reference: ArrayLike, other: ArrayLike, test_acc: ArrayLike | None = None,
                        group_size: int = NB201_GROUP_SIZE, levels: int = 3) -> dict[str, Any]:
    """How far a cheaper score vector (``other``, e.g. bf16 or an adaptive image budget) agrees with
    ``reference`` (exact scoring of the same archs).

    Returns Kendall ``tau_b`` and Spearman between the two, the fraction of identical scores, the
    largest absolute difference and, when there are at least ``group_size`` archs, the *top-group
    identity* of the first ``levels`` score groups: the Jaccard index ``|V ∩ V'| / |V ∪ V'|`` of the
    sets ``V_j`` a1 is built from (1 when both are empty, as ties can make them). With ``test_acc``,
    also a1 of both vectors at those levels.

    Example:
        >>> precision_agreement([1.0, 2.0, 3.0], [1.0, 2.0, 3.5])["kendall"]
        1.0
    """
    ref = _vector(reference, "reference")
    oth = _vector(other, "other")
    _same_length(reference=ref, other=oth)
    out: dict[str, Any] = {
        "n": int(ref.size),
        "kendall": kendall_tau(ref, oth),
        "spearman": spearman(ref, oth),
        "identical_fraction": float(np.mean(ref == oth)),
        "max_abs_diff": float(np.max(np.abs(ref - oth))),
    }
    if ref.size >= group_size:
        g_ref, g_oth = _score_groups(ref, group_size), _score_groups(oth, group_size)
        n_levels = min(levels, ref.size // group_size)
        out["top_group_identity"] = [_jaccard(g_ref <= j, g_oth <= j) for j in range(n_levels)]
        if test_acc is not None:
            out["a1_reference"] = top_id_rate(test_acc, ref, group_size)[:n_levels].tolist()
            out["a1_other"] = top_id_rate(test_acc, oth, group_size)[:n_levels].tolist()
    return out


def _jaccard(a: NDArray[np.bool_], b: NDArray[np.bool_]) -> float:
    union = int(np.sum(a | b))
    return 1.0 if union == 0 else float(np.sum(a & b)) / union
