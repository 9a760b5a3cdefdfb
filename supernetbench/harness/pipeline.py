"""Stage 1 -> full-space scoring -> Stage-1 metrics -> Stage 2, as one call used by the CLI,
the demo and the suites; Stage 2 alone on a finished run (:func:`select_run`) and proxy scores for
any candidate set (:func:`proxy_scores`)."""
from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from . import metrics as M
from .benchmark import GroundTruth, load_ground_truth
from .device import resolve_device
from .engine import RunSpec, SearchRun, cached_search_data, train_supernet
from .artifacts import cached_selection
from .scoring import ScoreConfig, cached_score_space


def stage1_metrics(test_acc: np.ndarray, scores: np.ndarray, archprob: np.ndarray, group_size: int = 625) -> dict[str, Any]:
    """a1 (top-arch ID rate) and a2 (cumulative sampling probability) per threshold level, their
    random baseline, the thresholds (test error %), rank correlations and precision@top-5%."""
    return {
        "a1": M.top_id_rate(test_acc, scores, group_size).tolist(),
        "a2": M.cumulative_sampling_probability(test_acc, archprob, group_size).tolist(),
        "baseline": M.random_baseline(test_acc, group_size).tolist(),
        "thresholds": M.threshold_values(test_acc, group_size).tolist(),
        "spearman": float(M.spearman(test_acc, scores)),
        "kendall": float(M.kendall_tau(test_acc, scores)),
        "precision_top5pct": float(M.precision_at_top(test_acc, scores, 0.05)),
        "score_mean": float(np.mean(scores)),
        "score_max": float(np.max(scores)),
    }


@dataclass
class Evaluation:
    run: SearchRun
    scores: np.ndarray
    metrics: dict[str, Any]
    selections: dict[str, Any] = field(default_factory=dict)
    score_config: ScoreConfig | None = None
    skipped: dict[str, str] = field(default_factory=dict)  # selector -> why it does not apply
    selection_seconds: dict[str, float] = field(default_factory=dict)  # compute time (also when reused)
    reused: list[str] = field(default_factory=list)  # selections read from their stored artifact

    def summary(self) -> dict[str, Any]:
        return {
            "algo": self.run.algo,
            "dataset": self.run.dataset,
            "seed": self.run.seed,
            "profile": self.run.profile.name,
            "run_dir": str(self.run.path),
            "data": self.run.config.get("data"),
            "scoring": asdict(self.score_config) if self.score_config else None,
            "final_train_acc": self.run.log[-1]["train_acc"] if self.run.log else None,
            "final_valid_acc": self.run.log[-1]["valid_acc"] if self.run.log else None,
            "metrics": self.metrics,
            "selections": {k: asdict(v) for k, v in self.selections.items()},
            "skipped_selectors": dict(self.skipped),
            "selection_seconds": self.selection_seconds,
            "reused_selections": list(self.reused),
        }


def evaluate(
    spec: RunSpec,
    selectors: Sequence[str] = ("prune", "valid"),
    *,
    device: str | torch.device = "auto",
    runs_root=None,
    progress: bool = True,
    gt: GroundTruth | None = None,
    skip_incompatible: bool = True,
    workers: int | None = None,
    engine: str = "fast",
    precision: str = "exact",
    compute: bool = True,
) -> Evaluation:
    """Train (or reuse) the run, score all archs, compute Stage-1 metrics, run the selectors.
    ``workers``: CPU processes for scoring (None = all cores); ``engine`` / ``precision``: see
    :func:`~supernetbench.harness.scoring.score_space` (bf16 adds ``metrics['precision_agreement']``).

    Every stage is a stored artifact (run directory, score cache, selection records of
    :mod:`~supernetbench.harness.artifacts`): what exists is reused, so an evaluation whose
    artifacts all exist recomputes only the Stage-1 metrics. ``compute=False`` uses artifacts only
    and raises :class:`~supernetbench.harness.artifacts.MissingArtifacts` (listing what is missing
    and the ``supernetbench study`` command that makes it) instead of computing anything.

    Selector names and their compatibility with ``spec.algo`` are checked before any work: an
    incompatible pair raises :class:`~supernetbench.selectors.IncompatiblePair` unless
    ``skip_incompatible``, which records the reason in ``Evaluation.skipped`` instead.
    """
    from ..algorithms import ALGORITHMS
    from ..selectors import SELECTORS, IncompatiblePair

    chosen = {name: SELECTORS.get(name) for name in selectors}
    skipped = {}
    for name, cls in chosen.items():
        try:
            cls.check_compatible(ALGORITHMS.get(spec.algo).provides, spec.algo)
        except IncompatiblePair as e:
            if not skip_incompatible:
                raise
            skipped[name] = str(e)
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    gt = gt or load_ground_truth()
    cfg = ScoreConfig.from_profile(spec.profile)
    names = [n for n in chosen if n not in skipped]
    if not compute:
        run, data, scores = _stored_inputs(spec, names, runs_root, gt, cfg, precision)
    else:
        run = train_supernet(spec, runs_root=runs_root, device=dev, progress=progress)
        data = cached_search_data(spec.data_config())
        scores = cached_score_space(run, gt, data, cfg, dev, progress=progress, workers=workers,
                                    engine=engine, precision=precision)
    test_acc = gt.test_acc(spec.dataset)
    ev = Evaluation(run, scores, stage1_metrics(test_acc, scores, run.archprob), score_config=cfg, skipped=skipped)
    if precision != "exact":  # never silently cheaper: measure the agreement with exact scoring
        ev.metrics["precision"] = precision
        ev.metrics["precision_agreement"] = precision_check(run, gt, data, cfg, scores, dev, engine=engine)
    ctx = selection_context(run, gt, seed=spec.seed, device=dev, data=data, data_root=spec.data_root,
                            full_scores=scores, profile=spec.profile)
    for name in names:  # stored selections are reused; new ones are stored
        ev.selections[name], ev.selection_seconds[name], reused = cached_selection(ctx, name, progress=progress)
        if reused:
            ev.reused.append(name)
    return ev


def precision_check(run: SearchRun, gt: GroundTruth, data, cfg: ScoreConfig, scores: np.ndarray, device,
                    *, n: int = 512, engine: str = "fast") -> dict[str, Any]:
    """Agreement of reduced-precision ``scores`` with exact scoring on a seeded sample of ``n`` archs
    (Kendall tau, identical fraction, largest difference; :func:`metrics.precision_agreement`)."""
    from .scoring import make_scoring_data, score_space

    idx = np.sort(np.random.default_rng(0).choice(len(gt.archs), min(n, len(gt.archs)), replace=False))
    sd = make_scoring_data(data, cfg, device, run.profile.torch_dtype)
    exact = score_space(run.load_supernet(device), gt.archs[idx], sd, cfg, progress=False, engine=engine)
    return {"sample_archs": int(len(idx)), **M.precision_agreement(exact, scores[idx])}


def _stored_inputs(spec: RunSpec, selectors: list[str], runs_root, gt: GroundTruth, cfg: ScoreConfig,
                   precision: str = "exact"):
    """(run, search data, scores) of ``spec`` from the store, or :class:`MissingArtifacts` naming
    every missing artifact (run, scores, selections) at once."""
    from .artifacts import MissingArtifacts, read_selection, selection_inputs, selection_path, study_command
    from .engine import run_dir_for
    from .scoring import make_scoring_data, score_cache_path
    from .store import load_cached_arrays

    run_dir = run_dir_for(spec, runs_root)
    missing, run, data, scores = [], None, None, None
    if not (run_dir / "DONE").exists():
        missing.append(f"Stage-1 run {run_dir}")
    else:
        run = SearchRun.load(run_dir)
        data = cached_search_data(spec.data_config())
        path = score_cache_path(run, gt, make_scoring_data(data, cfg, "cpu", spec.profile.torch_dtype), cfg, precision)
        entry = load_cached_arrays(path, ["scores"])
        if entry is None:
            missing.append(f"full-space scores {path}")
        else:
            scores = entry["scores"]
    inputs = selection_inputs(run, gt, scores) if scores is not None else None  # a stale record counts as missing
    for name in selectors:
        path = selection_path(run_dir, name, spec.profile, spec.seed)
        if read_selection(path, inputs) is None:
            missing.append(f"selection {path}")
    if missing:
        raise MissingArtifacts(missing, study_command(spec, list(selectors), runs_root))
    return run, data, scores


# ------------------------------------------------------------------------------------ Stage 2 alone
RUN_FILES = ("config.json", "arch.json", "archprob.npy", "log.jsonl", "supernet.pt")


def load_run(path: str | os.PathLike) -> SearchRun:
    """A finished Stage-1 run; a missing, unfinished or incomplete directory is one clear error."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"run directory {path} does not exist; train one with `supernetbench train` "
                                "(it prints its run_dir)")
    if not (path / "DONE").exists():
        raise FileNotFoundError(f"{path} is not a finished Stage-1 run (no DONE marker); rerun `supernetbench "
                                "train` with the same options to resume it")
    missing = [f for f in RUN_FILES if not (path / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{path} is an incomplete run directory (missing {', '.join(missing)}); "
                                "delete it and train again")
    return SearchRun.load(path)


def selection_context(run: SearchRun, gt: GroundTruth, *, seed: int | None = None, device="cpu",
                      distribution: str = "run", data=None, data_root: str | None = None,
                      full_scores: np.ndarray | None = None, progress: bool = False, profile=None):
    """The Stage-2 context of a finished run (seed: the run's own by default). ``profile``: the one
    Stage 2 runs under (its Stage-2 fields), when the run was reused from a command that trained it
    under other Stage-2 fields (runs are shared by every command); default: the run's own."""
    from ..selectors import SelectionContext

    ctx = SelectionContext(run=run, gt=gt, full_scores=full_scores, seed=run.seed if seed is None else seed,
                           distribution=distribution, device=device, data=data, data_root=data_root,
                           progress=progress)
    if profile is not None:
        ctx.cache["profile"] = profile
    return ctx


def run_selectors(ctx, names: Sequence[str], *, skip_incompatible: bool = True,
                  timings: dict[str, float] | None = None) -> dict[str, Any]:
    """Each named selector with its config from the run's profile and ``default_rng(ctx.seed)``."""
    from ..selectors import SELECTORS, IncompatiblePair

    out = {}
    for name in names:
        cls = SELECTORS.get(name)
        try:
            t0 = time.perf_counter()
            out[name] = cls(cls.config_from_profile(ctx.profile))(ctx, np.random.default_rng(ctx.seed))
            if timings is not None:
                timings[name] = time.perf_counter() - t0
        except IncompatiblePair:
            if not skip_incompatible:
                raise
    return out


def select_run(path: str | os.PathLike, selectors: Sequence[str], *, seed: int | None = None,
               distribution: str = "run", device: str | torch.device = "auto", data_root: str | None = None,
               gt: GroundTruth | None = None, timings: dict[str, float] | None = None) -> dict[str, Any]:
    """Stage 2 on a finished run directory, without full-space scoring (``valid`` scores only its
    candidates, with exactly the values full-space scoring would give them)."""
    from ..selectors import SELECTORS

    for name in selectors:
        SELECTORS.get(name)  # unknown names fail before any work
    run = load_run(path)
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    ctx = selection_context(run, gt or load_ground_truth(), seed=seed, device=dev, distribution=distribution,
                            data_root=data_root)
    return run_selectors(ctx, selectors, skip_incompatible=False, timings=timings)


def proxy_scores(path: str | os.PathLike, measure: str, candidates: str = "sample", *, seed: int | None = None,
                 distribution: str = "run", device: str | torch.device = "auto", data_root: str | None = None,
                 gt: GroundTruth | None = None, progress: bool = True) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """A sampling selector's per-candidate scores on a finished run: ``(indices, scores, info)``.

    ``candidates``: ``"sample"`` = the shared candidate set of (run, seed, distribution); ``"all"`` = all
    15,625 archs in NB201 index order (one evaluation per shared-weight functional class, resumable).
    """
    from ..selectors import SELECTORS
    from ..selectors.base import SamplingSelector

    if measure not in SELECTORS or not issubclass(SELECTORS.get(measure), SamplingSelector):
        # (only the named measure is imported: a broken plugin selector harms only itself)
        measures = [n for n in SELECTORS.builtin_names() if issubclass(SELECTORS.get(n), SamplingSelector)]
        raise ValueError(f"unknown proxy measure {measure!r}; valid choices: {', '.join(measures)} "
                         "(or a sampling selector plugin)")
    if candidates not in ("all", "sample"):
        raise ValueError(f"candidates must be 'all' or 'sample', got {candidates!r}")
    run = load_run(path)
    gt = gt or load_ground_truth()
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    ctx = selection_context(run, gt, seed=seed, device=dev, distribution=distribution, data_root=data_root,
                            progress=progress and candidates == "sample")
    cls = SELECTORS.get(measure)
    selector = cls(cls.config_from_profile(ctx.profile))
    idx = np.arange(len(gt)) if candidates == "all" else ctx.candidates(selector.config.num_samples)
    if measure == "valid" and candidates == "all" and selector.config.images == ctx.profile.score_images:
        cfg = ScoreConfig.from_profile(ctx.profile)  # the run's cached full-space scores
        ctx.full_scores = cached_score_space(run, gt, ctx.search_data(), cfg, dev, progress=progress)
    t0 = time.perf_counter()
    scores = _whole_space(ctx, selector, progress=progress) if candidates == "all" else selector.measure(ctx, idx)
    info = {"run": str(run.path), "dataset": run.dataset, "measure": measure, "candidates": candidates, "seed": ctx.seed,
            "distribution": ctx.distribution, "n": len(idx), "seconds": time.perf_counter() - t0,
            "nan_count": int(np.isnan(scores).sum()), **selector.measure_info(ctx)}
    return idx, scores, info


def _whole_space(ctx, selector, *, progress: bool, chunk: int = 256) -> np.ndarray:
    """The selector's measure on all archs, one evaluation per functional class, in chunks whose
    results are saved atomically (``cache_dir()/proxies``): a killed run resumes where it stopped."""
    from .store import atomic_save_npy, cache_dir, content_hash, file_sha256

    gt, run = ctx.gt, ctx.run
    labels, reps = ctx.space.functional_classes(gt.archs, selector.zero_propagates(ctx))
    first = np.unique(labels, return_index=True)[1]  # an NB201 index in every class
    key = content_hash(file_sha256(Path(run.path) / "supernet.pt"), selector.name, asdict(selector.config),
                       selector.measure_info(ctx), run.config.get("data"), gt.archs, "proxy-v1")
    path = cache_dir() / "proxies" / f"{key}.npy"  # row 0: scores per class, row 1: done flags
    state = np.stack([np.full(len(reps), np.nan), np.zeros(len(reps))])
    if path.exists():
        try:
            prev = np.load(path, allow_pickle=False)
            state = prev if prev.shape == state.shape else state
        except (ValueError, OSError, EOFError):
            pass
    todo = np.flatnonzero(state[1] == 0)
    bar = tqdm(total=len(reps), initial=len(reps) - len(todo), disable=not progress,
               desc=f"{selector.name}: {len(reps)} functional classes")
    for start in range(0, len(todo), chunk):
        part = todo[start:start + chunk]
        state[0, part] = selector.measure(ctx, first[part])
        state[1, part] = 1
        atomic_save_npy(path, state)
        bar.update(len(part))
    bar.close()
    return state[0][labels]
