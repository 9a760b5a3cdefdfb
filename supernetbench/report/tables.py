"""Tables of per-seed results rendered four ways: Markdown, CSV, LaTeX (booktabs) and HTML.

A :class:`Table` holds numbers, not text: each cell is a :class:`~supernetbench.harness.metrics.MeanStd`
(mean ± population std over seeds), a plain float, a string or ``None`` (missing, e.g. an
incompatible Stage-1 x Stage-2 pair). The four renderers read the same cells, so they agree.
"""
from __future__ import annotations

import csv
import html
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np
from numpy.typing import ArrayLike

from supernetbench.harness.metrics import MeanStd, mean_std

__all__ = ["Cell", "Table", "best_per_row", "format_mean_std", "markdown_table"]

Cell = Union[MeanStd, float, int, str, None]
_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#", "$": r"\$",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}"}


def format_mean_std(values: ArrayLike, decimals: int = 2) -> str:
    """Format per-seed values as ``"mean ± std"`` (population std, ``ddof=0``).

    Example:
        >>> format_mean_std([92.78, 93.46])
        '93.12 ± 0.34'
    """
    m = mean_std(values)
    return f"{m.mean:.{decimals}f} ± {m.std:.{decimals}f}"


def _md_cell(value: Any, float_format: str, missing: str) -> str:
    if value is None:
        return missing
    text = float_format.format(value) if isinstance(value, (float, np.floating)) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, float_format: str = "{:.2f}",
                   missing: str = "—") -> str:
    """Render ``rows`` (one mapping per row) as a GitHub-flavoured Markdown table, ``columns`` in order.

    Strings are used as they are; floats go through ``float_format``; an absent key or ``None`` is ``missing``.

    Example:
        >>> print(markdown_table([{"algo": "darts", "valid": 93.456}], ["algo", "valid"]), end="")
        | algo | valid |
        | --- | --- |
        | darts | 93.46 |
    """
    if not columns:
        raise ValueError("columns is empty; name at least one column")
    lines = ["| " + " | ".join(_md_cell(c, float_format, missing) for c in columns) + " |",
             "| " + " | ".join("---" for _ in columns) + " |"]
    for row in rows:
        lines.append("| " + " | ".join(_md_cell(row.get(c), float_format, missing) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def best_per_row(means: ArrayLike, lower_is_better: bool = True) -> np.ndarray:
    """Boolean mask of the best finite value(s) in each row; ties are all marked, NaN never is.

    Example:
        >>> best_per_row([[9.0, 8.5, np.nan], [7.0, 7.0, 8.0]]).tolist()
        [[False, True, False], [True, True, False]]
    """
    m = np.asarray(means, dtype=np.float64)
    if m.ndim != 2:
        raise ValueError(f"means must be a 2-D (rows, columns) array, got shape {m.shape}")
    v = np.where(np.isfinite(m), m if lower_is_better else -m, np.inf)
    best = v.min(axis=1, keepdims=True)
    return (v == best) & np.isfinite(best)


@dataclass
class Table:
    """A titled table: ``rows[i] = (row label, cells)``, one cell per column.

    Args:
        name: file stem and HTML id (e.g. ``"s1xs2_test_error"``).
        title: one-line caption.
        row_header: header of the label column.
        columns: the other column headers.
        rows: ``(label, cells)`` pairs.
        decimals: digits after the decimal point for numbers.
        best: ``(row, column)`` index pairs to mark (bold) as best in their row.
        note: a sentence printed under the table (what the numbers are).
        italic: ``(row, column)`` index pairs to set in italics (a second-best mark, e.g. the paper's
            Table 1: the best of the family that does not hold the row's best).
    """

    name: str
    title: str
    row_header: str
    columns: list[str]
    rows: list[tuple[str, list[Cell]]]
    decimals: int = 2
    best: set[tuple[int, int]] = field(default_factory=set)
    note: str = ""
    italic: set[tuple[int, int]] = field(default_factory=set)

    def __post_init__(self) -> None:
        for label, cells in self.rows:
            if len(cells) != len(self.columns):
                raise ValueError(f"table {self.name!r}: row {label!r} has {len(cells)} cells for "
                                 f"{len(self.columns)} columns")

    # ------------------------------------------------------------------ cells as text
    def text(self, cell: Cell, missing: str = "—", pm: str = " ± ") -> str:
        """One cell as text: ``mean ± std``, a number or the string itself."""
        if cell is None:
            return missing
        if isinstance(cell, MeanStd):
            return f"{cell.mean:.{self.decimals}f}{pm}{cell.std:.{self.decimals}f}"
        if isinstance(cell, (int, np.integer)) and not isinstance(cell, bool):
            return str(int(cell))  # ranks, counts
        if isinstance(cell, (float, np.floating)):
            return f"{float(cell):.{self.decimals}f}"
        return str(cell)

    def _marked(self, i: int, j: int) -> bool:
        return (i, j) in self.best

    # ------------------------------------------------------------------ renderers
    def to_markdown(self) -> str:
        """GitHub Markdown; best cells in bold."""
        rows = []
        for i, (label, cells) in enumerate(self.rows):
            row = {self.row_header: label}
            for j, (col, c) in enumerate(zip(self.columns, cells)):
                t = self.text(c)
                row[col] = f"**{t}**" if self._marked(i, j) else f"*{t}*" if (i, j) in self.italic else t
            rows.append(row)
        return markdown_table(rows, [self.row_header, *self.columns])

    def to_csv(self) -> str:
        """Wide CSV: label, then ``<column>`` (mean or value) and ``<column>_std`` per column (empty when
        there is no std), then ``best`` (the best columns of the row, ``;``-separated). Full precision."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow([self.row_header, *[h for c in self.columns for h in (c, f"{c}_std")], "best"])
        for i, (label, cells) in enumerate(self.rows):
            out: list[str] = [label]
            for c in cells:
                if isinstance(c, MeanStd):
                    out += [repr(float(c.mean)), repr(float(c.std))]
                elif c is None:
                    out += ["", ""]
                elif isinstance(c, str):
                    out += [c, ""]
                elif isinstance(c, (int, np.integer)):
                    out += [str(int(c)), ""]
                else:
                    out += [repr(float(c)), ""]
            out.append(";".join(self.columns[j] for j in range(len(self.columns)) if self._marked(i, j)))
            w.writerow(out)
        return buf.getvalue()

    def to_latex(self) -> str:
        """A booktabs ``tabular`` (needs ``\\usepackage{booktabs}``); best cells in ``\\textbf``."""
        def esc(s: str) -> str:
            return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in s)

        lines = [f"% {esc(self.title)}", r"\begin{tabular}{l" + "c" * len(self.columns) + "}", r"\toprule",
                 " & ".join(esc(h) for h in [self.row_header, *self.columns]) + r" \\", r"\midrule"]
        for i, (label, cells) in enumerate(self.rows):
            parts = [esc(label)]
            for j, c in enumerate(cells):
                t = self.text(c, missing="--", pm=r" $\pm$ ")
                t = t if isinstance(c, MeanStd) or c is None else esc(t)
                parts.append(rf"\textbf{{{t}}}" if self._marked(i, j) else
                             rf"\textit{{{t}}}" if (i, j) in self.italic else t)
            lines.append(" & ".join(parts) + r" \\")
        lines += [r"\bottomrule", r"\end{tabular}"]
        return "\n".join(lines) + "\n"

    def to_html(self) -> str:
        """An HTML ``<table>`` with ``id`` = :attr:`name`; best cells in ``<strong>``."""
        e = html.escape
        head = "".join(f"<th>{e(h)}</th>" for h in [self.row_header, *self.columns])
        body = []
        for i, (label, cells) in enumerate(self.rows):
            tds = [f"<th scope=\"row\">{e(label)}</th>"]
            for j, c in enumerate(cells):
                t = e(self.text(c))
                tds.append(f"<td class=\"best\"><strong>{t}</strong></td>" if self._marked(i, j) else
                           f"<td><em>{t}</em></td>" if (i, j) in self.italic else f"<td>{t}</td>")
            body.append("<tr>" + "".join(tds) + "</tr>")
        return (f"<table id=\"{e(self.name)}\">\n<caption>{e(self.title)}</caption>\n<thead><tr>{head}</tr></thead>\n"
                f"<tbody>\n" + "\n".join(body) + "\n</tbody>\n</table>\n")
