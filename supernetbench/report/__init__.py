"""Reports from artifacts (issue 10): :func:`collect` loads the Evaluation of every (method, seed) - and
optionally the reliance baselines - and :func:`write_report` renders them: P000 Fig. 1/2 style figures,
P002 Tables 2/5/6 style tables (Markdown, CSV, LaTeX), reliance and combined-score figures, and an
``index.md`` plus a self-contained ``index.html`` naming the provenance of every number.

Importing this package loads neither matplotlib, SciPy nor torch; they load when a figure is drawn
or artifacts are collected.

Example:
    >>> from supernetbench.report import collect, write_report  # doctest: +SKIP
    >>> write_report(collect(["darts", "rsps"], ["prune", "valid"], "cifar10", [0, 1], get_profile("smoke")),
    ...              "report-out")  # doctest: +SKIP
"""
from __future__ import annotations

from .build import write_report
from .figures import plot_clusters, plot_combined, plot_curves, plot_grouped_bars
from .inputs import ReportInputs, collect, provenance, read_study
from .tables import Table, best_per_row, format_mean_std, markdown_table

__all__ = ["ReportInputs", "Table", "best_per_row", "collect", "format_mean_std", "markdown_table",
           "plot_clusters", "plot_combined", "plot_curves", "plot_grouped_bars", "provenance", "read_study",
           "write_report"]
