"""Why a ranking fails: complexity-bias diagnostics and top-k-aware correlations (issue 21).

Pure numpy in, numpy/dicts out, like :mod:`.metrics`. Inputs are one value per architecture in one
index order: ``test_acc`` (the benchmark's truth), ``scores`` (a supernet's shared-weight score,
higher = better), and per-arch features such as the parameter count (:mod:`.complexity`).

Policies (all tested in ``tests/test_diagnostics.py``):

* **Rank correlation with a feature**: Spearman rho (average ranks for ties), of the scores and -
  beside it - of the truth, so a score that follows size more than the truth does shows it.
  NaN when either vector is constant.
* **Kendall tau within strata** (:func:`stratified_kendall`): tau_b inside each stratum (e.g. archs
  of equal parameter count), averaged with weights n_s (n_s - 1) / 2 = the stratum's pairs, so it is
  the tau of the within-stratum pairs. A stratum with one member has no pair and is skipped; so is
  one where the truth or the score is constant (tau_b undefined). NaN when no stratum is left.
  A ranking that only sorts by size scores ~0 here, one that ranks within a size does not.
* **Top-k membership with ties** (:func:`top_membership`): ``k = ceil(frac * N)``; an arch above the
  k-th largest value is in the top-k (1), one below is not (0), and the ``t`` archs tied at the
  k-th value share the ``r`` remaining places, each with probability ``r / t`` - the expectation
  under a uniformly random order of ties. Unlike breaking ties by index, it does not depend on
  the arch order, and a constant score gets exactly the random baseline.
* **precision@k** (:func:`precision_at_k`): the expected ``|true top-k ∩ predicted top-k| / k`` with
  ties broken at random, independently on both sides: ``sum_i P(i in T) P(i in S) / k``.
* **Correlations within the true top** (:func:`top_correlations`): Kendall tau_b and Spearman rho
  restricted to the archs whose true accuracy is >= the k-th largest (ties at the cutoff all
  included, so the set can exceed k).
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .metrics import _same_length, _vector, kendall_tau, spearman

#: the top fractions of the space that the top-k-aware metrics read (1 %, 5 %, 10 %)
TOP_FRACTIONS = (0.01, 0.05, 0.10)
#: a ranking is called size-dominated when |rho(score, params)| >= this ...
SIZE_RHO = 0.5
#: ... and its Kendall tau within parameter-count strata is below this
SIZE_TAU_WITHIN = 0.1


def top_k_size(n: int, frac: float) -> int:
    """``k = ceil(frac * n)`` (``frac * n`` rounded to 9 decimals first, as :func:`metrics.precision_at_top`)."""
    numeric = isinstance(frac, (int, float, np.floating, np.integer)) and not isinstance(frac, bool)
    if not (numeric and 0.0 < frac <= 1.0):
        raise ValueError(f"frac must be a number in (0, 1], got {frac!r} (e.g. 0.05 for the top 5 %)")
    return max(1, math.ceil(round(float(frac) * n, 9)))


def top_membership(values: ArrayLike, k: int) -> NDArray[np.float64]:
    """Probability of each entry being in the top-``k`` of ``values`` when ties are ordered at random
    (1 above the k-th largest value, 0 below, ``r / t`` for the ``t`` entries tied at it, ``r`` = the
    places left). Sums to ``k`` exactly."""
    v = _vector(values, "values", min_size=1)
    if not 1 <= k <= v.size:
        raise ValueError(f"k must be in 1..{v.size}, got {k}")
    cut = np.sort(v)[::-1][k - 1]
    above = v > cut
    tied = v == cut
    out = above.astype(np.float64)
    out[tied] = (k - above.sum()) / tied.sum()
    return out


def precision_at_k(test_acc: ArrayLike, scores: ArrayLike, frac: float) -> float:
    """Expected fraction of the true top-``k`` in the predicted top-``k`` (``k = ceil(frac N)``), ties
    broken uniformly at random on each side (see the module docstring); in [0, 1]."""
    acc = _vector(test_acc, "test_acc")
    sc = _vector(scores, "scores")
    _same_length(test_acc=acc, scores=sc)
    k = top_k_size(acc.size, frac)
    return float(np.dot(top_membership(acc, k), top_membership(sc, k)) / k)


def top_correlations(test_acc: ArrayLike, scores: ArrayLike, fractions: Sequence[float] = TOP_FRACTIONS
                     ) -> dict[str, dict[str, float]]:
    """Per fraction (key ``"top1pct"`` etc.): Kendall tau_b, Spearman rho and precision@k inside the
    true top, plus ``n`` (the set size, ties at the cutoff included). Correlations NaN for n < 2."""
    acc = _vector(test_acc, "test_acc")
    sc = _vector(scores, "scores")
    _same_length(test_acc=acc, scores=sc)
    out = {}
    for frac in fractions:
        k = top_k_size(acc.size, frac)
        inside = acc >= np.sort(acc)[::-1][k - 1]
        a, s = acc[inside], sc[inside]
        ok = inside.sum() >= 2
        out[f"top{frac * 100:g}pct"] = {
            "n": int(inside.sum()),
            "kendall": kendall_tau(a, s) if ok else math.nan,
            "spearman": spearman(a, s) if ok else math.nan,
            "precision": precision_at_k(acc, sc, frac),
        }
    return out


def stratified_kendall(test_acc: ArrayLike, scores: ArrayLike, strata: ArrayLike) -> dict[str, Any]:
    """Kendall tau_b within strata, pair-weighted (see the module docstring): ``tau`` (NaN when no
    stratum qualifies), ``strata`` (how many qualified), ``skipped`` (size-1 or constant strata),
    ``coverage`` (fraction of archs in qualifying strata)."""
    acc = _vector(test_acc, "test_acc")
    sc = _vector(scores, "scores")
    lab = np.asarray(strata)
    if lab.shape != acc.shape:
        raise ValueError(f"strata must hold one label per architecture ({acc.size}), got shape {lab.shape}")
    _same_length(test_acc=acc, scores=sc)
    total = weight = 0.0
    used = skipped = covered = 0
    for s in np.unique(lab):
        m = lab == s
        n = int(m.sum())
        if n < 2 or np.all(acc[m] == acc[m][0]) or np.all(sc[m] == sc[m][0]):
            skipped += 1
            continue
        w = n * (n - 1) / 2
        total += w * kendall_tau(acc[m], sc[m])
        weight += w
        used += 1
        covered += n
    return {"tau": total / weight if weight else math.nan, "strata": used, "skipped": skipped,
            "coverage": covered / acc.size}


def feature_correlations(test_acc: ArrayLike, scores: ArrayLike, features: Mapping[str, ArrayLike]
                         ) -> dict[str, dict[str, float]]:
    """Per feature: Spearman rho with the scores (``score``) and with the truth (``truth``)."""
    return {name: {"score": spearman(scores, f), "truth": spearman(test_acc, f)} for name, f in features.items()}


def top_share(values: ArrayLike, mask: ArrayLike, frac: float) -> float:
    """Expected share of the top-``k`` of ``values`` (random order of ties) taken by ``mask`` archs."""
    v = _vector(values, "values")
    mk = np.asarray(mask, dtype=bool)
    if mk.shape != v.shape:
        raise ValueError(f"mask must hold one flag per architecture ({v.size}), got shape {mk.shape}")
    k = top_k_size(v.size, frac)
    return float(top_membership(v, k)[mk].sum() / k)


def bias_diagnostics(test_acc: ArrayLike, scores: ArrayLike, features: Mapping[str, ArrayLike],
                     strata: ArrayLike, param_free: ArrayLike, fractions: Sequence[float] = TOP_FRACTIONS
                     ) -> dict[str, Any]:
    """Everything above for one score vector: feature correlations (score vs truth), tau within the
    size strata, the share of each predicted top-k taken by ``param_free`` archs vs the truth's,
    the top-k correlations, and ``size_dominated`` (:func:`size_dominated`)."""
    within = stratified_kendall(test_acc, scores, strata)
    corr = feature_correlations(test_acc, scores, features)
    out = {
        "feature_spearman": corr,
        "tau_within_size": within,
        "param_free_share": {f"top{f * 100:g}pct": {"score": top_share(scores, param_free, f),
                                                    "truth": top_share(test_acc, param_free, f)}
                             for f in fractions},
        "top": top_correlations(test_acc, scores, fractions),
    }
    rho = corr.get("params", {}).get("score", math.nan)
    out["size_dominated"] = size_dominated(rho, within["tau"])
    return out


def size_dominated(rho_params: float, tau_within: float) -> bool:
    """The rule behind the report's sentence: |rho(score, params)| >= :data:`SIZE_RHO` and tau within
    the parameter-count strata < :data:`SIZE_TAU_WITHIN` (NaN never counts as dominated)."""
    return bool(np.isfinite(rho_params) and np.isfinite(tau_within)
                and abs(rho_params) >= SIZE_RHO and tau_within < SIZE_TAU_WITHIN)


def size_sentence(diag: Mapping[str, Any]) -> str | None:
    """The report's one-line explanation for a size-dominated ranking, else None."""
    if not diag.get("size_dominated"):
        return None
    rho = diag["feature_spearman"]["params"]["score"]
    tau = diag["tau_within_size"]["tau"]
    return (f"ranks by parameter count: Spearman rho(score, params) {rho:+.2f} (truth "
            f"{diag['feature_spearman']['params']['truth']:+.2f}), Kendall tau within size strata {tau:.2f}")
