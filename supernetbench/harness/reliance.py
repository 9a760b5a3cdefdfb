"""Stage-2 reliance statistics and the combined two-stage score: pure numpy in, numpy out.

Reliance (P002 §4.2, Fig. 2/5; protocol §5.7, §6): each Stage-2 selector runs on four baseline
supernets - N_U / N_I (untrained, uniform / idealised rank-linear candidates) and R_U / R_I (RSPS,
uniform / rank-linear candidates) - and the test accuracies of the archs it selects give, per seed,
the differences N_I-N_U, R_I-R_U ("reliance on the learned architecture distribution"), R_U-N_U
("reliance on shared-weight performance estimation") and R_I-N_I, summarised by mean and population
std over seeds (:func:`supernetbench.harness.metrics.reliance_statistics`).

Combined score (P002 App. A.4; :func:`combined_ranking`): ``score = r_a1 (|r_a1 - r_a2| + 1) x
r_b1 (|r_b1 - r_b2| + 1)`` per (Stage-1, Stage-2) pair. The paper leaves open, and we decide:

* **Stage-1 inputs** (``stage1``): ``r_a1`` ranks Stage-1 methods by a sampling-probability metric
  and ``r_b1`` by a shared-weight metric; :func:`stage1_inputs` uses the mean over the first
  ``levels`` (default 3) threshold levels of a2 and of a1 (the top-arch ID rate: the paper's text
  says "correlation of shared-weight validation accuracy with benchmark test accuracy"; a1 is the
  statistic it proposes for that), each averaged over seeds. Higher is better.
* **Stage-2 inputs and pairing** (``stage2``, :data:`PAIRINGS`): A.4 says only that r_a2 is the
  performance "on the uniform baseline", r_b2 "on the biased baseline", and that both are
  differences between pairs of baseline models. Three readings, selectable by name:

  - ``capability`` (default): r_a2 from R_I-R_U (reliance on the architecture distribution),
    r_b2 from R_U-N_U (reliance on shared-weight estimation), so each mismatch term compares a
    Stage-1 capability with the Stage-2 reliance on that same capability;
  - ``literal``: the text's words, each difference taken between the trained and the untrained
    supernet under one candidate law: r_a2 from R_U-N_U ("uniform baseline"), r_b2 from R_I-N_I
    ("biased baseline");
  - ``complementary``: the other two statistics of P002 §4.2: r_a2 from N_I-N_U (distribution
    reliance without trained weights), r_b2 from R_I-N_I (shared-weight reliance under the idealised
    candidate law).

  ``stage2_inputs(keys=...)`` takes any other pair of statistics.
* **Stage-1 pool**: the absolute ranks move when methods are added, so the pool matters; the
  harness default (:func:`supernetbench.pipeline.baselines.default_pool`) is the Stage-1 methods that
  learn alpha - the baselines (``rsps``, ``rsps-biased``, ``untrained``, ``blank``) are left out.
* **Rank direction**: rank 1 = best Stage-1 metric and rank 1 = LARGEST reliance (the selector that
  relies most on a capability is matched with the method that provides it best), and a LOWER score
  is better - the only reading under which "a combination which succeeds at one of the two measures
  is scored above one which is mediocre at both" holds.
* **Ties** share the best rank of their group (competition ranking, "1224"); equal scores are
  ordered by the order the methods and selectors were given.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .metrics import RELIANCE_DIFFERENCES, MeanStd, _vector, combined_score, reliance_statistics

__all__ = ["BASELINES", "DEFAULT_PAIRING", "PAIRINGS", "PairScore", "pairing_keys", "combined_ranking", "competition_ranks", "reliance_differences",
           "reliance_table", "stage1_inputs", "stage2_inputs"]

BASELINES = ("N_U", "N_I", "R_U", "R_I")
"""The four baseline supernets (protocol §5.7)."""

#: readings of A.4's Stage-2 ranks: name -> ((statistic behind r_a2, statistic behind r_b2), meaning)
PAIRINGS: dict[str, tuple[tuple[str, str], str]] = {
    "capability": (("R_I-R_U", "R_U-N_U"), "r_a2 = rank by R_I-R_U (reliance on the architecture distribution), "
                   "r_b2 = rank by R_U-N_U (reliance on shared-weight estimation)"),
    "literal": (("R_U-N_U", "R_I-N_I"), "r_a2 = rank by R_U-N_U (trained vs untrained, uniform candidates: 'the "
                "uniform baseline'), r_b2 = rank by R_I-N_I (trained vs untrained, idealised candidates: 'the biased "
                "baseline')"),
    "complementary": (("N_I-N_U", "R_I-N_I"), "r_a2 = rank by N_I-N_U (distribution reliance on the untrained "
                      "supernet), r_b2 = rank by R_I-N_I (shared-weight reliance under idealised candidates)"),
}
DEFAULT_PAIRING = "capability"
#: default Stage-2 statistics behind r_a2 (architecture distribution) and r_b2 (shared weights)
STAGE2_KEYS = PAIRINGS[DEFAULT_PAIRING][0]


def pairing_keys(pairing: str) -> tuple[str, str]:
    """The two reliance statistics of a named :data:`PAIRINGS` reading (an unknown name lists them)."""
    if pairing not in PAIRINGS:
        raise ValueError(f"unknown combined-score pairing {pairing!r}; valid choices: {', '.join(PAIRINGS)}")
    return PAIRINGS[pairing][0]


def reliance_differences(selected: Mapping[str, ArrayLike]) -> dict[str, NDArray[np.float64]]:
    """Per-seed reliance differences from the selected archs' test accuracies per baseline.

    >>> d = reliance_differences({"N_U": [90, 91], "N_I": [92, 92], "R_U": [93, 93], "R_I": [94, 93]})
    >>> d["R_I-R_U"].tolist()
    [1.0, 0.0]
    """
    reliance_statistics(selected)  # validates keys, lengths and values
    arrays = {k: _vector(selected[k], k, min_size=1) for k in BASELINES}
    return {name: arrays[a] - arrays[b] for name, (a, b) in RELIANCE_DIFFERENCES.items()}


def reliance_table(selected: Mapping[str, Mapping[str, ArrayLike]]) -> dict[str, dict[str, MeanStd]]:
    """``{selector: {statistic: MeanStd}}`` from ``{selector: {baseline: per-seed test accuracies}}``."""
    return {sel: reliance_statistics(per_baseline) for sel, per_baseline in selected.items()}


def competition_ranks(values: ArrayLike, higher_is_better: bool = True) -> NDArray[np.int64]:
    """Rank 1 = best; tied values share the best rank of their group ("1224" ranking).

    >>> competition_ranks([0.3, 0.9, 0.3, 0.1]).tolist()
    [2, 1, 2, 4]
    """
    v = _vector(values, "values", min_size=1)
    if not higher_is_better:
        v = -v
    return 1 + (v[None, :] > v[:, None]).sum(axis=1)


def stage1_inputs(metrics_per_seed: Sequence[Mapping[str, Sequence[float]]], levels: int = 3) -> tuple[float, float]:
    """``(sampling, shared_weight)`` of one Stage-1 method: mean over seeds of the mean of a2 and of
    a1 over threshold levels ``0 .. levels-1`` (``metrics_per_seed``: ``stage1_metrics`` dicts)."""
    if not metrics_per_seed:
        raise ValueError("stage1_inputs needs the Stage-1 metrics of at least one seed")
    a2 = np.mean([np.mean(m["a2"][:levels]) for m in metrics_per_seed])
    a1 = np.mean([np.nanmean(m["a1"][:levels]) for m in metrics_per_seed])
    return float(a2), float(a1)


def stage2_inputs(table: Mapping[str, Mapping[str, MeanStd]], keys: tuple[str, str] = STAGE2_KEYS
                  ) -> dict[str, tuple[float, float]]:
    """``{selector: (distribution reliance, shared-weight reliance)}``: the means of ``keys``."""
    bad = sorted(set(keys) - set(RELIANCE_DIFFERENCES))
    if bad:
        raise ValueError(f"unknown reliance statistic(s) {bad}; valid: {list(RELIANCE_DIFFERENCES)}")
    return {sel: (float(stats[keys[0]].mean), float(stats[keys[1]].mean)) for sel, stats in table.items()}


@dataclass(frozen=True)
class PairScore:
    stage1: str
    stage2: str
    score: float
    r_alpha1: int
    r_alpha2: int
    r_beta1: int
    r_beta2: int


def combined_ranking(stage1: Mapping[str, tuple[float, float]],
                     stage2: Mapping[str, tuple[float, float]]) -> list[PairScore]:
    """Every (Stage-1, Stage-2) pair with its combined score, best (lowest) first.

    Args:
        stage1: Stage-1 method -> ``(sampling metric, shared-weight metric)``, higher is better
            (e.g. :func:`stage1_inputs`).
        stage2: selector -> ``(distribution reliance, shared-weight reliance)``, larger = relies more
            (e.g. :func:`stage2_inputs`).

    Returns:
        ``len(stage1) * len(stage2)`` :class:`PairScore` entries sorted by score (stable).

    Example:
        >>> r = combined_ranking({"a": (0.9, 0.1), "b": (0.1, 0.9)}, {"x": (5.0, 0.0), "y": (0.0, 5.0)})
        >>> [(p.stage1, p.stage2, p.score) for p in r]
        [('a', 'x', 2.0), ('b', 'y', 2.0), ('a', 'y', 8.0), ('b', 'x', 8.0)]
    """
    if not stage1 or not stage2:
        raise ValueError("combined_ranking needs at least one Stage-1 method and one Stage-2 selector")
    s1, s2 = list(stage1), list(stage2)
    ra1 = competition_ranks([stage1[k][0] for k in s1])
    rb1 = competition_ranks([stage1[k][1] for k in s1])
    ra2 = competition_ranks([stage2[k][0] for k in s2])
    rb2 = competition_ranks([stage2[k][1] for k in s2])
    pairs = [PairScore(a, b, float(combined_score(ra1[i], ra2[j], rb1[i], rb2[j])),
                       int(ra1[i]), int(ra2[j]), int(rb1[i]), int(rb2[j]))
             for i, a in enumerate(s1) for j, b in enumerate(s2)]
    return sorted(pairs, key=lambda p: p.score)
