"""What a report is made from: per (method, seed) an ``Evaluation`` artifact, optionally the reliance
baselines, and the provenance behind every number (data, profile, seeds, BN mode, device, code).

:func:`collect` is the ONE place that calls :func:`supernetbench.pipeline.evaluate.evaluate`; with cached
runs, scores (and selections) that call recomputes nothing.
"""
from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from supernetbench.harness.profiles import Profile

__all__ = ["ReportInputs", "collect", "data_flags", "git_revision", "provenance", "read_study"]


@dataclass
class ReportInputs:
    """Everything a report renders. ``evaluations[algo][i]`` belongs to ``seeds[i]``."""

    dataset: str
    seeds: list[int]
    profile: Profile
    selectors: list[str]
    evaluations: dict[str, list[Any]]  # algo -> per-seed pipeline.Evaluation
    test_acc: np.ndarray  # NB201 test accuracy (%) of `dataset`, NB201 index order
    archs: np.ndarray  # (15625, 6) op indices, NB201 index order
    reliance: Any | None = None  # baselines.RelianceResult
    gt_path: str = ""
    collect_seconds: float = 0.0
    ground_truth: dict[str, Any] | None = None  # table, gt_split and the NB201 split / column per statistic

    def __post_init__(self) -> None:
        if not self.evaluations:
            raise ValueError("a report needs at least one Stage-1 method")
        for algo, evs in self.evaluations.items():
            if len(evs) != len(self.seeds):
                raise ValueError(f"{algo}: {len(evs)} evaluations for {len(self.seeds)} seeds")

    @property
    def first(self) -> Any:
        return next(iter(self.evaluations.values()))[0]


def collect(algos: Sequence[str], selectors: Sequence[str], dataset: str, seeds: Sequence[int], profile: Profile, *,
            reliance: bool = False, r_u: str = "rsps-biased", device: str = "auto", runs_root=None,
            data_root: str | None = None, progress: bool = True, compute: bool = True,
            gt=None, store: str | Path | None = None) -> ReportInputs:
    """Load (or, with ``compute``, make) the artifacts of every (method, seed), plus the reliance
    baselines when ``reliance`` (for the selectors that need no architecture weights). ``store``: the
    artifact store the report reads (named in the suggested ``study`` command; None = the default)."""
    from supernetbench.algorithms import ALGORITHMS
    from supernetbench.oneshot.train import RunSpec
    from supernetbench.selectors import SELECTORS

    for what, items in (("--algos", algos), ("--selectors", selectors), ("--seeds", seeds)):
        if not items:
            raise ValueError(f"{what} is empty; name at least one")
        if len(set(items)) != len(items):
            raise ValueError(f"{what} lists a value twice: {list(items)}")
    from supernetbench.harness.data import DATASETS  # function level: importing the report loads no torch

    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; valid choices: {', '.join(DATASETS)}")
    for a in algos:
        ALGORITHMS.get(a)  # unknown names fail before any work
    rel_selectors = [s for s in selectors if not SELECTORS.get(s).requires]
    if reliance and not rel_selectors:
        raise ValueError(f"--reliance needs a selector that runs on the baselines (no arch weights); "
                         f"{list(selectors)} all need them: add e.g. valid")
    if reliance:
        from supernetbench.pipeline.baselines import baseline_specs

        baseline_specs(r_u)  # an unknown R_U meaning fails before any work
    from supernetbench.pipeline.artifacts import MissingArtifacts
    from supernetbench.pipeline.evaluate import evaluate

    t0 = time.perf_counter()
    from supernetbench.spaces import get_space

    gt = gt or get_space().benchmark(dataset)  # a report needs a table (gated in the CLI)
    evs: dict[str, list[Any]] = {a: [] for a in algos}
    missing: list[str] = []  # artifacts-only: every missing artifact of the report, named at once
    for a in algos:
        for s in seeds:
            try:
                evs[a].append(evaluate(RunSpec(a, dataset, s, profile, (), data_root), list(selectors), device=device,
                                       runs_root=runs_root, progress=progress, gt=gt, compute=compute))
            except MissingArtifacts as e:
                missing += e.missing
    rel = None
    if reliance:
        from supernetbench.pipeline.baselines import evaluate_baselines

        try:
            rel = evaluate_baselines(dataset, seeds, profile, rel_selectors, r_u=r_u, device=device,
                                     runs_root=runs_root, data_root=data_root, gt=gt, progress=progress,
                                     compute=compute)
        except MissingArtifacts as e:
            missing += e.missing
    if missing:
        command = report_study_command(algos, selectors, dataset, seeds, profile, reliance, r_u, runs_root, data_root,
                                       store=store)
        raise MissingArtifacts(list(dict.fromkeys(missing)), command)
    
    return ReportInputs(dataset, list(seeds), profile, list(selectors), evs,
                        gt.accuracy(dataset, profile.gt_split, "stage1"), gt.archs, rel, str(gt.path),
                        time.perf_counter() - t0, ground_truth=gt.record(dataset, profile.gt_split))


def report_study_command(algos: Sequence[str], selectors: Sequence[str], dataset: str, seeds: Sequence[int],
                         profile: Profile, reliance: bool, r_u: str, runs_root=None, data_root: str | None = None,
                         *, store: str | Path | None = None) -> str:
    """The one ``supernetbench study`` command that makes every artifact of the report."""
    from supernetbench.pipeline.artifacts import study_command
    from supernetbench.oneshot.train import RunSpec

    extra = (() if reliance else ("--no-reliance",)) + (() if r_u == "rsps-biased" else (f"--r-u {r_u}",))
    return study_command(RunSpec(algos[0], dataset, seeds[0], profile, (), data_root), list(selectors), runs_root,
                         algos=list(algos), seeds=list(seeds), extra=extra, store=store)


# ------------------------------------------------------------------------------------ provenance
def data_flags(description: str) -> list[str]:
    """Warnings for data that is not the full real data set, read from a run's data description."""
    d = description.lower()
    flags = []
    if "stand-in" in d or "not real" in d:
        flags.append("SYNTHETIC stand-in data, not the real data set: numbers say nothing about the papers' results")
    if "partial" in d:
        flags.append("PARTIAL data set (a subset of the official rows): numbers are not comparable to the papers'")
    if "jpeg" in d:
        flags.append("lossy JPEG re-encodings of the images (the CIFAR-10 pack), not the official pixels")
    return flags


def git_revision(path: Path | None = None) -> str:
    """``<commit>`` (+ ``-dirty`` with uncommitted changes) of the checkout holding this code, or ``unknown``."""
    where = str(path or Path(__file__).resolve().parent)
    try:
        rev = subprocess.run(["git", "-C", where, "rev-parse", "--short=12", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", where, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return rev + ("-dirty" if dirty else "")


def provenance(inputs: ReportInputs) -> dict[str, Any]:
    """Where every number comes from, as plain JSON-able values."""
    from supernetbench.oneshot.train import CODE_VERSION

    runs = [e for evs in inputs.evaluations.values() for e in evs]
    configs = [e.run.config for e in runs]
    data = sorted({str(c.get("data")) for c in configs})
    scoring = sorted({(e.score_config.bn_mode, e.score_config.images) for e in runs if e.score_config})
    out: dict[str, Any] = {
        "dataset": inputs.dataset,
        "data": data,
        "flags": sorted({f for d in data for f in data_flags(d)}),
        "ground_truth": f"NB201 200-epoch mean test accuracy ({inputs.gt_path})" + (
            f"; Stage-1 metrics and clusters on {g['stage1_split']} ({g['columns']['stage1']}), selected archs on "
            f"{g['stage2_split']} ({g['columns']['stage2']}); profile gt_split = {g['gt_split']}"
            if (g := inputs.ground_truth) else ""),
        "ground_truth_splits": inputs.ground_truth,
        "profile": inputs.profile.name,
        "profile_fields": inputs.profile.to_dict(),
        "seeds": list(inputs.seeds),
        "algos": list(inputs.evaluations),
        "selectors": list(inputs.selectors),
        "bn_mode": sorted({b for b, _ in scoring}),
        "score_images": sorted({n for _, n in scoring}),
        "device": sorted({str(c.get("device")) for c in configs}),
        "code_version": CODE_VERSION,
        "run_code_versions": sorted({str(c.get("code_version")) for c in configs}),
        "git_revision": git_revision(),
        "runs": {a: {s: str(e.run.path) for s, e in zip(inputs.seeds, evs)} for a, evs in inputs.evaluations.items()},
        "skipped": {f"{a} x {sel}": why for a, evs in inputs.evaluations.items() for sel, why in evs[0].skipped.items()},
        "collect_seconds": round(inputs.collect_seconds, 2),
        "generated": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    if inputs.reliance is not None:
        from supernetbench.pipeline.baselines import R_U_MEANINGS

        out["reliance"] = {"r_u": inputs.reliance.r_u, "r_u_meaning": R_U_MEANINGS[inputs.reliance.r_u],
                           "runs": inputs.reliance.runs}
    return out


# ------------------------------------------------------------------------------------ study files
def read_study(path: str | Path, **flags: Any):
    """The study in a TOML file (:class:`supernetbench.study.StudySpec`, the spec that ``supernetbench
    study`` runs), with ``flags`` that are not None replacing its keys; every problem is one error
    naming the key and the fix."""
    from supernetbench.study.spec import StudySpec

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"study file {path} does not exist")
    return StudySpec.from_toml(path, **flags)
