"""Ranking quality over training: score every kept Stage-1 checkpoint on one fixed arch sample.

A run trained with the profile field ``checkpoint_every = K`` keeps its supernet weights before
training (epoch 0) and after every K-th epoch under ``<run>/checkpoints/epoch-XXXX.pt``
(:func:`.engine.keep_checkpoint`). :func:`ranking_trajectory` scores each of them exactly as
full-space scoring scores the final supernet (the run's scoring config, one evaluation per
shared-weight functional class) on either all 15,625 archs or a seeded uniform sample of ``archs``
of them (the same sample for every checkpoint), and reports per epoch Kendall tau, Spearman rho,
precision@top-5 % (ties broken at random in expectation, :func:`.diagnostics.precision_at_k`),
a1 at level 0 with ``group_size = n // 25`` (625 on the whole space, as the main metric), and the
bias diagnostics of :func:`.pipeline.score_diagnostics`. Scores per checkpoint are cached by
content hash (weights, scoring subset, config, sample), so a rerun only renders.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..harness import metrics as M
from ..spaces import TabularBenchmark, get_space
from ..harness.device import resolve_device
from ..oneshot.train import DEFAULT_SPACE, cached_search_data, kept_checkpoints
from ..harness.profiles import profile_from_dict
from ..oneshot.scoring import ScoreConfig, make_scoring_data, score_space
from ..harness.store import CorruptFileError, cache_dir, content_hash, file_sha256, load_cached_arrays, load_weights
from ..harness.store import one_line, read_json, save_cached_arrays

#: threshold levels of a1, as on the whole space (15,625 / 625)
LEVELS = 25


def trajectory_sample(n_total: int, archs: int | None, seed: int = 0) -> np.ndarray:
    """Sorted NB201 indices scored at every checkpoint: all when ``archs`` is None, else a uniform
    sample without replacement drawn with ``default_rng(seed)``."""
    if archs is None or archs >= n_total:
        return np.arange(n_total)
    if archs < 2 * LEVELS:
        raise ValueError(f"--archs must be at least {2 * LEVELS} (a1 reads {LEVELS} levels), got {archs}")
    return np.sort(np.random.default_rng(seed).choice(n_total, archs, replace=False))


def ranking_trajectory(run_dir: str | os.PathLike, *, archs: int | None = None, sample_seed: int = 0,
                       epochs: "list[int] | None" = None,
                       device: str | torch.device = "cpu", workers: int | None = None, progress: bool = False,
                       gt: TabularBenchmark | None = None, data_root: str | None = None) -> dict[str, Any]:
    """Per kept checkpoint of ``run_dir``: epoch, Kendall, Spearman, precision@5 %, a1 level 0 and
    the bias diagnostics, on the fixed sample (see the module docstring). The run need not be
    finished: the checkpoints kept so far are scored. ``epochs``: only these kept epochs."""
    from ..harness.data import DataConfig
    from .evaluate import score_diagnostics

    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise FileNotFoundError(f"{run_dir} is not a run directory (no config.json); pass the run_dir that "
                                "`supernetbench train` prints")
    ckpts = kept_checkpoints(run_dir)
    if not ckpts:
        raise FileNotFoundError(f"{run_dir} kept no checkpoints; train it with `--set checkpoint_every=K` "
                                "(or the `signal` profile) to draw ranking quality over training")
    if epochs is not None:
        missing = sorted(set(epochs) - set(ckpts))
        if missing:
            raise ValueError(f"{run_dir} kept no checkpoint for epoch(s) {', '.join(map(str, missing))}; kept: "
                             f"{', '.join(map(str, sorted(ckpts)))}")
        ckpts = {e: ckpts[e] for e in epochs}
    config = read_json(run_dir / "config.json")
    p = profile_from_dict(config["profile"])
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    space = config.get("space", DEFAULT_SPACE)
    gt = gt or get_space(space).benchmark(config["dataset"])
    idx = trajectory_sample(len(gt), archs, sample_seed)
    dataset = config["dataset"]
    acc = gt.test_acc(dataset)[idx]
    data = cached_search_data(DataConfig(dataset, data_root, p.split, p.train_size, p.valid_size))
    cfg = ScoreConfig.from_profile(p)
    sd = make_scoring_data(data, cfg, dev, p.torch_dtype)
    rows = []
    for epoch, path in sorted(ckpts.items()):
        scores = _checkpoint_scores(path, config, p, gt.archs[idx], sd, cfg, dev, workers, progress)
        rows.append({
            "epoch": epoch,
            "kendall": M.kendall_tau(acc, scores),
            "spearman": M.spearman(acc, scores),
            "precision_top5pct": _precision(acc, scores),
            "a1_level0": float(M.top_id_rate(acc, scores, len(idx) // LEVELS)[0]),
            "diagnostics": score_diagnostics(gt, dataset, scores, idx, space=space),
        })
    return {"run": str(run_dir), "algo": config["algo"], "dataset": dataset, "seed": config["seed"],
            "profile": p.name, "epochs": p.epochs, "checkpoint_every": p.checkpoint_every,
            "archs": int(len(idx)), "sample": "all" if len(idx) == len(gt) else f"uniform, default_rng({sample_seed})",
            "a1_random_level0": float(M.random_baseline(acc, len(idx) // LEVELS)[0]),
            "points": rows}


def _precision(acc: np.ndarray, scores: np.ndarray) -> float:
    from ..harness.diagnostics import precision_at_k

    return precision_at_k(acc, scores, 0.05)


def _checkpoint_scores(path: Path, config: dict, p, archs: np.ndarray, sd, cfg: ScoreConfig, dev, workers, progress
                       ) -> np.ndarray:
    from dataclasses import asdict

    key = content_hash(file_sha256(path), sd.fingerprint(), asdict(cfg), archs, "trajectory-v1")
    out = cache_dir() / "trajectory" / f"{key}.npz"
    cached = load_cached_arrays(out, ["scores"])
    if cached is not None:
        return cached["scores"]
    net = get_space(config.get("space", DEFAULT_SPACE)).build_supernet(p, config["num_classes"], p.torch_dtype)
    try:
        net.load_state_dict(load_weights(path))
    except (OSError, RuntimeError, ValueError) as e:
        raise CorruptFileError(f"kept checkpoint {path} is damaged ({one_line(e)}); delete it (the other "
                               "checkpoints are still drawn)") from None
    out.parent.mkdir(parents=True, exist_ok=True)
    scores = score_space(net.to(dev), archs, sd, cfg, progress=progress, partial_path=out.with_suffix(".partial.npz"),
                         workers=workers or os.cpu_count() or 1)
    save_cached_arrays(out, scores=scores)
    out.with_suffix(".partial.npz").unlink(missing_ok=True)
    return scores
