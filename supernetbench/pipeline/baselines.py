"""The four baseline supernets of the Stage-2 reliance statistics (P002 §4.2; protocol §5.7) and the
combined S1 x S2 ranking (App. A.4), evaluated over seeds with this harness's runs.

| baseline | Stage-1 run | Stage-2 candidate distribution |
|---|---|---|
| N_U | ``untrained`` | uniform |
| N_I | ``untrained`` | rank-linear (the idealised sampler of ``rsps-biased``) |
| R_U | ``rsps-biased`` (default) or ``rsps`` (option ``r_u``) | uniform |
| R_I | ``rsps-biased`` | rank-linear |

R_U has two meanings in the sources (P9): the papers' code (``rsps2``) and §4.2's text use the
**biased-trained** supernet sampled uniformly - then R_I-R_U isolates the candidate distribution on
one supernet (and is ~0 for ``perturb``, which samples nothing) - while the Fig. 2/5 captions
describe a **uniformly trained** RSPS supernet. ``r_u="rsps-biased"`` (default) or ``"rsps"``;
every result records which. Stage-1 runs and selections are content-addressed, so reruns reuse them;
no full-space scoring happens here (``valid`` scores its 100 candidates only).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..harness import metrics as M
from ..harness.device import resolve_device
from ..oneshot.train import RunSpec, run_dir_for, train_supernet
from .artifacts import cached_selection
from .evaluate import selection_context
from ..harness.profiles import Profile
from ..harness.reliance import (BASELINES, DEFAULT_PAIRING, PAIRINGS, PairScore, combined_ranking, pairing_keys,
                       reliance_differences, reliance_table, stage2_inputs)

R_U_MEANINGS: dict[str, str] = {
    "rsps-biased": "biased-trained supernet (rsps-biased) with uniform candidates: the papers' code and §4.2 (P9)",
    "rsps": "uniformly trained RSPS supernet (rsps) with uniform candidates: the Fig. 2/5 captions",
}


def baseline_specs(r_u: str = "rsps-biased") -> dict[str, tuple[str, str]]:
    """baseline -> (Stage-1 method, candidate distribution)."""
    if r_u not in R_U_MEANINGS:
        raise ValueError(f"unknown R_U meaning {r_u!r}; valid choices: {', '.join(R_U_MEANINGS)}")
    return {"N_U": ("untrained", "uniform"), "N_I": ("untrained", "rank-linear"),
            "R_U": (r_u, "uniform"), "R_I": ("rsps-biased", "rank-linear")}


def reliance_selectors() -> list[str]:
    """Every registered selector that can run on the baselines (none learns arch weights)."""
    from ..selectors import SELECTORS

    return [n for n in SELECTORS.names() if not SELECTORS.get(n).requires]


@dataclass
class RelianceResult:
    dataset: str
    profile: str
    seeds: list[int]
    r_u: str
    selected: dict[str, dict[str, list[float]]]  # selector -> baseline -> per-seed test accuracy
    runs: dict[str, list[str]]  # baseline -> per-seed run directory
    selections: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)

    @property
    def statistics(self) -> dict[str, dict[str, M.MeanStd]]:
        return reliance_table(self.selected)

    def summary(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset, "profile": self.profile, "seeds": self.seeds,
            "r_u": self.r_u, "r_u_meaning": R_U_MEANINGS[self.r_u],
            "baselines": {b: {"algo": a, "distribution": d} for b, (a, d) in baseline_specs(self.r_u).items()},
            "statistics": {s: {k: v._asdict() for k, v in st.items()} for s, st in self.statistics.items()},
            "per_seed": {s: {k: v.tolist() for k, v in reliance_differences(b).items()}
                         for s, b in self.selected.items()},
            "selected_test_acc": self.selected, "runs": self.runs, "selections": self.selections,
        }


def evaluate_baselines(dataset: str, seeds: Sequence[int], profile: Profile, selectors: Sequence[str] | None = None,
                       *, r_u: str = "rsps-biased", device="auto", runs_root=None, data_root: str | None = None,
                       gt=None, progress: bool = True, compute: bool = True) -> RelianceResult:
    """Train (or reuse) the baseline runs of every seed and run each selector on the four baselines.

    ``compute=False`` reads the stored runs and selections only (``report --artifacts-only``) and
    raises :class:`~supernetbench.pipeline.artifacts.MissingArtifacts` naming every missing one and
    the ``supernetbench study`` command that makes them."""
    from ..selectors import SELECTORS
    from .artifacts import MissingArtifacts

    specs = baseline_specs(r_u)
    selectors = list(selectors) if selectors is not None else reliance_selectors()
    for name in selectors:
        SELECTORS.get(name)  # unknown names fail before any training
    dev = resolve_device(device) if isinstance(device, str) else device
    from ..spaces import get_space

    gt = gt or get_space().benchmark(dataset)  # the reliance baselines need a table (NB201)
    selected = {s: {b: [] for b in BASELINES} for s in selectors}
    details = {s: {b: [] for b in BASELINES} for s in selectors}
    runs: dict[str, list[str]] = {b: [] for b in BASELINES}
    missing: list[str] = []
    for seed in seeds:
        contexts: dict[str, Any] = {}
        done: dict[tuple[str, str, str | None], Any] = {}
        for b in BASELINES:
            algo, dist = specs[b]
            if algo not in contexts:
                rs = RunSpec(algo, dataset, seed, profile, (), data_root)
                if not compute and not (run_dir_for(rs, runs_root) / "DONE").is_file():
                    missing.append(f"Stage-1 run {run_dir_for(rs, runs_root)}")
                    contexts[algo] = None
                    continue
                run = train_supernet(rs, runs_root=runs_root, device=dev, progress=progress)
                contexts[algo] = selection_context(run, gt, seed=seed, device=dev, data_root=data_root, profile=profile)
                if compute:
                    contexts[algo].supernet(), contexts[algo].search_data()  # loaded once, shared below
            if contexts[algo] is None:
                continue
            ctx = dataclasses.replace(contexts[algo], distribution=dist)
            runs[b].append(str(ctx.run.path))
            for s in selectors:
                key = (algo, s, dist if SELECTORS.get(s).samples else None)  # perturb ignores the distribution
                if key not in done:
                    try:  # the stored artifact when it exists
                        done[key] = cached_selection(ctx, s, progress=progress, allow_compute=compute)[0]
                    except MissingArtifacts as e:
                        missing.extend(e.missing)
                        continue
                selected[s][b].append(done[key].test_acc)
                details[s][b].append({"arch": done[key].arch, "test_acc": done[key].test_acc})
    if missing:
        raise MissingArtifacts(list(dict.fromkeys(missing)), baseline_study_command(dataset, seeds, profile, selectors,
                                                                                    r_u, runs_root, data_root))
    return RelianceResult(dataset, profile.name, list(seeds), r_u, selected, runs, details)


def baseline_study_command(dataset: str, seeds: Sequence[int], profile: Profile, selectors: Sequence[str],
                           r_u: str, runs_root=None, data_root: str | None = None) -> str:
    """The ``supernetbench study`` command that makes the baselines' runs and selections (a study of
    ``untrained`` trains the other baselines with it; its own full-space scoring comes along)."""
    from .artifacts import study_command

    return study_command(RunSpec("untrained", dataset, seeds[0], profile, (), data_root), list(selectors), runs_root,
                         seeds=list(seeds), extra=() if r_u == "rsps-biased" else (f"--r-u {r_u}",))


def learns_alpha(algo: str) -> bool:
    """Whether a Stage-1 method learns architecture weights: it provides ``arch_weights`` and does
    not keep them fixed (so not ``rsps``, ``rsps-biased``, ``untrained`` or ``blank``)."""
    from ..algorithms import ALGORITHMS

    cls = ALGORITHMS.get(algo)
    return "arch_weights" in cls.provides and not cls.fixed_alpha


def default_pool(algos: Sequence[str]) -> list[str]:
    """The combined score's default Stage-1 pool: the methods of ``algos`` that learn alpha. The
    score depends on absolute ranks, so ranking the baselines among the methods reorders their pairs."""
    return [a for a in algos if learns_alpha(a)]


def resolve_pool(algos: Sequence[str], pool: Sequence[str] | None = None) -> list[str]:
    """The Stage-1 methods the combined score ranks: ``pool`` (each must be among ``algos``, the
    methods evaluated) or :func:`default_pool`; an empty pool is one error naming the fix."""
    if pool is not None:
        bad = [a for a in pool if a not in algos]
        if bad:
            raise ValueError(f"--pool names method(s) {', '.join(bad)} that were not evaluated; evaluated: "
                             f"{', '.join(algos)} (add them to --algos)")
        chosen = list(dict.fromkeys(pool))
    else:
        chosen = default_pool(algos)
    if not chosen:
        raise ValueError(f"no Stage-1 method of {', '.join(algos)} learns alpha, so the combined score's default "
                         "pool is empty; name the methods to rank with --pool (or the study key 'pool')")
    return chosen


def combined_table(stage1: dict[str, tuple[float, float]], result: RelianceResult,
                   observed: dict[tuple[str, str], float] | None = None,
                   pairing: str = DEFAULT_PAIRING, pool: Sequence[str] | None = None) -> dict[str, Any]:
    """The App. A.4 ranking of every (Stage-1 method of the pool, selector) pair, with the observed
    mean test accuracy of each pair when given, and the Kendall tau between -score and that accuracy.
    ``pool``: the Stage-1 methods ranked (default: those of ``stage1`` that learn alpha); ``pairing``:
    which reliance statistics give r_a2 / r_b2 (:data:`supernetbench.harness.reliance.PAIRINGS`)."""
    keys = pairing_keys(pairing)
    chosen = resolve_pool(list(stage1), pool)
    inputs = {a: stage1[a] for a in chosen}
    ranking: list[PairScore] = combined_ranking(inputs, stage2_inputs(result.statistics, keys))
    rows = [{**dataclasses.asdict(p), "observed_test_acc": (observed or {}).get((p.stage1, p.stage2))}
            for p in ranking]
    out: dict[str, Any] = {"pool": chosen, "pool_rule": "--pool" if pool is not None else "methods that learn alpha",
                           "excluded": [a for a in stage1 if a not in chosen], "pairing": pairing,
                           "pairing_reading": PAIRINGS[pairing][1], "stage2_keys": list(keys),
                           "stage1_inputs": inputs, "ranking": rows}
    acc = [r["observed_test_acc"] for r in rows]
    if observed and all(a is not None for a in acc) and len(rows) > 1:
        out["kendall_score_vs_observed"] = float(M.kendall_tau(np.asarray(acc), -np.array([r["score"] for r in rows])))
    return out


def describe_combined(table: dict[str, Any]) -> str:
    """One line naming the pool and the Stage-2 rank pairing of a :func:`combined_table`."""
    excl = f"; left out: {', '.join(table['excluded'])}" if table["excluded"] else ""
    return (f"Stage-1 pool ({table['pool_rule']}): {', '.join(table['pool'])}{excl}. "
            f"Stage-2 pairing '{table['pairing']}': {table['pairing_reading']}.")
