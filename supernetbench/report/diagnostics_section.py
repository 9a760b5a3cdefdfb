"""The report's "why" section (issue 21): bias-diagnostics and top-k tables, the score-vs-parameters
figure, the size-dominance sentences under Fig. 1 and the rank-correlation figure, and ranking
quality over training for every run that kept checkpoints. Everything is computed from the
full-space scores already in the inputs (pure numpy), except the trajectories, which score the kept
checkpoints on a seeded sample of :data:`TRAJECTORY_ARCHS` archs (cached by content hash)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from supernetbench.spaces.nb201 import complexity as CX
from supernetbench.harness import diagnostics as D
from supernetbench.harness.metrics import mean_std

from .diagnostic_figures import plot_score_vs_params, plot_trajectory
from .tables import Table

#: archs per kept checkpoint in the report's trajectory figure (uniform sample, default_rng(0))
TRAJECTORY_ARCHS = 500


def run_diagnostics(inputs, ev) -> dict[str, Any]:
    """An evaluation's diagnostics (from its metrics, or computed from its scores)."""
    d = ev.metrics.get("diagnostics")
    if d is None:
        feats = CX.arch_complexity(inputs.archs, inputs.dataset)
        d = D.bias_diagnostics(inputs.test_acc, ev.scores, feats, CX.size_strata(inputs.archs),
                               CX.parameter_free_dominated(inputs.archs))
    return d


def _get(d: dict, path: tuple[str, ...]) -> float:
    for k in path:
        d = d[k]
    return float(d)


BIAS_COLUMNS = (
    ("ρ(·, params)", ("feature_spearman", "params", "score"), ("feature_spearman", "params", "truth")),
    ("ρ(·, FLOPs)", ("feature_spearman", "flops_m", "score"), ("feature_spearman", "flops_m", "truth")),
    ("ρ(·, #conv3x3)", ("feature_spearman", "count_nor_conv_3x3", "score"),
     ("feature_spearman", "count_nor_conv_3x3", "truth")),
    ("ρ(·, #avg_pool)", ("feature_spearman", "count_avg_pool_3x3", "score"),
     ("feature_spearman", "count_avg_pool_3x3", "truth")),
    ("ρ(·, #skip)", ("feature_spearman", "count_skip_connect", "score"),
     ("feature_spearman", "count_skip_connect", "truth")),
    ("τ within size strata", ("tau_within_size", "tau"), None),
    ("param-free share of top 5 %", ("param_free_share", "top5pct", "score"), ("param_free_share", "top5pct", "truth")),
)
TOP_COLUMNS = tuple((f"{what} top {f * 100:g} %", ("top", f"top{f * 100:g}pct", key))
                    for f in D.TOP_FRACTIONS for what, key in (("τ", "kendall"), ("ρ", "spearman"), ("P@", "precision")))


def _cell(values: list[float]):
    vals = np.asarray(values, dtype=np.float64)
    return None if np.all(np.isnan(vals)) else mean_std(vals[~np.isnan(vals)])


def bias_table(inputs, diags: dict[str, list[dict]]) -> Table:
    rows = [(algo, [_cell([_get(d, path) for d in ds]) for _, path, _ in BIAS_COLUMNS]) for algo, ds in diags.items()]
    first = next(iter(diags.values()))[0]
    rows.append(("NB201 truth (test acc)", [_get(first, t) if t else 1.0 for _, _, t in BIAS_COLUMNS]))
    return Table("bias_diagnostics", "Why a ranking fails: Spearman ρ of the supernet score (and of the true "
                 "accuracy, last row) with the NB201 network's size and op counts; Kendall τ within strata of "
                 "equal parameter count; share of the predicted top 5 % taken by parameter-free-dominated archs",
                 "Stage-1", [c for c, _, _ in BIAS_COLUMNS], rows, decimals=3,
                 note="Size strata: the 28 parameter-count values (#conv1x1, #conv3x3), τ_b per stratum weighted "
                      "by its pairs (size-1 or constant strata skipped). Parameter-free-dominated: more edges with "
                      "skip_connect/avg_pool_3x3 than with a convolution. Ties in a top-k are broken at random in "
                      "expectation. Mean ± std over seeds.")


def top_table(inputs, diags: dict[str, list[dict]]) -> Table:
    rows = [(algo, [_cell([_get(d, path) for d in ds]) for _, path in TOP_COLUMNS]) for algo, ds in diags.items()]
    rows.append(("random ranking (expected)", [f if c.startswith("P@") else 0.0
                                               for c, f in zip([c for c, _ in TOP_COLUMNS],
                                                               [f for f in D.TOP_FRACTIONS for _ in range(3)])]))
    return Table("top_k_correlation", "Ranking quality inside the true top: Kendall τ and Spearman ρ restricted to "
                 "the true top 1 / 5 / 10 % of archs, and precision@k for the same k", "Stage-1",
                 [c for c, _ in TOP_COLUMNS], rows, decimals=3,
                 note="True top: archs with test accuracy ≥ the k-th best (ties at the cutoff included). "
                      "P@: expected |true top-k ∩ predicted top-k| / k with ties broken at random on both sides. "
                      "Mean ± std over seeds.")


def size_sentences(diags: dict[str, list[dict]]) -> list[str]:
    """One sentence per method whose seed-mean ρ(score, params) and τ within size strata meet
    :func:`diagnostics.size_dominated`."""
    out = []
    for algo, ds in diags.items():
        rho = float(np.nanmean([_get(d, ("feature_spearman", "params", "score")) for d in ds]))
        tau = float(np.nanmean([_get(d, ("tau_within_size", "tau")) for d in ds])) if any(
            np.isfinite(_get(d, ("tau_within_size", "tau"))) for d in ds) else math.nan
        if D.size_dominated(rho, tau):
            out.append(f"{algo} ranks by parameter count: τ within size strata {tau:.2f} "
                       f"(ρ(score, params) {rho:+.2f}, truth's "
                       f"{_get(ds[0], ('feature_spearman', 'params', 'truth')):+.2f}).")
    return out


def diagnostics_section(inputs, figs: Path, ext: str) -> tuple[list, list[Table], list[Path], list[str]]:
    """(blocks, tables, figures, size sentences) of the section."""
    diags = {algo: [run_diagnostics(inputs, e) for e in evs] for algo, evs in inputs.evaluations.items()}
    sentences = size_sentences(diags)
    bias, top = bias_table(inputs, diags), top_table(inputs, diags)
    params = CX.arch_complexity(inputs.archs, inputs.dataset)["params"]
    notes = {algo: D.size_sentence(ds[0]) or "" for algo, ds in diags.items()}
    fig = plot_score_vs_params({algo: (params, evs[0].scores, inputs.test_acc)
                                for algo, evs in inputs.evaluations.items()},
                               figs / f"score_vs_params{ext}", notes=notes)[0]
    blocks: list = [("h2", "Why: complexity bias and ranking inside the true top"), ("table", bias),
                    ("figure", fig, f"Shared-weight score against the parameter count of the NB201 network, one "
                     f"point per arch coloured by its true test accuracy (seed {inputs.seeds[0]} of each method). "
                     "A ranking that only sorts by size shows steps between columns and no colour order "
                     "within a column."),
                    ("table", top)]
    figures = [fig]
    trajs = _trajectories(inputs)
    if trajs:
        tfig = plot_trajectory(trajs, figs / f"trajectory{ext}")[0]
        figures.append(tfig)
        blocks += [("h2", "Ranking quality over training"),
                   ("figure", tfig, f"Kendall τ, precision@top-5 % and a1 level 0 of every kept checkpoint (epoch 0 "
                    f"= before training) on a uniform sample of {TRAJECTORY_ARCHS} archs (default_rng(0)), with "
                    "the bias diagnostics beside them (dashed: the truth's own value).")]
    return blocks, [bias, top], figures, sentences


def _trajectories(inputs) -> list[dict]:
    from supernetbench.oneshot.train import kept_checkpoints
    from supernetbench.pipeline.trajectory import ranking_trajectory

    out = []
    for evs in inputs.evaluations.values():
        for e in evs:
            if kept_checkpoints(e.run.path):
                out.append(ranking_trajectory(e.run.path, archs=TRAJECTORY_ARCHS, device="cpu"))
    return out
