"""Figures that say why a ranking fails (issue 21): shared-weight score against parameter count
coloured by true accuracy (one panel per method), and ranking quality over training (one row of
panels per run: tau / precision@5 % / a1 level 0 against the epoch, and the bias diagnostics).
Same conventions as :mod:`.figures` (Agg canvas, atomic PNG, PDF beside it on request)."""
from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .figures import _colors, _figure, _save, _targets


def plot_score_vs_params(panels: Mapping[str, tuple[ArrayLike, ArrayLike, ArrayLike]], path: str | os.PathLike,
                         notes: Mapping[str, str] | None = None) -> list[Path]:
    """``panels``: method -> (parameter count, score, true test accuracy), one point per arch; the
    points are drawn in order of accuracy (best on top), jittered horizontally within the 28
    parameter-count values so each column shows its spread; ``notes``: a line under a panel title."""
    if not panels:
        raise ValueError("no methods to plot")
    n = len(panels)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = _figure(4.2 * cols, 3.4 * rows)
    rng = np.random.default_rng(0)
    axes = [fig.add_subplot(rows, cols, i + 1) for i in range(n)]
    sc = None
    for ax, (name, (params, score, acc)) in zip(axes, panels.items()):
        params, score, acc = (np.asarray(v, dtype=np.float64) for v in (params, score, acc))
        order = np.argsort(acc, kind="stable")
        jitter = rng.uniform(-0.012, 0.012, params.size) * (np.ptp(params) or 1.0)
        sc = ax.scatter((params + jitter)[order] / 1e6, score[order], c=acc[order], s=3, cmap="viridis",
                        vmin=np.percentile(acc, 5), vmax=acc.max(), rasterized=True, linewidths=0)
        title = name if not (notes and notes.get(name)) else f"{name}\n{notes[name]}"
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("parameters of the NB201 network (M)", fontsize=8)
        ax.set_ylabel("shared-weight score (valid acc %)", fontsize=8)
        ax.tick_params(labelsize=7)
    if sc is not None:
        cb = fig.colorbar(sc, ax=axes, shrink=0.85)
        cb.set_label("NB201 test accuracy (%)", fontsize=8)
    return _save(fig, _targets(path))


TRAJ_QUALITY = (("kendall", "Kendall τ"), ("precision_top5pct", "precision@top-5 %"), ("a1_level0", "$a_1$ level 0"))


def bias_series(points: Sequence[Mapping[str, Any]]) -> dict[str, tuple[list[float], float]]:
    """Per bias diagnostic: its value per point, and the truth's own value (None where it has none)."""
    def get(d, *keys):
        for k in keys:
            d = d[k]
        return float(d)

    first = points[0]["diagnostics"]
    return {
        "ρ(score, params)": ([get(p["diagnostics"], "feature_spearman", "params", "score") for p in points],
                             get(first, "feature_spearman", "params", "truth")),
        "ρ(score, #avg_pool)": ([get(p["diagnostics"], "feature_spearman", "count_avg_pool_3x3", "score")
                                 for p in points], get(first, "feature_spearman", "count_avg_pool_3x3", "truth")),
        "τ within size strata": ([get(p["diagnostics"], "tau_within_size", "tau") for p in points], math.nan),
        "param-free share of top 5 %": ([get(p["diagnostics"], "param_free_share", "top5pct", "score")
                                         for p in points], get(first, "param_free_share", "top5pct", "truth")),
    }


def plot_trajectory(trajectories: Sequence[Mapping[str, Any]], path: str | os.PathLike) -> list[Path]:
    """One row per trajectory (:func:`~supernetbench.pipeline.trajectory.ranking_trajectory`): left,
    ranking quality against the epoch (a1's random baseline dotted); right, the bias diagnostics,
    each with the truth's own value as a dashed line of the same colour."""
    if not trajectories:
        raise ValueError("no trajectories to plot")
    colors = _colors()
    fig = _figure(10.5, 3.2 * len(trajectories))
    for r, traj in enumerate(trajectories):
        pts = traj["points"]
        ep = [p["epoch"] for p in pts]
        ax = fig.add_subplot(len(trajectories), 2, 2 * r + 1)
        for i, (key, label) in enumerate(TRAJ_QUALITY):
            ax.plot(ep, [p[key] for p in pts], "o-", color=colors[i], label=label, ms=3)
        ax.axhline(traj.get("a1_random_level0", math.nan), color=colors[2], ls=":", lw=1)
        ax.axhline(0.0, color="0.6", lw=0.6)
        ax.set_title(f"{traj['algo']} seed {traj['seed']} ({traj['profile']}, {traj['archs']} archs): ranking quality",
                     fontsize=8)
        ax.set_xlabel("epoch", fontsize=8)
        ax.legend(fontsize=7)
        ax.tick_params(labelsize=7)
        bx = fig.add_subplot(len(trajectories), 2, 2 * r + 2)
        for i, (label, (vals, truth)) in enumerate(bias_series(pts).items()):
            c = colors[(i + 3) % len(colors)]
            bx.plot(ep, vals, "s-", color=c, label=label, ms=3)
            if np.isfinite(truth):
                bx.axhline(truth, color=c, ls="--", lw=1)
        bx.axhline(0.0, color="0.6", lw=0.6)
        bx.set_title("bias diagnostics (dashed: the truth's own value)", fontsize=8)
        bx.set_xlabel("epoch", fontsize=8)
        bx.legend(fontsize=7)
        bx.tick_params(labelsize=7)
    fig.tight_layout()
    return _save(fig, _targets(path))
