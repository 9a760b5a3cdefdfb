"""Multi-seed S1 x S2 report: table cells are mean ± std over seeds; untrained runs have no log."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from supernetbench.harness import tables
from supernetbench.harness.profiles import get_profile
from supernetbench.harness.scoring import ScoreConfig
from supernetbench.selectors import Selection


def _fake_evaluate(spec, selectors, **kw):
    trained = spec.algo != "untrained"
    acc = {0: 90.0, 1: 92.0}[spec.seed]
    g = 25
    metrics = {"a1": np.linspace(0.1, 1, g).tolist(), "a2": np.linspace(0.04, 1, g).tolist(),
               "baseline": np.linspace(0.04, 1, g).tolist(), "thresholds": np.linspace(6, 30, g - 1).tolist(),
               "kendall": 0.1 * (spec.seed + 1), "spearman": 0.2}
    run = SimpleNamespace(log=[{"valid_acc": 20.0 + spec.seed}] if trained else [], config={"data": "test data"})
    sels = {s: Selection(arch="a", index=0, test_acc=acc) for s in selectors if s != "prune" or trained}
    return SimpleNamespace(metrics=metrics, run=run, selections=sels, score_config=ScoreConfig(images=32),
                           summary=lambda: {"algo": spec.algo})


def test_report_table(monkeypatch, tmp_path, gt):
    monkeypatch.setattr(tables, "evaluate", _fake_evaluate)
    path = tables.multi_seed_report(["darts", "untrained"], ["prune", "valid"], "cifar10", [0, 1],
                                    get_profile("smoke"), tmp_path, progress=False)
    text = path.read_text()
    assert "| darts | 9.00 ± 1.00 | 9.00 ± 1.00 |" in text  # test error 10 / 8 -> 9 ± 1
    assert "| untrained | n/a | 9.00 ± 1.00 |" in text
    assert "— (no training)" in text and "| darts | 0.100 ± 0.000 | 0.040 ± 0.000 | 0.150 ± 0.050 | 0.200 ± 0.000 | 20.5 ± 0.5 |" in text
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
