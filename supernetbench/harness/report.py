"""Moved to :mod:`supernetbench.report`; these names stay importable from here."""
from __future__ import annotations

from supernetbench.report.figures import plot_curves
from supernetbench.report.tables import format_mean_std, markdown_table

__all__ = ["format_mean_std", "markdown_table", "plot_curves"]
