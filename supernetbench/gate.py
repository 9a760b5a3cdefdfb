"""Suite cases and their float64 references: one implementation for ``pytest suites`` (the
repository's references, ``suites/``), ``supernetbench gate`` and the ``pytest11`` plugin (a
method's or selector's references in its author's own repository).

Reference protocol. A case (method, selector, dataset) asserts its seed-0 result at the ``smoke``
profile, which trains and scores in float64: the whole case (Stage 1, full-space scoring, selection)
is then a deterministic function of the code, whatever the CPU's SIMD kernels or the thread count
(rounding differences of ~1e-16 grow to ~1e-11 in the weights after 4 epochs - measured - far from
flipping a sampled path or a prediction; float32 flips them). So the asserted tolerance is numerical
(``NUMERIC_ATOL``), not statistical: any change to the update math, the scoring or a selector shows.
The seed spread (``REFERENCE_SEEDS``, mean and std) is stored next to each value as information about
how much a metric moves between seeds; it is never the tolerance. A reference also records the
effective profile, so a changed budget fails as "stale" instead of as a mismatch, and the plugins
(distribution, version) a case ran. Values are written by ``--update`` / ``--update-references`` only.
"""
from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .oneshot.train import CODE_VERSION, RunSpec
from .harness.locks import claim
from .harness.profiles import get_profile
from .harness.store import atomic_write_json, cache_dir

PROFILE = "smoke"
REFERENCE_SEEDS = (0, 1, 2, 3, 4)
#: asserted tolerance of every metric: covers summation order in the metric code across numpy/scipy
#: builds; one flipped prediction of one arch already moves Kendall's tau by ~1e-5.
NUMERIC_ATOL = 1e-9
#: per-dataset profile changes: the CIFAR-100 partial pack has only 558 / 559 rows per half.
DATASET_OVERRIDES: dict[str, dict[str, Any]] = {"cifar100": {"train_size": 512, "valid_size": 512}}
#: per-space changes to ``smoke`` for spaces without a table (no full-space scoring; Stage 2 only):
#: the DARTS search network (5 cells of 14 edges x 7 ops at C=4) on 128 images for 1 epoch and a
#: small candidate set, so that every method x selector case of the space runs in seconds on CPU
SPACE_OVERRIDES: dict[str, dict[str, Any]] = {
    "darts": {"train_size": 128, "valid_size": 128, "epochs": 1, "batch_size": 32, "num_samples": 8,
              "valid_images": 16, "jacob_batch": 8, "perturb_valid_images": 16},
}
#: the default space: its case ids carry no ``@space`` suffix
DEFAULT_CASE_SPACE = "nb201"
#: selectors whose scores are not asserted on a space without a table: jacob_cov's log-determinant of a
#: small (jacob_batch x jacob_batch), ill-conditioned correlation matrix moved by ~1e-4 relative under
#: another CPU kernel set and thread count (measured with make test-portability); its selected genotype and
#: parameter count are still asserted
UNPORTABLE_SCORES = frozenset({"jacob_cov"})
#: relative tolerance of unbounded scores (synflow ~1e15, jacob_cov log-det) of a space without a table:
#: float64 rounding across CPUs moves the trained weights by ~1e-11 relative (see the module docstring)
SCORE_RTOL = 1e-9


def suite_threads() -> int:
    """Intra-op CPU threads for Stage-1 training in case runs (``SUPERNETBENCH_THREADS``, default 1;
    scoring always runs one thread per process). One is fastest for these tiny nets; the float64
    references hold for any count (``make test-portability`` re-runs cases with 2). A value that is
    not a positive integer is a ValueError naming it (checked once, in ``harness.device.env_threads``)."""
    from .harness.device import env_threads

    return env_threads("SUPERNETBENCH_THREADS", 1)


def data_root_for(dataset: str) -> str | None:
    """ImageNet16-120 is not available here: the cases use a synthetic stand-in written in NB201's
    exact pickle format (reported as such in every result)."""
    if dataset != "imagenet16-120":
        return None
    from .harness.data import write_imagenet16_standin

    root = cache_dir() / "standin" / "imagenet16-120-320"
    with claim(root.parent / f"{root.name}.lock", "the ImageNet16-120 stand-in", announce=False):
        if not (root / "STANDIN.txt").exists():  # ~2,560 rows with labels <= 120: 1,280 per half
            write_imagenet16_standin(root, n_train_per_batch=320, n_val=64, seed=0)
    return str(root)


def _case_overrides(dataset: str, space: str) -> dict[str, Any]:
    return {**DATASET_OVERRIDES.get(dataset, {}), **SPACE_OVERRIDES.get(space, {})}


def case_spec(algo: str, dataset: str, seed: int, space: str = DEFAULT_CASE_SPACE) -> RunSpec:
    profile = get_profile(PROFILE, _case_overrides(dataset, space) or None)
    return RunSpec(algo, dataset, seed, profile, (), data_root_for(dataset), space=space)


def evaluate_case(algo: str, dataset: str, seed: int, selectors: Sequence[str] | None = None,
                  space: str = DEFAULT_CASE_SPACE):
    """Train (or reuse) the case's smoke run, score all archs (a space with a table), run
    ``selectors`` (default: every built-in selector; incompatible ones are skipped), in the store's
    ``runs`` directory."""
    from .harness.device import torch_threads
    from .pipeline.evaluate import evaluate
    from .spaces import get_space
    from .selectors import SELECTORS

    sp = get_space(space)
    gt = sp.benchmark(dataset) if sp.has("table") else None
    with torch_threads(suite_threads()):
        return evaluate(case_spec(algo, dataset, seed, space), list(selectors or SELECTORS.builtin_names()), device="cpu",
                        runs_root=cache_dir() / "runs", progress=False, gt=gt,
                        workers=1)  # xdist parallelises the cases


def case_values(ev, selector: str) -> dict[str, float]:
    """The numbers a case asserts: Stage-1 metrics at the top three levels and the Stage-2 result
    (on a space without a table: :func:`space_case_values`)."""
    if "a1" not in ev.metrics:  # a space without a table: no Stage-1 metrics over the space
        return space_case_values(ev, selector)
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


def space_case_values(ev, selector: str) -> dict[str, float]:
    """What a case asserts on a space without a table, where no accuracy is known: the parameter
    count of the selected arch's evaluation network (the space's ``model_info`` defaults, DARTS:
    C=36 / 20 cells, without the auxiliary head), the selector's score of it and the mean score of
    its candidates (sampling selectors). The arch string itself is asserted exactly (:func:`case_arch`)."""
    sel = ev.selections[selector]
    out = {"params": float(ev.run.space.model_info(sel.arch, ev.run.dataset)["params"])}
    if selector in UNPORTABLE_SCORES:
        return out
    if sel.details.get("score") is not None:
        out["score"] = float(sel.details["score"])
    scores = sel.details.get("scores")
    if scores:
        out["scores_mean"] = float(np.mean(np.asarray(scores, dtype=np.float64)))
    return out


def case_arch(ev, selector: str) -> str:
    """The selected arch string (a DARTS ``Genotype(...)``, an NB201 ``|op~0|...``)."""
    return ev.selections[selector].arch


def value_atol(name: str, value: float) -> float:
    """The asserted tolerance of a metric: :data:`NUMERIC_ATOL`, relative (:data:`SCORE_RTOL`) for the
    unbounded scores of a space without a table."""
    if name in ("score", "scores_mean"):
        return max(NUMERIC_ATOL, SCORE_RTOL * abs(value))
    return NUMERIC_ATOL


def git_revision() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def case_profile(dataset: str, space: str = DEFAULT_CASE_SPACE) -> dict[str, Any]:
    """The effective profile of a case (recorded in its reference; a change makes it stale)."""
    return get_profile(PROFILE, _case_overrides(dataset, space) or None).to_dict()


def build_reference(case_id: str, per_seed: list[dict[str, float]], ev0, profile: dict[str, Any], *,
                    command: str | None = None, seeds: Sequence[int] = REFERENCE_SEEDS,
                    plugins: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """The reference record of a case: seed ``seeds[0]``'s values asserted, every seed's stored as
    information (``plugins``: recorded only when the case uses one). Without ``command``, the suites'
    regeneration command, with ``--reference-seeds`` when ``seeds`` are not :data:`REFERENCE_SEEDS`."""
    if len(per_seed) != len(seeds):
        raise ValueError(f"{len(per_seed)} per-seed results for {len(seeds)} seeds")
    if command is None:
        command = f'pytest suites -k "[{case_id}]" --update-references'
        if tuple(seeds) != REFERENCE_SEEDS:
            command += " --reference-seeds " + " ".join(map(str, seeds))
    values = {}
    for k in per_seed[0]:
        xs = np.array([d[k] for d in per_seed], dtype=float)
        values[k] = {"value": per_seed[0][k], "atol": value_atol(k, per_seed[0][k]), "seed_values": xs.tolist(),
                     "seed_mean": float(xs.mean()), "seed_std": float(xs.std(ddof=1)) if len(xs) > 1 else 0.0}
    ref = {
        "case": case_id,
        "profile": profile,
        "seed": seeds[0],
        "reference_seeds": list(seeds),
        "tolerance_rule": f"asserted: |value - seed-{seeds[0]} value| <= {NUMERIC_ATOL} (float64, "
                          "reproducible on any CPU / thread count); seed_mean/seed_std: information only"
                          + ("" if all(v["atol"] == NUMERIC_ATOL for v in values.values())
                             else f"; unbounded selector scores: relative {SCORE_RTOL:g} (each value's atol)"),
        "data": ev0.run.config.get("data"),
        "values": values,
        "command": command,
        "code_version": f"{CODE_VERSION}+{git_revision()}",
    }
    if plugins:
        ref["plugins"] = plugins
    return ref


def stale_fields(ref: dict[str, Any], profile: dict[str, Any]) -> list[str]:
    """Profile fields whose value differs from the one the reference was made with."""
    stored = ref.get("profile")
    if not isinstance(stored, dict):
        return ["profile"]
    return sorted(k for k in set(stored) | set(profile) if stored.get(k) != profile.get(k))


def write_reference(path: Path, ref: dict[str, Any]) -> None:
    atomic_write_json(path, ref)


def read_reference(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"reference {path} is unreadable ({e}); regenerate it with --update") from None


def compare(ref: dict[str, Any], got: dict[str, float]) -> list[tuple[str, float | None, float, float | None]]:
    """(metric, value, reference, |difference|) of every metric outside its tolerance."""
    out = []
    for name, r in ref["values"].items():
        v = got.get(name)
        if v is None or not abs(v - r["value"]) <= r["atol"]:
            out.append((name, v, r["value"], None if v is None else abs(v - r["value"])))
    return out


# --------------------------------------------------------------------------------------- the gate
@dataclass
class CaseResult:
    case: str
    state: str  # match | regression | missing | stale | updated
    rows: list[tuple[str, float | None, float, float | None]] = field(default_factory=list)
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"case": self.case, "state": self.state, "detail": self.detail,
                "differences": [{"metric": m, "value": v, "reference": r, "difference": d} for m, v, r, d in self.rows]}


def gate_selectors(algo: str, selectors: Sequence[str] | None) -> list[str]:
    """The selectors a gate runs: those named (each must suit ``algo``), else every compatible one."""
    from .algorithms import ALGORITHMS
    from .selectors import SELECTORS

    provides = ALGORITHMS.get(algo).provides
    if selectors:
        for s in selectors:
            SELECTORS.get(s).check_compatible(provides, algo)
        return list(dict.fromkeys(selectors))
    return [s for s in SELECTORS.names() if not (SELECTORS.get(s).requires - provides)]


def gate_command(algo: str, selectors: Sequence[str] | None, datasets: Sequence[str], references: str | Path,
                 plugins: Sequence[str] = (), update: bool = False) -> str:
    parts = ["supernetbench", *(f"--plugin {p}" for p in plugins), "gate", f"--algo {algo}"]
    if selectors:
        parts.append(f"--selectors {' '.join(selectors)}")
    parts += [f"--datasets {' '.join(datasets)}", f"--references {references}"]
    return " ".join(parts + (["--update"] if update else []))


def run_gate(algo: str, selectors: Sequence[str] | None, datasets: Sequence[str], references: str | Path, *,
             update: bool = False, seeds: Sequence[int] = REFERENCE_SEEDS, plugins: Sequence[str] = (),
             progress: bool = True) -> list[CaseResult]:
    """The smoke cases of ``algo`` x selectors x datasets against ``references/<case>.json``
    (``update``: write them from ``seeds``, the first asserted, the others information)."""
    import sys

    from .harness.data import DATASETS
    from .plugins import plugin_records

    bad = [d for d in datasets if d not in DATASETS]
    if bad:
        raise ValueError(f"unknown dataset(s) {', '.join(bad)}; valid choices: {', '.join(DATASETS)}")
    chosen = gate_selectors(algo, selectors)
    ref_dir = Path(references)
    if not update and not ref_dir.is_dir():
        raise FileNotFoundError(f"--references {ref_dir} is not a directory; make the references first with: "
                                + gate_command(algo, selectors, datasets, references, plugins, update=True))
    regen = gate_command(algo, selectors, datasets, references, plugins, update=True)
    results = []
    for ds in datasets:
        if progress:
            print(f"gate: {algo} on {ds} (smoke, seed {seeds[0]}), selectors {', '.join(chosen)}", file=sys.stderr,
                  flush=True)
        ev = evaluate_case(algo, ds, seeds[0], chosen)
        others = [evaluate_case(algo, ds, s, chosen) for s in seeds[1:]] if update else []
        profile = case_profile(ds)
        for sel in chosen:
            case_id = f"{algo}-{sel}-{ds}"
            path = ref_dir / f"{case_id}.json"
            got = case_values(ev, sel)
            if update:
                ref_dir.mkdir(parents=True, exist_ok=True)
                per_seed = [got] + [case_values(e, sel) for e in others]
                write_reference(path, build_reference(
                    case_id, per_seed, ev, profile, seeds=seeds, plugins=plugin_records(algo, [sel]),
                    command=gate_command(algo, [sel], [ds], references, plugins, update=True)))
                results.append(CaseResult(case_id, "updated", detail=str(path)))
                continue
            ref = read_reference(path)
            if ref is None:
                results.append(CaseResult(case_id, "missing", detail=f"no reference {path}; make it with: {regen}"))
                continue
            stale = stale_fields(ref, profile)
            if stale:
                results.append(CaseResult(case_id, "stale", detail=f"made with other profile field(s) "
                                          f"{', '.join(stale)}; regenerate deliberately with: {regen}"))
                continue
            rows = compare(ref, got)
            results.append(CaseResult(case_id, "regression" if rows else "match", rows,
                                      f"if intended, regenerate with: {regen}" if rows else ""))
    return results


def results_table(results: list[CaseResult]) -> str:
    """A plain-text table: one line per case, and per differing metric its value, reference and difference."""
    lines = [f"{'case':<40} {'metric':<18} {'value':>22} {'reference':>22} {'difference':>10}"]
    for r in results:
        if not r.rows:
            lines.append(f"{r.case:<40} {r.state:<18}" + (f" {r.detail}" if r.state not in ("match",) else ""))
        for m, v, ref, d in r.rows:
            lines.append(f"{r.case:<40} {m:<18} {v!r:>22} {ref!r:>22} {'-' if d is None else f'{d:.3g}':>10}")
    return "\n".join(lines)
