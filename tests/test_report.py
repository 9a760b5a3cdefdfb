"""Report helpers: figures are written as real PNG/PDF files, tables have the right rows."""
from __future__ import annotations

import doctest
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from supernetbench.harness import metrics as M
from supernetbench.harness import report as R

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _curves() -> tuple[dict, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    acc = np.round(rng.normal(85.0, 5.0, 500), 1)
    scores = acc + rng.normal(0.0, 3.0, (3, acc.size))  # 3 seeds
    probs = rng.dirichlet(np.ones(acc.size), size=3)
    curves = {
        "darts": {
            "a1": np.stack([M.top_id_rate(acc, s, 20) for s in scores]),
            "a2": np.stack([M.cumulative_sampling_probability(acc, p, 20) for p in probs]),
        },
        "rsps": {"a1": M.top_id_rate(acc, scores[0], 20)},  # one seed, no distribution
    }
    return curves, M.threshold_values(acc, 20), M.random_baseline(acc, 20)


def test_plot_curves_writes_png(tmp_path: Path) -> None:
    curves, thresholds, baseline = _curves()
    out = tmp_path / "figs" / "s1eval.png"
    written = R.plot_curves(curves, thresholds, baseline, out, "CIFAR-10")
    assert written == [out]
    data = out.read_bytes()
    assert len(data) > 1000 and data.startswith(PNG_MAGIC)
    assert not list(out.parent.glob("*.tmp"))  # atomic write left no temp file


def test_plot_curves_pdf_also_writes_png(tmp_path: Path) -> None:
    curves, thresholds, baseline = _curves()
    out = tmp_path / "s1eval.pdf"
    written = R.plot_curves(curves, thresholds, baseline[:-1], out, "")
    assert written == [tmp_path / "s1eval.png", out]
    assert out.read_bytes().startswith(b"%PDF")
    assert (tmp_path / "s1eval.png").read_bytes().startswith(PNG_MAGIC)


def test_plot_curves_rejects_mismatched_levels(tmp_path: Path) -> None:
    curves, thresholds, baseline = _curves()
    with pytest.raises(ValueError, match="levels = len\\(thresholds\\) \\+ 1"):
        R.plot_curves(curves, thresholds[:-1], baseline[:-1], tmp_path / "x.png", "")
    with pytest.raises(ValueError, match="baseline must have"):
        R.plot_curves(curves, thresholds, baseline[:-2], tmp_path / "x.png", "")
    with pytest.raises(ValueError, match=".png or .pdf"):
        R.plot_curves(curves, thresholds, baseline, tmp_path / "x.svg", "")
    assert not (tmp_path / "x.png").exists()


def test_markdown_table_rows() -> None:
    rows = [
        {"algo": "darts", "valid": R.format_mean_std([92.78, 93.46]), "prune": 54.3},
        {"algo": "rsps", "valid": 93.0},  # no prune: incompatible pair
        {"algo": "a|b", "valid": None, "prune": 1},
    ]
    table = R.markdown_table(rows, ["algo", "prune", "valid"])
    assert table.splitlines() == [
        "| algo | prune | valid |",
        "| --- | --- | --- |",
        "| darts | 54.30 | 93.12 ± 0.34 |",
        "| rsps | — | 93.00 |",
        "| a\\|b | 1 | — |",
    ]
    assert table.endswith("\n")
    with pytest.raises(ValueError, match="columns is empty"):
        R.markdown_table(rows, [])


def test_format_mean_std() -> None:
    assert R.format_mean_std([92.78, 93.46]) == "93.12 ± 0.34"
    assert R.format_mean_std([1.0], decimals=1) == "1.0 ± 0.0"
    assert R.format_mean_std(np.array([1.0, 2.0, 3.0, 4.0]), decimals=3) == "2.500 ± 1.118"


def test_docstring_examples() -> None:
    result = doctest.testmod(R)
    assert result.attempted >= 2 and result.failed == 0


def test_import_does_not_load_matplotlib() -> None:
    code = "import sys, supernetbench.harness.report; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
