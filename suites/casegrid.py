"""The suite grid (every built-in Stage-1 method x Stage-2 selector x dataset) and which cases CI
runs. What a case measures, the reference protocol and the reference format are
:mod:`supernetbench.gate` (shared with ``supernetbench gate``); values are written by
``pytest suites -k <case> --update-references`` - never by hand.
"""
from __future__ import annotations

from pathlib import Path

from supernetbench.algorithms import ALGORITHMS
from supernetbench.gate import (  # noqa: F401  (re-exported for the suites and scripts)
    DATASET_OVERRIDES, DEFAULT_CASE_SPACE, NUMERIC_ATOL, PROFILE, REFERENCE_SEEDS, SPACE_OVERRIDES, build_reference,
    case_arch, case_profile, case_spec as _case_spec, case_values, data_root_for, evaluate_case, git_revision,
    read_reference, stale_fields, suite_threads, write_reference,
)
from supernetbench.spaces.nb201.benchmark import DATASETS, load_ground_truth
from supernetbench.harness.device import torch_threads
from supernetbench.harness.store import cache_dir
from supernetbench.selectors import SELECTORS
from supernetbench.spaces import get_space

REFERENCE_DIR = Path(__file__).parent / "reference"
#: cases CI runs on every change (the rest are marked ``slow``; run them with -m slow or -k).
CI_DATASETS = ("cifar10",)
CI_ALGOS = ("darts", "gdas")  # a softmax mixture and a Gumbel hard path; every method is in the golden tier


def all_cases() -> list[tuple[str, str, str]]:
    """Built-in names only: installed plugins are gated from their own repository (``supernetbench gate``)."""
    return [(a, s, d) for d in DATASETS for a in ALGORITHMS.builtin_names() for s in SELECTORS.builtin_names()]


#: the other spaces' suite cases: space -> datasets (Stage 2 only: no table, no full-space scoring)
SPACE_DATASETS: dict[str, tuple[str, ...]] = {"darts": ("cifar10",)}
#: the other spaces' methods CI runs (gdas: the hard-op path on both cell types; also re-run by
#: ``make test-portability``, whose default case filter names gdas and cifar10)
SPACE_CI_ALGOS = ("gdas",)
#: seeds of a space case's reference (the first asserted; the others stored as information)
SPACE_REFERENCE_SEEDS = (0, 1, 2)


def space_cases() -> list[tuple[str, str, str, str]]:
    """(algo, selector, dataset, space) of every built-in method x selector on the other spaces."""
    return [(a, s, d, sp) for sp, ds in SPACE_DATASETS.items() for d in ds
            for a in ALGORITHMS.builtin_names() for s in SELECTORS.builtin_names()]


def case_id(algo: str, selector: str, dataset: str, space: str = DEFAULT_CASE_SPACE) -> str:
    """``algo-selector-dataset``, with ``:space`` for a space other than the default (``-k`` accepts
    no ``@``; select one space's cases with ``-k ":darts"``, leave them out with ``-k "not :darts"``)."""
    base = f"{algo}-{selector}-{dataset}"
    return base if space == DEFAULT_CASE_SPACE else f"{base}:{space}"


def reference_path(case: str, space: str = DEFAULT_CASE_SPACE, reference_dir: Path = REFERENCE_DIR) -> Path:
    """``reference/<case>.json``; another space's cases under ``reference/<space>/``."""
    return reference_dir / f"{case}.json" if space == DEFAULT_CASE_SPACE else reference_dir / space / f"{case}.json"


def space_skip(algo: str, selector: str, space: str) -> str | None:
    """Why (algo, selector) cannot run on ``space`` (a capability the space lacks), or None."""
    from supernetbench.spaces import missing_capability

    sp = get_space(space)
    for cap in sorted(ALGORITHMS.get(algo).space_requires):
        reason = missing_capability(sp, cap, f"Stage-1 method {algo!r}")
        if reason:
            return reason
    return SELECTORS.get(selector).space_problem(sp)


def incompatibility(algo: str, selector: str) -> str | None:
    """Why ``selector`` cannot run on ``algo``'s supernet (a declared strict xfail), or None."""
    missing = SELECTORS.get(selector).requires - ALGORITHMS.get(algo).provides
    return f"{algo} learns no {', '.join(sorted(missing))}, which {selector} needs" if missing else None


def cases_without_reference(reference_dir: Path = REFERENCE_DIR) -> list[str]:
    """Suite cases that have neither a reference JSON nor a declared incompatibility (or skip)."""
    out = [case_id(a, s, d) for a, s, d in all_cases()
           if incompatibility(a, s) is None and not (reference_dir / f"{case_id(a, s, d)}.json").exists()]
    return out + [case_id(a, s, d, sp) for a, s, d, sp in space_cases()
                  if incompatibility(a, s) is None and space_skip(a, s, sp) is None
                  and not reference_path(case_id(a, s, d, sp), sp, reference_dir).exists()]


def warm(algos: list[str], datasets: list[str], seeds: list[int]) -> None:
    """Train and score suite runs into the on-disk cache (what the suites and ``--update-references``
    then read): the expensive part of a case, without the selectors."""
    from supernetbench.oneshot.train import cached_search_data, train_supernet
    from supernetbench.oneshot.scoring import ScoreConfig, cached_score_space

    gt = load_ground_truth()
    for ds in datasets:
        for seed in seeds:
            for algo in algos:
                spec = _case_spec(algo, ds, seed)
                with torch_threads(suite_threads()):
                    run = train_supernet(spec, runs_root=cache_dir() / "runs", device="cpu", progress=False)
                scores = cached_score_space(run, gt, cached_search_data(spec.data_config()),
                                            ScoreConfig.from_profile(spec.profile), "cpu", progress=False, workers=1)
                print(f"{algo} {ds} seed {seed}: mean score {scores.mean():.3f}", flush=True)


if __name__ == "__main__":  # python suites/casegrid.py ALGO... --datasets D... --seeds S...
    import argparse

    ap = argparse.ArgumentParser(description=warm.__doc__)
    ap.add_argument("algos", nargs="*", default=None)
    ap.add_argument("--datasets", nargs="+", default=list(CI_DATASETS))
    ap.add_argument("--seeds", nargs="+", type=int, default=list(REFERENCE_SEEDS))
    a = ap.parse_args()
    try:
        suite_threads()
    except ValueError as e:  # one error line, exit 2: the input is wrong
        import sys

        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    warm(a.algos or ALGORITHMS.builtin_names(), a.datasets, a.seeds)
