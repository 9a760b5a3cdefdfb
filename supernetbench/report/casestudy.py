"""The case study's Table 1 (the second paper, protocol §9): ``table1.md`` / ``.csv`` / ``.tex``, a figure
and ``table1.json``, from what :func:`supernetbench.study.casestudy.collect` read from the stores.

Cells are the test error (%) of the selected architecture, mean ± population std over the seeds
that have it (``k/n`` seeds noted when some are missing). Marks as the paper's: **bold** the lowest
mean of the row, *italic* the lowest of each other method family (the family that does not hold the
row's best). For ``darts`` / ``darts-`` on CIFAR-10 the paper's own values (P002 Table 1) are printed
in a row of their own under each of ours, labelled as the paper's and marked by the same rule.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from supernetbench.harness.metrics import MeanStd, mean_std
from supernetbench.harness.store import atomic_write_text

from .tables import Table, best_per_row

__all__ = ["PAPER_TABLE1", "table1_marks", "table1", "write_table1"]

#: P002 Table 1 (test error %, CIFAR-10, seeds 1-3), columns darts/{max_alpha, perturb, perturb_fixed_alpha},
#: darts-/{...}; its NB201 row is the NB201 CIFAR-10 test error of the selected cell
PAPER_TABLE1: dict[str, tuple[float, ...]] = {
    "nb201": (45.7, 11.89, 6.20, 6.75, 6.56, 7.22),
    "s1": (3.84, 3.5, 2.86, 2.62, 2.87, 2.76),
    "s2": (4.85, 2.79, 2.59, 2.65, 2.47, 2.80),
    "s3": (3.34, 2.49, 2.52, 2.58, 2.53, 2.54),
    "s4": (7.2, 2.64, 2.58, 3.44, 2.67, 2.61),
}
PAPER_METHODS = ["darts", "darts-"]


def table1_marks(means: Any, families: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(bold, italic) masks of a rows x columns matrix of mean errors (NaN = missing): bold = the row's
    lowest (ties all marked, :func:`best_per_row`); italic = the lowest within each family (columns
    with equal ``families[j]``) that holds no bold cell of the row."""
    m = np.asarray(means, dtype=np.float64)
    if m.ndim != 2 or m.shape[1] != len(families):
        raise ValueError(f"means must be (rows, {len(families)}) for {len(families)} column families, got {m.shape}")
    bold = best_per_row(m)
    italic = np.zeros_like(bold)
    fam = np.asarray(families, dtype=object)
    for f in dict.fromkeys(families):
        cols = np.flatnonzero(fam == f)
        sub = best_per_row(m[:, cols])
        free = ~bold[:, cols].any(axis=1)
        italic[np.ix_(free, cols)] = sub[free]
    return bold, italic


def _cell(errors: Sequence[float | None]) -> MeanStd | str | None:
    got = [e for e in errors if e is not None]
    if not got:
        return None
    ms = mean_std(np.asarray(got))
    return ms if len(got) == len(errors) else f"{ms.mean:.2f} ± {ms.std:.2f} ({len(got)}/{len(errors)} seeds)"


def _mean(errors: Sequence[float | None]) -> float:
    """The mean a mark compares: only a cell that every seed has is marked (NaN otherwise)."""
    return float(np.mean(errors)) if errors and all(e is not None for e in errors) else np.nan


def with_paper(result: dict[str, Any]) -> bool:
    """Whether the paper's values belong beside ours (its methods, its dataset)."""
    return result["methods"] == PAPER_METHODS and result["dataset"] == "cifar10"


def table1(result: dict[str, Any]) -> Table:
    """Table 1 as a :class:`~.tables.Table` (rows = spaces, plus the paper's rows when they apply)."""
    cols = [c["label"] for c in result["columns"]]
    fams = [c["family"] for c in result["columns"]]
    rows: list[tuple[str, list[Any]]] = []
    means: list[list[float]] = []
    paper = with_paper(result)
    for label, row in result["rows"].items():
        errs = [row["cells"][c]["errors"] for c in cols]
        rows.append((label, [_cell(e) for e in errs]))
        means.append([_mean(e) for e in errs])
        if paper and label in PAPER_TABLE1:
            rows.append((f"{label} (paper)", list(PAPER_TABLE1[label])))
            means.append(list(PAPER_TABLE1[label]))
    bold, italic = table1_marks(np.asarray(means).reshape(len(rows), len(cols)), fams)
    seeds = result["seeds"]
    measured = "; ".join(f"{k}: {r['measured_by']}" for k, r in result["rows"].items())
    controls = ", ".join(f"{c['family']} -> {c['algo']}" for c in result["columns"] if c["label"].endswith("fixed_alpha"))
    note = (f"Test error (%) of the selected architecture on {result['dataset']}, mean ± std (population, ddof = 0) "
            f"over seeds {seeds}. Bold: the row's lowest; italic: the lowest of the other method family (marks only "
            f"on cells every seed has). "
            f"<m>/max_alpha = prune (argmax alpha) on m's supernet; <m>/perturb = DARTS-PT's perturb on it; "
            f"<m>/perturb_fixed_alpha = perturb on m's fixed-alpha control "
            f"({controls}). "
            f"Measured by: {measured}. —: not made yet."
            + (" Rows '(paper)': the second paper's Table 1 (P002, CIFAR-10, seeds 1-3), for comparison." if paper else ""))
    return Table("table1", f"Case study (P002 Table 1, protocol §9): profile {result['profile']}", "space", cols,
                 rows, decimals=2, best={tuple(x) for x in np.argwhere(bold)},
                 italic={tuple(x) for x in np.argwhere(italic)}, note=note)


def table1_csv(result: dict[str, Any]) -> str:
    """Long CSV, one line per (space, column, source): mean, std, n seeds, per-seed errors, marks."""
    t = table1(result)
    cols = [c["label"] for c in result["columns"]]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["space", "source", "column", "algo", "selector", "mean", "std", "n", "errors", "mark"])
    by_col = {c["label"]: c for c in result["columns"]}
    for i, (label, cells) in enumerate(t.rows):
        paper = label.endswith(" (paper)")
        space = label[:-len(" (paper)")] if paper else label
        for j, col in enumerate(cols):
            mark = "bold" if (i, j) in t.best else "italic" if (i, j) in t.italic else ""
            if paper:
                w.writerow([space, "paper", col, by_col[col]["algo"], by_col[col]["selector"], repr(float(cells[j])),
                            "", "", "", mark])
                continue
            errs = result["rows"][space]["cells"][col]["errors"]
            got = [e for e in errs if e is not None]
            ms = mean_std(np.asarray(got)) if got else None
            w.writerow([space, "ours", col, by_col[col]["algo"], by_col[col]["selector"],
                        repr(ms.mean) if ms else "", repr(ms.std) if ms else "", len(got),
                        ";".join("" if e is None else repr(float(e)) for e in errs), mark])
    return buf.getvalue()


def plot_table1(result: dict[str, Any], path: Path) -> Path:
    """Per space, the columns as grouped bars (one group per method family): mean test error, error bar =
    std over seeds, dots = the seeds; the paper's value as a black tick where it applies."""
    from .figures import _colors, _figure, _save

    rows = list(result["rows"].items())
    fams = list(dict.fromkeys(c["family"] for c in result["columns"]))
    kinds = list(dict.fromkeys(c["label"].split("/", 1)[1] for c in result["columns"]))
    colors = _colors()
    fig = _figure(min(16.0, 3.0 * len(rows) + 0.8), 3.6)
    axes = fig.subplots(1, len(rows), squeeze=False)
    paper = with_paper(result)
    width = 0.8 / len(kinds)
    for ax, (label, row) in zip(axes[0], rows):
        for k, kind in enumerate(kinds):
            for f, fam in enumerate(fams):
                errs = [e for e in row["cells"][f"{fam}/{kind}"]["errors"] if e is not None]
                x = f + (k - (len(kinds) - 1) / 2) * width
                if errs:
                    ax.bar(x, np.mean(errs), width, yerr=np.std(errs) if len(errs) > 1 else None, capsize=2,
                           color=colors[k % len(colors)], label=kind if f == 0 else None)
                    ax.scatter([x] * len(errs), errs, s=8, color="black", zorder=3)
                if paper and label in PAPER_TABLE1:
                    v = PAPER_TABLE1[label][f * len(kinds) + k]
                    ax.plot([x - width / 2, x + width / 2], [v, v], color="black", lw=1.5,
                            label="paper" if (f == 0 and k == 0) else None)
        ax.set_xticks(range(len(fams)), fams)
        ax.set_title(label)
        ax.set_ylabel("test error (%)")
    handles: dict[str, Any] = {}  # one legend below the panels, from every panel (none before any result)
    for ax in axes[0]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=len(handles), fontsize=8,
                   frameon=False)
    fig.suptitle(f"Case study (P002 Table 1), profile {result['profile']}, seeds {result['seeds']}", fontsize=9)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return _save(fig, [Path(path)])[0]


def write_table1(result: dict[str, Any], out: str | Path) -> dict[str, str]:
    """Write ``OUT/table1.{md,csv,tex,json,png}``; returns the paths by kind."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t = table1(result)
    paths = {"md": out / "table1.md", "csv": out / "table1.csv", "tex": out / "table1.tex",
             "json": out / "table1.json", "png": out / "table1.png"}
    atomic_write_text(paths["md"], f"**{t.title}**\n\n{t.to_markdown()}\n{t.note}\n")
    atomic_write_text(paths["csv"], table1_csv(result))
    atomic_write_text(paths["tex"], t.to_latex())
    atomic_write_text(paths["json"], json.dumps(result, indent=1, sort_keys=True) + "\n")
    plot_table1(result, paths["png"])
    return {k: str(v) for k, v in paths.items()}
