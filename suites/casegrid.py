"""The suite grid (every registered Stage-1 method x Stage-2 selector x dataset) and its reference
values: what is measured per case, how references are produced, and which cases CI runs.

Reference protocol. A case's asserted value is its seed-0 result at the ``smoke`` profile, which
trains and scores in float64: the whole case (Stage 1, full-space scoring, selection) is then a
deterministic function of the code, whatever the CPU's SIMD kernels or the thread count (rounding
differences of ~1e-16 grow to ~1e-11 in the weights after 4 epochs - measured - far from flipping a
sampled path or a prediction; float32 flips them). So the asserted tolerance is numerical
(``NUMERIC_ATOL``), not statistical: any change to the update math, the scoring or a selector shows.
The seed spread (``REFERENCE_SEEDS``, mean and std) is stored next to each value as information about
how much a metric moves between seeds; it is never the tolerance. A reference also records the
effective profile, so a changed budget fails as "stale" instead of as a mismatch. Values are written
by ``pytest suites -k <case> --update-references`` - never by hand. ``--reference-seeds 0 ...``
stores fewer (or other) information seeds; the reference records them and its regeneration command.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from supernetbench.algorithms import ALGORITHMS
from supernetbench.harness.benchmark import DATASETS, load_ground_truth
from supernetbench.harness.device import env_threads, torch_threads
from supernetbench.harness.engine import CODE_VERSION, RunSpec
from supernetbench.harness.locks import claim
from supernetbench.harness.pipeline import evaluate
from supernetbench.harness.profiles import get_profile
from supernetbench.harness.store import cache_dir
from supernetbench.selectors import SELECTORS

REFERENCE_DIR = Path(__file__).parent / "reference"
PROFILE = "smoke"
REFERENCE_SEEDS = (0, 1, 2, 3, 4)
#: asserted tolerance of every metric: covers summation order in the metric code across numpy/scipy
#: builds; one flipped prediction of one arch already moves Kendall's tau by ~1e-5.
NUMERIC_ATOL = 1e-9
#: cases CI runs on every change (the rest are marked ``slow``; run them with -m slow or -k).
CI_DATASETS = ("cifar10",)
CI_ALGOS = ("darts", "gdas")  # a softmax mixture and a Gumbel hard path; every method is in the golden tier


#: per-dataset profile changes: the CIFAR-100 partial pack has only 558 / 559 rows per half.
DATASET_OVERRIDES: dict[str, dict[str, Any]] = {"cifar100": {"train_size": 512, "valid_size": 512}}


def data_root_for(dataset: str) -> str | None:
    """ImageNet16-120 is not available here: the suites use a synthetic stand-in written in NB201's
    exact pickle format (reported as such in every result)."""
    if dataset != "imagenet16-120":
        return None
    from supernetbench.harness.data import write_imagenet16_standin

    root = cache_dir() / "standin" / "imagenet16-120-320"
    with claim(root.parent / f"{root.name}.lock", "the ImageNet16-120 stand-in", announce=False):
        if not (root / "STANDIN.txt").exists():  # ~2,560 rows with labels <= 120: 1,280 per half
            write_imagenet16_standin(root, n_train_per_batch=320, n_val=64, seed=0)
    return str(root)


def suite_threads() -> int:
    """Intra-op CPU threads for Stage-1 training in suite runs (``SUPERNETBENCH_THREADS``, default 1;
    scoring always runs one thread per process). One is fastest for these tiny nets; the float64
    references hold for any count (``make test-portability`` re-runs cases with 2). A value that is
    not a positive integer is a ValueError naming it (checked once, in ``harness.device.env_threads``)."""
    return env_threads("SUPERNETBENCH_THREADS", 1)


def evaluate_case(algo: str, dataset: str, seed: int):
    with torch_threads(suite_threads()):
        return _evaluate_case(algo, dataset, seed)


def _case_spec(algo: str, dataset: str, seed: int) -> RunSpec:
    profile = get_profile(PROFILE, DATASET_OVERRIDES.get(dataset))
    return RunSpec(algo, dataset, seed, profile, (), data_root_for(dataset))


def _evaluate_case(algo: str, dataset: str, seed: int):
    spec = _case_spec(algo, dataset, seed)
    return evaluate(spec, SELECTORS.names(), device="cpu", runs_root=cache_dir() / "runs",
                    progress=False, gt=load_ground_truth(), workers=1)  # xdist parallelises the cases


def case_values(ev, selector: str) -> dict[str, float]:
    """The numbers a case asserts: Stage-1 metrics at the top three levels and the Stage-2 result."""
    m = ev.metrics
    out = {
        "a1_top3_mean": float(np.nanmean(m["a1"][:3])),
        "a2_top3": float(m["a2"][2]),
        "kendall": float(m["kendall"]),
        "spearman": float(m["spearman"]),
    }
    if selector in ev.selections:
        out["selected_test_acc"] = float(ev.selections[selector].test_acc)
    return out


def git_revision() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def case_profile(dataset: str) -> dict[str, Any]:
    """The effective profile of a case (recorded in its reference; a change makes it stale)."""
    return get_profile(PROFILE, DATASET_OVERRIDES.get(dataset)).to_dict()


def build_reference(case_id: str, per_seed: list[dict[str, float]], ev0, profile: dict[str, Any],
                    seeds: tuple[int, ...] = REFERENCE_SEEDS) -> dict[str, Any]:
    """A case's reference: seed ``seeds[0]``'s values asserted, every seed's stored as information.
    ``seeds`` other than :data:`REFERENCE_SEEDS` are written into the regeneration command."""
    if len(per_seed) != len(seeds):
        raise ValueError(f"{len(per_seed)} per-seed results for {len(seeds)} seeds")
    values = {}
    for k in per_seed[0]:
        xs = np.array([d[k] for d in per_seed], dtype=float)
        values[k] = {"value": per_seed[0][k], "atol": NUMERIC_ATOL, "seed_values": xs.tolist(),
                     "seed_mean": float(xs.mean()), "seed_std": float(xs.std(ddof=1)) if len(xs) > 1 else 0.0}
    command = f'pytest suites -k "[{case_id}]" --update-references'
    if tuple(seeds) != REFERENCE_SEEDS:
        command += " --reference-seeds " + " ".join(map(str, seeds))
    return {
        "case": case_id,
        "profile": profile,
        "seed": seeds[0],
        "reference_seeds": list(seeds),
        "tolerance_rule": f"asserted: |value - seed-{seeds[0]} value| <= {NUMERIC_ATOL} (float64, "
                          "reproducible on any CPU / thread count); seed_mean/seed_std: information only",
        "data": ev0.run.config.get("data"),
        "values": values,
        "command": command,
        "code_version": f"{CODE_VERSION}+{git_revision()}",
    }


def stale_fields(ref: dict[str, Any], profile: dict[str, Any]) -> list[str]:
    """Profile fields whose value differs from the one the reference was made with."""
    stored = ref.get("profile")
    if not isinstance(stored, dict):
        return ["profile"]
    return sorted(k for k in set(stored) | set(profile) if stored.get(k) != profile.get(k))


def all_cases() -> list[tuple[str, str, str]]:
    return [(a, s, d) for d in DATASETS for a in ALGORITHMS.names() for s in SELECTORS.names()]


def case_id(algo: str, selector: str, dataset: str) -> str:
    return f"{algo}-{selector}-{dataset}"


def incompatibility(algo: str, selector: str) -> str | None:
    """Why ``selector`` cannot run on ``algo``'s supernet (a declared strict xfail), or None."""
    missing = SELECTORS.get(selector).requires - ALGORITHMS.get(algo).provides
    return f"{algo} learns no {', '.join(sorted(missing))}, which {selector} needs" if missing else None


def cases_without_reference(reference_dir: Path = REFERENCE_DIR) -> list[str]:
    """Suite cases that have neither a reference JSON nor a declared incompatibility."""
    return [case_id(a, s, d) for a, s, d in all_cases()
            if incompatibility(a, s) is None and not (reference_dir / f"{case_id(a, s, d)}.json").exists()]


def write_reference(path: Path, ref: dict[str, Any]) -> None:
    from supernetbench.harness.store import atomic_write_json

    atomic_write_json(path, ref)


def read_reference(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    return json.loads(path.read_text())


def warm(algos: list[str], datasets: list[str], seeds: list[int]) -> None:
    """Train and score suite runs into the on-disk cache (what the suites and ``--update-references``
    then read): the expensive part of a case, without the selectors."""
    from supernetbench.harness.engine import cached_search_data, train_supernet
    from supernetbench.harness.scoring import ScoreConfig, cached_score_space

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
    warm(a.algos or ALGORITHMS.names(), a.datasets, a.seeds)
