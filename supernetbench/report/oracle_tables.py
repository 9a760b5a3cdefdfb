"""The second paper's Table 3 layout for a space without a table: Stage 1 x Stage 2, test error of the
selected genotype trained from scratch (the oracle), mean ± std over seeds, best per row in bold.

Pure functions of per-selection records (dicts with ``algo``, ``selector``, ``seed``, ``arch``,
``final_acc``, ``best_acc`` and optionally ``shared_score``), so they are tested without training.
The final-epoch accuracy is the default number; the best over epochs is what the papers'
``results.py`` reported (a choice made on the test set, protocol §11 P20) and is labelled so.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from supernetbench.harness.metrics import kendall_tau, mean_std, spearman

from .tables import Table, best_per_row

__all__ = ["oracle_table", "shared_weight_correlation"]

STATISTICS = {
    "final": ("final_acc", "final-epoch test error (%)", ""),
    "best": ("best_acc", "best-over-epochs test error (%)",
             " Best over epochs is a choice made on the test set (the papers' results.py; protocol §11 P20): "
             "optimistic, shown for comparison with the papers only."),
}


def oracle_table(records: Sequence[dict[str, Any]], algos: Sequence[str], selectors: Sequence[str], seeds: Sequence[int],
                 space: str, dataset: str, statistic: str = "final") -> Table:
    """Rows ``algos``, columns ``selectors``: ``100 - accuracy`` of the selected genotype trained from
    scratch, mean ± population std over ``seeds``; a cell is missing (—) unless every seed has it."""
    key, what, caveat = STATISTICS[statistic]
    by = {(r["algo"], r["selector"], r["seed"]): r for r in records}
    rows, means = [], []
    for algo in algos:
        cells: list[Any] = []
        for sel in selectors:
            errs = [100.0 - float(by[(algo, sel, s)][key]) for s in seeds if (algo, sel, s) in by]
            cells.append(mean_std(np.asarray(errs)) if errs and len(errs) == len(seeds) else None)
        rows.append((algo, cells))
        means.append([c.mean if c is not None else np.nan for c in cells])
    best = {(int(i), int(j)) for i, j in zip(*np.nonzero(best_per_row(means)))} if rows else set()
    return Table(f"table3_{statistic}", f"Stage 1 x Stage 2 on {space} ({dataset}): {what} of the selected genotype "
                 f"trained from scratch, mean ± std over seeds {list(seeds)}", "Stage-1", list(selectors), rows,
                 decimals=2, best=best,
                 note="Bold: lowest mean test error in the row. —: the pair does not apply or was not trained for "
                      "every seed. Std is the population std (ddof = 0)." + caveat)


def shared_weight_correlation(records: Sequence[dict[str, Any]], statistic: str = "final") -> dict[str, Any]:
    """Rank correlation between the shared-weight scores of the trained genotypes (their supernet's
    validation accuracy) and their from-scratch accuracies, over every record that has both; with
    ``n`` (fewer than 3 genotypes: no correlation)."""
    key = STATISTICS[statistic][0]
    pairs = [(float(r["shared_score"]), float(r[key])) for r in records
             if r.get("shared_score") is not None and r.get(key) is not None]
    n = len(pairs)
    if n < 3:
        return {"n": n, "kendall": None, "spearman": None, "statistic": statistic}
    s, a = np.array(pairs).T
    return {"n": n, "kendall": float(kendall_tau(a, s)), "spearman": float(spearman(a, s)), "statistic": statistic}
