"""Stage 1 -> full-space scoring -> Stage-1 metrics -> Stage 2, as one call used by the CLI,
the demo and the suites."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from . import metrics as M
from .benchmark import GroundTruth, load_ground_truth
from .device import resolve_device
from .engine import RunSpec, SearchRun, cached_search_data, train_supernet
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
) -> Evaluation:
    """Train (or reuse) the run, score all archs, compute Stage-1 metrics, run the selectors.
    ``workers``: CPU processes for scoring (None = all cores).

    Selector names and their compatibility with ``spec.algo`` are checked before any work: an
    incompatible pair raises :class:`~supernetbench.selectors.IncompatiblePair` unless
    ``skip_incompatible``, which records the reason in ``Evaluation.skipped`` instead.
    """
    from ..algorithms import ALGORITHMS
    from ..selectors import SELECTORS, IncompatiblePair, SelectionContext

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
    run = train_supernet(spec, runs_root=runs_root, device=dev, progress=progress)
    data = cached_search_data(spec.data_config())
    cfg = ScoreConfig.from_profile(spec.profile)
    scores = cached_score_space(run, gt, data, cfg, dev, progress=progress, workers=workers)
    test_acc = gt.test_acc(spec.dataset)
    ev = Evaluation(run, scores, stage1_metrics(test_acc, scores, run.archprob), score_config=cfg, skipped=skipped)
    ctx = SelectionContext(run=run, gt=gt, score=lambda idx: scores[np.asarray(idx)])
    for name, cls in chosen.items():
        if name not in skipped:
            selector = cls(cls.config_from_profile(spec.profile))
            ev.selections[name] = selector(ctx, np.random.default_rng(spec.seed))
    return ev
