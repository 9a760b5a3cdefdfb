"""Turn :class:`~supernetbench.report.inputs.ReportInputs` into tables, figures and the index page.

Nothing here trains, scores or selects: every number is read from the artifacts in the inputs.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from supernetbench.harness.metrics import MeanStd, mean_std
from supernetbench.harness.store import atomic_write_text

from . import clustering as C
from .figures import plot_clusters, plot_combined, plot_curves, plot_grouped_bars
from .html import Block, render_html, render_markdown
from .inputs import ReportInputs, provenance
from .tables import Table, best_per_row

__all__ = ["combined_rows", "levels_table", "rank_table", "reliance_table", "s1s2_table", "write_report"]

RANK_METRICS = (("kendall", "Kendall τ"), ("spearman", "Spearman ρ"), ("precision_top5pct", "precision@top-5 %"))
RELIANCE_STATS = ("N_I-N_U", "R_I-R_U", "R_U-N_U", "R_I-N_I")


def _ms(values: list[float]) -> MeanStd:
    return mean_std(np.asarray(values, dtype=np.float64))


def s1s2_table(inputs: ReportInputs) -> Table:
    """P002 Tables 2/5/6: test error (%) of the selected arch, mean ± std over seeds, best (lowest) per row."""
    rows, means = [], []
    for algo, evs in inputs.evaluations.items():
        cells: list[Any] = []
        for sel in inputs.selectors:
            errs = [100.0 - e.selections[sel].test_acc for e in evs if sel in e.selections]
            cells.append(_ms(errs) if len(errs) == len(evs) else None)
        rows.append((algo, cells))
        means.append([c.mean if c is not None else np.nan for c in cells])
    best = {(int(i), int(j)) for i, j in zip(*np.nonzero(best_per_row(means)))}
    return Table("s1xs2_test_error", f"Stage 1 x Stage 2: test error (%) of the selected architecture on "
                 f"{inputs.dataset} (columns: Stage-2 selectors), mean ± std over seeds {inputs.seeds}", "Stage-1",
                 list(inputs.selectors), rows, decimals=2, best=best,
                 note="Bold: lowest mean test error in the row. —: the selector does not apply to the method "
                      "(e.g. prune needs architecture weights). Std is the population std (ddof = 0).")


def rank_table(inputs: ReportInputs) -> Table:
    """Kendall τ, Spearman ρ and precision@top-5 % of the supernet ranking per method, plus supernet valid acc."""
    rows = []
    for algo, evs in inputs.evaluations.items():
        cells: list[Any] = [_ms([e.metrics[k] for e in evs]) for k, _ in RANK_METRICS]
        logs = [e.run.log[-1]["valid_acc"] for e in evs if e.run.log]
        cells.append(_ms(logs) if len(logs) == len(evs) else "no training")
        rows.append((algo, cells))
    rows.append(("random ranking (expected)", [0.0, 0.0, 0.05, None]))
    return Table("rank_correlation", "Stage 1: rank correlation of the supernet's validation accuracy with the NB201 "
                 "test accuracy over all 15,625 archs, and precision@top-5 %", "Stage-1",
                 [label for _, label in RANK_METRICS] + ["final supernet valid acc (%)"], rows, decimals=3,
                 note="precision@top-5 %: share of the supernet's top 5 % of archs that are in the true top 5 %. "
                      "Mean ± std over seeds.")


def levels_table(inputs: ReportInputs, levels: int = 3) -> Table:
    """a1 and a2 at the first ``levels`` threshold levels, and the random baseline."""
    m0 = inputs.first.metrics
    cols = [f"a1[{k}]" for k in range(levels)] + [f"a2[{k}]" for k in range(levels)]
    rows = [(algo, [_ms([e.metrics[key][k] for e in evs]) for key in ("a1", "a2") for k in range(levels)])
            for algo, evs in inputs.evaluations.items()]
    rows.append(("random baseline", [float(m0["baseline"][k]) for _ in ("a1", "a2") for k in range(levels)]))
    thr = ", ".join(f"{t:.2f} %" for t in m0["thresholds"][:levels])
    return Table("a1_a2_levels", f"Stage 1: top-arch ID rate a1 and sampling probability mass a2 at levels "
                 f"0..{levels - 1} (test-error thresholds {thr})", "Stage-1", cols, rows, decimals=3,
                 note="Mean ± std over seeds.")


def reliance_table(result: Any) -> Table:
    """Reliance statistics (pp of selected-arch test accuracy) per selector, mean ± std over seeds."""
    stats = result.statistics
    rows = [(sel, [stats[sel][k] for k in RELIANCE_STATS]) for sel in stats]
    return Table("reliance", f"Stage 2: reliance statistics on the four baselines (gain in the selected arch's test "
                 f"accuracy, pp), seeds {result.seeds}", "selector", list(RELIANCE_STATS), rows, decimals=2,
                 note="N = untrained supernet, R = rsps-biased supernet; _U uniform / _I rank-linear candidates. "
                      "R_I-R_U: reliance on the architecture distribution; R_U-N_U: on shared-weight estimation.")


def combined_rows(inputs: ReportInputs, pool: Sequence[str] | None = None, pairing: str | None = None
                  ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The App. A.4 ranking of every S1 x S2 pair (Stage-1 methods of ``pool``, default those that
    learn alpha; reliance selectors), with the observed test error, and the ranking's description
    (pool, excluded methods, pairing, Kendall tau) as :func:`~supernetbench.pipeline.baselines.combined_table`."""
    from supernetbench.pipeline.baselines import combined_table
    from supernetbench.harness.reliance import DEFAULT_PAIRING, stage1_inputs

    rel = inputs.reliance
    stage1 = {a: stage1_inputs([e.metrics for e in evs]) for a, evs in inputs.evaluations.items()}
    errors: dict[tuple[str, str], MeanStd] = {}
    for a, evs in inputs.evaluations.items():
        for sel in rel.selected:
            errs = [100.0 - e.selections[sel].test_acc for e in evs if sel in e.selections]
            if len(errs) == len(evs):
                errors[(a, sel)] = _ms(errs)
    observed = {k: 100.0 - v.mean for k, v in errors.items()}
    table = combined_table(stage1, rel, observed, pairing=pairing or DEFAULT_PAIRING, pool=pool)
    rows = [{**r, "observed_error": errors.get((r["stage1"], r["stage2"])),
             "kendall_score_vs_observed": table.get("kendall_score_vs_observed")} for r in table["ranking"]]
    return rows, {k: v for k, v in table.items() if k != "ranking"}


def _combined_table(rows: list[dict[str, Any]], meta: dict[str, Any]) -> Table:
    from supernetbench.pipeline.baselines import describe_combined

    cells = [(f"{r['stage1']} × {r['stage2']}", [float(r["score"]), r["r_alpha1"], r["r_alpha2"], r["r_beta1"],
                                                r["r_beta2"], r["observed_error"]]) for r in rows]
    tau = rows[0].get("kendall_score_vs_observed") if rows else None
    a2, b2 = meta["stage2_keys"]
    return Table("combined_ranking", "Combined score (P002 App. A.4) of every S1 × S2 pair, best (lowest) first",
                 "pair", ["score", "r_α1", "r_α2", "r_β1", "r_β2", "observed test error (%)"], cells, decimals=2,
                 note=describe_combined(meta) + f" Ranks: r_α1/r_β1 = Stage-1 rank by mean a2/a1 over levels 0-2 "
                      f"among the pool; r_α2/r_β2 = selector rank by {a2}/{b2} (rank 1 = best / largest). "
                      + (f"Kendall τ(−score, observed accuracy) = {tau:.2f}." if tau is not None else ""))


def _curves(inputs: ReportInputs) -> dict[str, dict[str, np.ndarray]]:
    """a1 (and a2, unless the method's architecture distribution is uniform) per method, ``(seeds, G)``."""
    out = {}
    for algo, evs in inputs.evaluations.items():
        out[algo] = {"a1": np.array([e.metrics["a1"] for e in evs])}
        if any(np.ptp(np.asarray(e.run.archprob)) > 0 for e in evs):
            out[algo]["a2"] = np.array([e.metrics["a2"] for e in evs])
    return out


def _cluster_panels(inputs: ReportInputs) -> tuple[dict[str, tuple], str]:
    idx = C.clustering_sample(len(inputs.archs))
    labels = C.cluster_archs(inputs.archs[idx])
    panels = {}
    for algo, evs in inputs.evaluations.items():
        ev = evs[0]  # one run per panel, as P000 Fig. 2
        _, sizes, mscore, mtest = C.cluster_means(labels, np.asarray(ev.scores)[idx], inputs.test_acc[idx])
        panels[f"{algo}, seed {inputs.seeds[0]}"] = (sizes, mscore, mtest)
    note = (f"Our choice (P000 states neither): {C.LINKAGE_METHOD} linkage on 6 − (shared ops over the 6 edges), "
            f"cut into ≤ {C.N_CLUSTERS} clusters (maxclust); {len(idx):,} of {len(inputs.archs):,} archs "
            f"(uniform sample, seed {C.SAMPLE_SEED}). Marker area ∝ cluster size.")
    return panels, note


def write_report(inputs: ReportInputs, out: str | Path, *, pdf: bool = False, pool: Sequence[str] | None = None,
                 pairing: str | None = None) -> Path:
    """Write tables (``tables/*.md|csv|tex``), figures (``figures/*.png``, PDF too with ``pdf``),
    ``report.json``, ``index.md`` and a self-contained ``index.html`` into ``out``; returns ``index.html``.
    ``pool``/``pairing``: the combined score's Stage-1 pool and Stage-2 rank pairing (with reliance)."""
    t0 = time.perf_counter()
    out = Path(out)
    figs, tabs = out / "figures", out / "tables"
    ext = ".pdf" if pdf else ".png"
    prov = provenance(inputs)
    m0 = inputs.first.metrics
    title = f"Supernet evaluation report: {inputs.dataset}, profile {inputs.profile.name}, seeds {inputs.seeds}"
    sub = f"{inputs.dataset}, profile {inputs.profile.name}, seeds {', '.join(map(str, inputs.seeds))}"

    s1s2, ranks, levels = s1s2_table(inputs), rank_table(inputs), levels_table(inputs)
    tables = [s1s2, ranks, levels]
    curves = _curves(inputs)
    near = [a for a, c in curves.items() if "a2" in c
            and np.max(np.abs(c["a2"][:, :-1].mean(axis=0) - np.asarray(m0["baseline"][:-1]))) < 0.01]
    fig1 = plot_curves(curves, np.array(m0["thresholds"]), np.array(m0["baseline"]),
                       figs / f"fig1_a1_a2{ext}", title=f"Stage-1 evaluation (P000 Fig. 1 style): {sub}")[0]
    panels, cluster_note = _cluster_panels(inputs)
    fig2 = plot_clusters(panels, figs / f"fig2_structural_clusters{ext}", title=f"Structural clustering "
                         f"(P000 Fig. 2 style): {inputs.dataset}, profile {inputs.profile.name}", note=cluster_note)[0]
    fig_rank = plot_grouped_bars({a: {k: [e.metrics[k] for e in evs] for k, _ in RANK_METRICS}
                                  for a, evs in inputs.evaluations.items()}, figs / f"rank_correlation{ext}",
                                 ylabel="value (mean ± std over seeds)", series_labels=dict(RANK_METRICS),
                                 reference={"random precision@top-5 % (0.05)": 0.05},
                                 title=f"Rank correlation and precision@top-5 %: {sub}")[0]

    from .diagnostics_section import diagnostics_section

    why_blocks, why_tables, why_figures, size_notes = diagnostics_section(inputs, figs, ext)
    tables += why_tables
    blocks: list[Block] = [("h1", title), ("h2", "Provenance")]
    blocks += [("warning", f) for f in prov["flags"]]
    blocks.append(("list", [
        f"data: {'; '.join(prov['data'])}",
        f"ground truth: {prov['ground_truth']}",
        f"profile: {prov['profile']} ({', '.join(f'{k}={v}' for k, v in prov['profile_fields'].items() if k != 'name')})",
        f"seeds: {prov['seeds']}; Stage-1 methods: {prov['algos']}; selectors: {prov['selectors']}",
        f"scoring: BN mode {', '.join(prov['bn_mode'])}, {', '.join(map(str, prov['score_images']))} fixed "
        "validation images per arch",
        f"device: {', '.join(prov['device'])}",
        f"code: supernetbench {prov['code_version']} (runs made by {', '.join(prov['run_code_versions'])}), "
        f"git {prov['git_revision']}",
        f"generated {prov['generated']}; artifacts loaded in {prov['collect_seconds']} s",
    ] + [f"skipped: {k} ({v})" for k, v in prov["skipped"].items()]))
    blocks += [("h2", "Stage 2: S1 × S2 test error (P002 Tables 2/5/6 style)"), ("table", s1s2),
               ("h2", "Stage 1: a1 and a2 against the test-error threshold (P000 Fig. 1 style)"),
               ("figure", fig1, "a1,k (top-arch ID rate) and a2,k (sampling probability mass of the true top archs) "
                "against the test-error threshold, log x; mean ± std band over seeds; random baseline dashed. "
                "Methods whose architecture distribution is uniform (no learned distribution) have no a2 line."
                + (f" The a2 lines of {', '.join(near)} lie within 0.01 of the random baseline everywhere (their "
                   "learned distribution is still almost uniform), so the dashed line covers them." if near else "")),
               *[("p", n) for n in size_notes],
               ("table", levels),
               ("h2", "Stage 1: rank correlation and precision@top-5 %"), ("table", ranks),
               ("figure", fig_rank, "Kendall τ, Spearman ρ and precision@top-5 % per method; bars = mean, "
                "error bars = std over seeds."),
               *[("p", n) for n in size_notes],
               *why_blocks,
               ("h2", "Structural clustering (P000 Fig. 2 style)"),
               ("p", cluster_note + " Each point is one cluster: mean supernet validation accuracy (the run's "
                "full-space scores) against mean NB201 test accuracy of its archs."),
               ("figure", fig2, f"Per-cluster mean supernet valid accuracy vs mean NB201 test accuracy, seed "
                f"{inputs.seeds[0]} of each method.")]
    if inputs.reliance is not None:
        rel_t = reliance_table(inputs.reliance)
        from supernetbench.pipeline.baselines import describe_combined

        rows, combined = combined_rows(inputs, pool, pairing)
        prov["combined_score"] = combined_meta = {k: combined[k] for k in ("pool", "pool_rule", "excluded", "pairing",
                                                                            "pairing_reading", "stage2_keys")}
        comb_t = _combined_table(rows, combined)
        tables += [rel_t, comb_t]
        fig_rel = plot_grouped_bars({s: {k: v.tolist() for k, v in d.items()} for s, d in
                                     _per_seed(inputs.reliance).items()}, figs / f"reliance{ext}",
                                    ylabel="gain in selected arch's test acc (pp)",
                                    title=f"Stage-2 reliance statistics: {sub}")[0]
        fig_comb = plot_combined([{**r, "observed_error": r["observed_error"].mean if r["observed_error"] else None}
                                  for r in rows], figs / f"combined_score{ext}",
                                 title=f"Combined score vs observed test error: {sub}")[0]
        blocks += [("h2", "Stage 2: reliance statistics"),
                   ("p", f"R_U = {prov['reliance']['r_u_meaning']}."), ("table", rel_t),
                   ("figure", fig_rel, "Reliance statistics per selector: bars = mean, error bars = std over seeds."),
                   ("h2", "Combined score of S1 × S2 pairs (P002 App. A.4)"),
                   ("p", describe_combined(combined_meta)), ("table", comb_t),
                   ("figure", fig_comb, "Combined score (lower = predicted better) against the observed mean test "
                    "error of each pair.")]
    files = [f"tables/{t.name}.{x}" for t in tables for x in ("md", "csv", "tex")]
    figures_written = [fig1, fig2, fig_rank, *why_figures] + ([fig_rel, fig_comb] if inputs.reliance is not None else [])
    files += [f"figures/{f.stem}{x}" for f in figures_written for x in ([".png", ".pdf"] if pdf else [".png"])]
    blocks += [("h2", "Files"), ("list", files + ["report.json (provenance, per-run summaries, reliance)"])]

    for t in tables:
        atomic_write_text(tabs / f"{t.name}.md", f"**{t.title}**\n\n{t.to_markdown()}")
        atomic_write_text(tabs / f"{t.name}.csv", t.to_csv())
        atomic_write_text(tabs / f"{t.name}.tex", t.to_latex())
    raw = {"provenance": prov, "runs": {a: [e.summary() for e in evs] for a, evs in inputs.evaluations.items()},
           "reliance": inputs.reliance.summary() if inputs.reliance is not None else None,
           "combined": ({**combined, "ranking": rows} if inputs.reliance is not None else None),
           "render_seconds": round(time.perf_counter() - t0, 2)}
    atomic_write_text(out / "report.json", json.dumps(raw, indent=1, default=_json_default))
    atomic_write_text(out / "index.md", render_markdown(blocks, out))
    path = out / "index.html"
    atomic_write_text(path, render_html(blocks, title))
    return path


def _per_seed(result: Any) -> dict[str, dict[str, np.ndarray]]:
    from supernetbench.harness.reliance import reliance_differences

    return {s: reliance_differences(b) for s, b in result.selected.items()}


def _json_default(o: Any) -> Any:
    if hasattr(o, "tolist"):
        return o.tolist()
    if hasattr(o, "_asdict"):
        return o._asdict()
    return str(o)
