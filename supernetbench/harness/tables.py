"""Multi-seed reports: the S1 x S2 result table (test error %, mean ± std over seeds, as P002
Tables 2/5/6) and the Stage-1 metric table and curves (P000 Fig. 1/3), for any set of methods.

Every cell is computed from runs of this harness (cached Stage-1 runs and scores are reused).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from .benchmark import load_ground_truth
from .engine import RunSpec
from .pipeline import evaluate
from .profiles import Profile
from .report import format_mean_std, markdown_table, plot_curves
from .store import atomic_write_json, atomic_write_text


def multi_seed_report(
    algos: Sequence[str],
    selectors: Sequence[str],
    dataset: str,
    seeds: Sequence[int],
    profile: Profile,
    out: Path,
    *,
    device: str = "auto",
    runs_root=None,
    data_root: str | None = None,
    progress: bool = True,
) -> Path:
    """Evaluate every (method, seed), then write ``report.md``, ``report.json`` and ``curves.png``."""
    gt = load_ground_truth()
    evs = {a: [evaluate(RunSpec(a, dataset, s, profile, (), data_root), selectors, device=device,
                        runs_root=runs_root, progress=progress, gt=gt) for s in seeds] for a in algos}
    first = next(iter(evs.values()))[0]
    m0 = first.metrics

    s2_rows, s1_rows, raw = [], [], {}
    for a, runs in evs.items():
        row = {"Stage-1": a}
        for sel in selectors:
            errs = [100.0 - e.selections[sel].test_acc for e in runs if sel in e.selections]
            row[sel] = format_mean_std(errs) if len(errs) == len(runs) else "n/a"
        s2_rows.append(row)
        a1 = np.array([e.metrics["a1"] for e in runs])
        a2 = np.array([e.metrics["a2"] for e in runs])
        s1_rows.append({
            "Stage-1": a,
            "a1[0] (top 625)": format_mean_std(a1[:, 0], 3),
            "a2[0] (top 625)": format_mean_std(a2[:, 0], 3),
            "Kendall": format_mean_std([e.metrics["kendall"] for e in runs], 3),
            "Spearman": format_mean_std([e.metrics["spearman"] for e in runs], 3),
            "supernet valid acc": (format_mean_std([e.run.log[-1]["valid_acc"] for e in runs], 1)
                                   if all(e.run.log for e in runs) else "— (no training)"),
        })
        raw[a] = [e.summary() for e in runs]
    s1_rows.append({"Stage-1": "random baseline", "a1[0] (top 625)": f"{m0['baseline'][0]:.3f}",
                    "a2[0] (top 625)": f"{m0['baseline'][0]:.3f}"})

    png = out / "curves.png"
    plot_curves({a: {"a1": np.array([e.metrics["a1"] for e in r]), "a2": np.array([e.metrics["a2"] for e in r])}
                 for a, r in evs.items()}, np.array(m0["thresholds"]), np.array(m0["baseline"]), png,
                title=f"{dataset}, profile {profile.name}, seeds {', '.join(map(str, seeds))}")
    lines = [
        f"# S1 x S2 report: {dataset}, profile `{profile.name}`, seeds {list(seeds)}", "",
        f"- data: {first.run.config.get('data')}",
        f"- scoring: {first.score_config.images} fixed validation images, BN mode `{first.score_config.bn_mode}`",
        "- ground truth: NB201 200-epoch mean test accuracy", "",
        "## Stage 2: test error (%) of the selected architecture, mean ± std over seeds", "",
        markdown_table(s2_rows, ["Stage-1", *selectors]), "",
        "## Stage 1: top-architecture ID rate (a1), cumulative sampling probability (a2), rank correlations", "",
        markdown_table(s1_rows, list(s1_rows[0].keys())), "",
        f"![a1/a2 curves]({png.name})", "",
    ]
    path = out / "report.md"
    atomic_write_text(path, "\n".join(lines))
    atomic_write_json(out / "report.json", raw)
    return path
