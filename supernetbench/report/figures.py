"""Report figures: matplotlib on an Agg canvas (no pyplot state), imported inside each function so that
importing this module stays light. Each figure is written atomically as PNG, and also as PDF when the
path ends in ``.pdf`` (the PNG beside it is always written: the HTML index embeds it).
"""
from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from supernetbench.harness.store import atomic_write_bytes

__all__ = ["plot_clusters", "plot_combined", "plot_curves", "plot_grouped_bars"]

CURVE_PANELS = (("a1", "Top-arch ID rate $a_{1,k}$"), ("a2", "Sampling probability mass $a_{2,k}$"))
"""(key in each curve dict, y label) for the left and right panel of :func:`plot_curves`."""


def _targets(path: str | os.PathLike) -> list[Path]:
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".png", ".pdf"):
        raise ValueError(f"path must end in .png or .pdf, got {path.name!r}")
    return [path.with_suffix(".png")] + ([path] if suffix == ".pdf" else [])


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, targets: list[Path]) -> list[Path]:
    for target in targets:
        buf = io.BytesIO()
        fig.savefig(buf, format=target.suffix[1:], bbox_inches="tight")
        atomic_write_bytes(target, buf.getvalue())
    return targets


def _colors() -> list[str]:
    from matplotlib import rcParams

    return [c["color"] for c in rcParams["axes.prop_cycle"]]


def _rows(values: ArrayLike, what: str, n: int | None = None) -> np.ndarray:
    """Per-seed values as ``(seeds, n)``."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or (n is not None and arr.shape[1] != n):
        raise ValueError(f"{what} must have shape (levels,) or (seeds, levels) with levels = len(thresholds) + 1 "
                         f"= {n}, got {np.shape(values)}")
    return arr


# ------------------------------------------------------------------------------------- Fig. 1
def plot_curves(curves: Mapping[str, Mapping[str, ArrayLike]], thresholds: ArrayLike, baseline: ArrayLike,
                path: str | os.PathLike, title: str = "") -> list[Path]:
    """a1 (left) and a2 (right) against the test-error threshold (log x), as P000 Fig. 1.

    Level ``j`` is drawn at ``x = t_{j+1}``; the last level (always 1) has no threshold and is
    dropped. One line per method: the mean over seeds, with a mean ± population-std band
    (``ddof=0``) when there are several seeds; the random baseline is dashed.

    Args:
        curves: ``{method: {"a1": values, "a2": values}}``, values of shape ``(G,)`` or ``(seeds, G)``;
            a method without an architecture distribution may omit ``"a2"``.
        thresholds: the ``G - 1`` thresholds (test error %) of ``metrics.threshold_values``.
        baseline: the random baseline, ``(G,)`` or ``(G - 1,)``.
        path: ``.png``, or ``.pdf`` (writes the PDF and a PNG beside it).
        title: figure title.

    Returns:
        The written paths, PNG first.
    """
    targets = _targets(path)
    x = np.asarray(thresholds, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"thresholds must be a non-empty 1-D array (G - 1 values), got shape {x.shape}")
    if (x <= 0).any():
        raise ValueError("thresholds must be positive test errors for the log-scale x axis")
    n_levels = x.size + 1
    base = np.asarray(baseline, dtype=np.float64)
    if base.shape == (n_levels,):
        base = base[:-1]
    if base.shape != x.shape:
        raise ValueError(f"baseline must have {n_levels} (or {x.size}) values to match thresholds, got shape {base.shape}")
    if not curves:
        raise ValueError("curves is empty; pass at least one method")
    for name, curve in curves.items():
        for key in ("a1", "a2"):
            if key in curve:
                _rows(curve[key], f"curves[{name!r}][{key!r}]", n_levels)

    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    fig = _figure(11, 4.2)
    axes = fig.subplots(1, 2)
    colors = _colors()
    for panel, (key, ylabel) in zip(axes, CURVE_PANELS):
        for k, (name, curve) in enumerate(curves.items()):
            if key not in curve:
                continue
            rows = _rows(curve[key], name, n_levels)[:, :-1]
            mean, std = rows.mean(axis=0), rows.std(axis=0)
            color = colors[k % len(colors)]
            panel.plot(x, mean, "-", color=color, lw=1.8, label=f"{name} (n={rows.shape[0]})")
            if rows.shape[0] > 1:
                panel.fill_between(x, mean - std, mean + std, color=color, alpha=0.2, linewidth=0)
        panel.plot(x, base, "--", color="black", lw=1.2, label="random baseline")
        panel.set_xscale("log")
        panel.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 3.0, 5.0)))
        panel.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        panel.xaxis.set_minor_formatter(NullFormatter())
        panel.set_xlabel("Test-error threshold $t_k$ (%, log scale)")
        panel.set_ylabel(ylabel)
        panel.set_ylim(-0.02, 1.02)
        panel.grid(True, which="major", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 5), frameon=False,
               bbox_to_anchor=(0.5, -0.02))
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return _save(fig, targets)


# ------------------------------------------------------------------------------------- Fig. 2
def plot_clusters(panels: Mapping[str, tuple[ArrayLike, ArrayLike, ArrayLike]], path: str | os.PathLike,
                  title: str = "", note: str = "") -> list[Path]:
    """Per cluster: mean supernet validation accuracy (y) against mean benchmark test accuracy (x), as
    P000 Fig. 2; one panel per run, marker area proportional to the cluster size.

    Args:
        panels: ``{panel title: (sizes, mean supernet valid acc, mean test acc)}``, one entry per cluster
            (from :func:`supernetbench.report.clustering.cluster_means`).
        path: ``.png`` or ``.pdf``.
        title: figure title; ``note``: a line under the panels (the clustering choices).
    """
    targets = _targets(path)
    if not panels:
        raise ValueError("panels is empty; pass at least one run")
    from scipy.stats import spearmanr

    n = len(panels)
    cols = min(n, 3)
    rows = -(-n // cols)
    fig = _figure(4.6 * cols, 4.0 * rows + 0.6)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, (name, (sizes, score, test)) in zip(axes, panels.items()):
        s, v, t = (np.asarray(a, dtype=np.float64) for a in (sizes, score, test))
        if not (s.shape == v.shape == t.shape and s.ndim == 1):
            raise ValueError(f"panel {name!r}: sizes, scores and test accuracies must be 1-D of one length")
        ax.scatter(t, v, s=12 + 300 * s / s.max(), alpha=0.6, edgecolors="black", linewidths=0.5)
        rho = spearmanr(t, v).statistic if len(t) > 2 and np.ptp(t) > 0 and np.ptp(v) > 0 else float("nan")
        ax.set_title(f"{name}\n{len(s)} clusters, Spearman ρ = {rho:.2f}", fontsize="medium")
        ax.set_xlabel("Mean NB201 test accuracy (%)")
        ax.set_ylabel("Mean supernet valid accuracy (%)")
        ax.grid(True, alpha=0.3)
    for ax in axes[n:]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    if note:
        fig.text(0.5, 0.005, note, ha="center", va="bottom", fontsize="small", wrap=True)
    fig.tight_layout(rect=(0, 0.05 if note else 0, 1, 1))
    return _save(fig, targets)


# ---------------------------------------------------------------------- bars: metrics, reliance
def plot_grouped_bars(data: Mapping[str, Mapping[str, ArrayLike]], path: str | os.PathLike, *, ylabel: str,
                      title: str = "", series_labels: Mapping[str, str] | None = None,
                      zero_line: bool = True, reference: Mapping[str, float] | None = None) -> list[Path]:
    """Grouped bars: one group per key of ``data``, one bar per series, height = mean over seeds,
    error bar = population std (``ddof=0``); a series missing from a group leaves a gap.

    Args:
        data: ``{group: {series: per-seed values}}`` (NaN values are ignored, an all-NaN series is a gap).
        path: ``.png`` or ``.pdf``.
        ylabel, title: axis label and title; ``series_labels``: legend text per series key.
        reference: ``{label: y}`` dotted horizontal reference lines (e.g. a random baseline).
    """
    targets = _targets(path)
    if not data:
        raise ValueError("data is empty; pass at least one group")
    series: list[str] = []
    for per in data.values():
        series += [s for s in per if s not in series]
    groups = list(data)
    width = 0.8 / max(len(series), 1)
    # wide enough for every bar, but at most 13 in: a wider figure is shrunk to the page and its text
    # becomes unreadable; the value labels get smaller instead when the bars are narrow
    want = 1.1 + 0.45 * len(groups) * len(series) + 0.6 * len(groups)
    fig = _figure(min(13.0, max(6.0, want)), 4.6 if want > 13.0 else 4.2)
    value_size = "x-small" if want <= 13.0 else 6
    ax = fig.subplots()
    colors = _colors()
    for k, name in enumerate(series):
        means, stds, xs = [], [], []
        for g, group in enumerate(groups):
            vals = np.asarray(data[group].get(name, []), dtype=np.float64).ravel()
            vals = vals[np.isfinite(vals)]
            if vals.size:
                xs.append(g - 0.4 + width * (k + 0.5))
                means.append(vals.mean())
                stds.append(vals.std())
        label = (series_labels or {}).get(name, name)
        bars = ax.bar(xs, means, width * 0.92, yerr=stds, capsize=3, color=colors[k % len(colors)], label=label)
        ax.bar_label(bars, fmt="%.2f", fontsize=value_size, padding=2)  # zero-height bars stay readable
    ax.set_xticks(range(len(groups)), groups)
    ax.set_ylabel(ylabel)
    if zero_line:
        ax.axhline(0.0, color="black", lw=0.8)
    for k, (label, y) in enumerate((reference or {}).items()):
        ax.axhline(y, color="dimgray", lw=1.0, ls=(0, (1, 2 + k)), label=label)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=min(4, len(series) + len(reference or {})),
              frameon=False)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return _save(fig, targets)


def _label_points(ax, points: Sequence[tuple[float, float, str]], fontsize: float = 7.0) -> None:
    """Text labels right of their points, each moved down or up in steps of one line until it
    overlaps no label placed before it (a greedy layout: enough for a handful of labels)."""
    ax.autoscale_view()
    placed: list[tuple[float, float, float, float]] = []  # display-space boxes (x0, y0, x1, y1)
    line = fontsize * 1.4 * ax.figure.dpi / 72
    for x, y, text in sorted(points, key=lambda p: (p[1], p[0])):
        px, py = ax.transData.transform((x, y))
        w = 0.6 * fontsize * len(text) * ax.figure.dpi / 72
        for step in (0, -1, 1, -2, 2, -3, 3, 4, 5, 6):
            box = (px + 6, py + step * line - line / 2, px + 6 + w, py + step * line + line / 2)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
                break
        placed.append(box)
        dy = step * line * 72 / ax.figure.dpi
        ax.annotate(text, (x, y), xytext=(6, dy), textcoords="offset points", fontsize=fontsize, va="center",
                    arrowprops={"arrowstyle": "-", "lw": 0.4, "color": "0.4"} if step else None)


#: pairs named in text on the combined-score figure, per criterion (when there are many)
LABELLED = 4


def plot_combined(pairs: Sequence[Mapping[str, Any]], path: str | os.PathLike, title: str = "") -> list[Path]:
    """Combined-score ranking of S1 x S2 pairs (P002 App. A.4) against their observed test error.

    Args:
        pairs: one mapping per pair with ``stage1``, ``stage2``, ``score`` (lower = better) and
            ``observed_error`` (mean test error %, may be None: not drawn).
        path: ``.png`` or ``.pdf``.
    """
    targets = _targets(path)
    pts = [p for p in pairs if p.get("observed_error") is not None]
    if not pts:
        raise ValueError("no pair has an observed test error to plot")
    fig = _figure(7.4, 5.0)
    ax = fig.subplots()
    stage1 = list(dict.fromkeys(p["stage1"] for p in pts))
    stage2 = list(dict.fromkeys(p["stage2"] for p in pts))
    colors, markers = _colors(), "os^Dvp*hX"
    # colour and marker already name every pair; text labels only where they stay readable: all of
    # a few pairs, else the LABELLED best-predicted and best-observed ones
    named = range(len(pts)) if len(pts) <= 2 * LABELLED else sorted(
        set(sorted(range(len(pts)), key=lambda k: pts[k]["score"])[:LABELLED])
        | set(sorted(range(len(pts)), key=lambda k: pts[k]["observed_error"])[:LABELLED]))
    for p in pts:
        i, j = stage1.index(p["stage1"]), stage2.index(p["stage2"])
        ax.scatter(p["score"], p["observed_error"], s=60, color=colors[i % len(colors)],
                   marker=markers[j % len(markers)], edgecolors="black", linewidths=0.5)
    log = min(p["score"] for p in pts) > 0  # a product of ranks >= 1: a log axis spreads the best pairs
    if log:
        ax.set_xscale("log")
    if len(named) < len(pts):
        fig.text(0.01, 0.01, f"Labelled: the {LABELLED} best-predicted (lowest score) and the {LABELLED} best-observed "
                 "pairs; colour = Stage-1 method, marker = selector.", fontsize="x-small")
    for i, s in enumerate(stage1):  # legend: colour = Stage-1 method, marker = selector
        ax.scatter([], [], color=colors[i % len(colors)], marker="o", label=f"S1: {s}")
    for j, s in enumerate(stage2):
        ax.scatter([], [], color="white", edgecolors="black", marker=markers[j % len(markers)], label=f"S2: {s}")
    ax.set_xlabel("Combined score (App. A.4; lower = predicted better" + (", log scale)" if log else ")"))
    ax.set_ylabel("Observed test error (%), mean over seeds")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    if title:
        ax.set_title(title, fontsize="medium")
    fig.tight_layout(rect=(0, 0.04, 1, 1) if len(named) < len(pts) else None)
    _label_points(ax, [(pts[k]["score"], pts[k]["observed_error"], f"{pts[k]['stage1']}×{pts[k]['stage2']}")
                       for k in named])  # after the layout: placed in final display coordinates
    return _save(fig, targets)
