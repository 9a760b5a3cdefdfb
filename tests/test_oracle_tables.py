"""Table 3 (test error of genotypes trained from scratch) and the shared-weight vs oracle correlation."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from supernetbench.report.oracle_tables import oracle_table, shared_weight_correlation


def _records():
    out = []
    for i, algo in enumerate(["darts", "gdas"]):
        for j, sel in enumerate(["prune", "valid"]):
            for s in (0, 1):
                out.append({"algo": algo, "selector": sel, "seed": s, "arch": f"g{i}{j}{s}",
                            "final_acc": 90.0 + i + 2 * j + 0.5 * s, "best_acc": 91.0 + i + 2 * j + 0.5 * s,
                            "shared_score": 10.0 * i + j + 0.1 * s})
    return out


def test_table3_cells_are_error_mean_std_with_the_best_per_row():
    t = oracle_table(_records(), ["darts", "gdas"], ["prune", "valid"], [0, 1], "darts", "cifar10")
    (label, cells), _ = t.rows
    assert label == "darts"
    assert cells[0].mean == pytest.approx(100 - 90.25) and cells[0].std == pytest.approx(0.25)
    assert t.best == {(0, 1), (1, 1)}  # valid has the lower error in both rows
    best = oracle_table(_records(), ["darts", "gdas"], ["prune", "valid"], [0, 1], "darts", "cifar10", "best")
    assert best.rows[0][1][0].mean == pytest.approx(100 - 91.25) and "test set" in best.note
    assert "|" in t.to_markdown() and t.to_csv().count("\n") >= 3


def test_a_cell_needs_every_seed():
    recs = [r for r in _records() if not (r["algo"] == "gdas" and r["selector"] == "prune" and r["seed"] == 1)]
    t = oracle_table(recs, ["darts", "gdas"], ["prune", "valid"], [0, 1], "darts", "cifar10")
    assert t.rows[1][1][0] is None and t.rows[1][1][1] is not None


def test_correlation_matches_scipy_and_needs_three_genotypes():
    recs = _records()
    got = shared_weight_correlation(recs)
    s = np.array([r["shared_score"] for r in recs])
    a = np.array([r["final_acc"] for r in recs])
    assert got["n"] == len(recs)
    assert got["kendall"] == pytest.approx(stats.kendalltau(a, s)[0])
    assert got["spearman"] == pytest.approx(stats.spearmanr(a, s)[0])
    assert shared_weight_correlation(recs[:2]) == {"n": 2, "kendall": None, "spearman": None, "statistic": "final"}
