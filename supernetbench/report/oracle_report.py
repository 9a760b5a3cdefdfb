"""The report of a study on a space without a table (DARTS): Table 3 from the study's ``oracle`` results.

Reads what ``supernetbench study`` stored: per Stage-2 selection its genotype (the ``select`` record) and
the from-scratch results of the ``oracle`` tasks; computes each trained genotype's shared-weight
validation accuracy on the supernet it was selected from (the run's Stage-2 ``valid_images``, BN mode
and data), and writes Table 3 (final-epoch test error; best over epochs labelled as the papers'
optimistic number), the shared-weight vs from-scratch rank correlation with its ``n``, and an index
that says which parts of the NB201 report are absent and why (they need a table).
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from supernetbench.harness.store import atomic_write_json, atomic_write_text

from .oracle_tables import oracle_table, shared_weight_correlation

__all__ = ["oracle_records", "write_oracle_report"]


def _shared_score(spec, t, arch: str, device: str) -> float:
    """Shared-weight validation accuracy (%) of ``arch`` on the supernet of ``t``'s run."""
    from supernetbench.oneshot.scoring import ScoreConfig, make_scoring_data, score_archs
    from supernetbench.oneshot.train import SearchRun
    from supernetbench.pipeline.evaluate import selection_context
    from supernetbench.study.tasks import run_dir

    run = SearchRun.load(run_dir(spec, t))
    ctx = selection_context(run, None, device=device, data_root=spec.data_root, profile=spec.stage_profile())
    p = ctx.profile
    cfg = dataclasses.replace(ScoreConfig.from_profile(p), images=p.valid_images)
    sd = make_scoring_data(ctx.search_data(), cfg, device, ctx.dtype)
    return float(score_archs(ctx.supernet(), np.array([run.space.parse(arch)]), sd, cfg)[0])


def _md(t) -> str:
    """A table as Markdown with its caption above and its note below."""
    return f"**{t.title}**\n\n{t.to_markdown()}\n{t.note}\n"


def oracle_records(spec, device: str = "cpu") -> tuple[list[dict[str, Any]], list[str]]:
    """One record per trained (selection, oracle seed), accuracies averaged over oracle seeds per
    selection; plus the ids of oracle tasks without a result yet."""
    from supernetbench.study.tasks import oracle_arch, plan, using_store

    per: dict[tuple, dict[str, Any]] = {}
    missing: list[str] = []
    with using_store(spec):
        oracle = spec.oracle_of(device=device)
        for t in plan(spec).tasks:
            if t.kind != "oracle" or t.arch is not None:
                continue
            arch = oracle_arch(spec, t)
            res = oracle.result(arch, t.dataset, t.oracle_seed) if arch is not None else None
            if res is None:
                missing.append(t.id)
                continue
            key = (t.algo, t.selector, t.seed, t.dataset)
            if key not in per:
                per[key] = {"algo": t.algo, "selector": t.selector, "seed": t.seed, "dataset": t.dataset, "arch": arch,
                            "final": [], "best": [], "shared_score": _shared_score(spec, t, arch, device)}
            per[key]["final"].append(res.final_test_acc)
            per[key]["best"].append(res.best_test_acc)
    records = [{**{k: v for k, v in r.items() if k not in ("final", "best")}, "final_acc": float(np.mean(r["final"])),
                "best_acc": float(np.mean(r["best"])), "oracle_seeds": len(r["final"])} for r in per.values()]
    return records, missing


def write_oracle_report(spec, out: str | Path, device: str = "cpu") -> dict[str, Any]:
    """Per dataset ``OUT/<dataset>/``: ``table3_final`` and ``table3_best`` (.md, .csv, .tex),
    ``records.json`` and ``index.md``; returns a summary (paths, n, correlations, missing tasks)."""
    from supernetbench.spaces import get_space, missing_capability

    records, missing = oracle_records(spec, device)
    space = get_space(spec.space)
    absent = missing_capability(space, "table", "a1/a2 curves, rank correlations over the space and the reliance "
                                "statistics N_I/R_I")
    summary: dict[str, Any] = {"space": spec.space, "missing_oracle_tasks": missing, "datasets": {}}
    for ds in spec.datasets:
        recs = [r for r in records if r["dataset"] == ds]
        d = Path(out) / ds
        d.mkdir(parents=True, exist_ok=True)
        tables = [oracle_table(recs, spec.algos, spec.selectors, spec.seeds, spec.space, ds, stat)
                  for stat in ("final", "best")]
        corr = shared_weight_correlation(recs)
        for t in tables:
            atomic_write_text(d / f"{t.name}.md", _md(t))
            atomic_write_text(d / f"{t.name}.csv", t.to_csv())
            atomic_write_text(d / f"{t.name}.tex", t.to_latex())
        atomic_write_json(d / "records.json", {"records": recs, "correlation": corr, "missing_oracle_tasks": missing})
        lines = [f"# {spec.space} on {ds}: Stage 1 x Stage 2, genotypes trained from scratch", "",
                 _md(tables[0]), _md(tables[1]),
                 "## Shared-weight score vs from-scratch accuracy", "",
                 (f"Kendall tau {corr['kendall']:.3f}, Spearman {corr['spearman']:.3f} over n = {corr['n']} trained "
                  "genotypes (shared-weight validation accuracy on the supernet each was selected from, vs the "
                  "final-epoch test accuracy)." if corr["kendall"] is not None else
                  f"Not computed: {corr['n']} trained genotype(s); a rank correlation needs at least 3."), "",
                 "## Absent", "", f"- {absent}." if absent else "", ""]
        if missing:
            lines += [f"{len(missing)} oracle task(s) have no result yet (run the study): {', '.join(missing[:5])}"
                      + (" ..." if len(missing) > 5 else ""), ""]
        atomic_write_text(d / "index.md", "\n".join(lines))
        summary["datasets"][ds] = {"dir": str(d), "records": len(recs), "correlation": corr}
    atomic_write_text(Path(out) / "summary.json", json.dumps(summary, indent=1, sort_keys=True) + "\n")
    return summary
