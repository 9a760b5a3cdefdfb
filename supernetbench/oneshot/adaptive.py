"""Adaptive top-k identification: successive halving over scoring images (opt-in, ``score --adaptive``).

a1 only asks which archs fall in the top score groups, so most of the space need not be scored on
every image. Round ``r = 0 .. R`` scores the surviving functional classes on the first
``ceil(images / 2**(R - r))`` images of the fixed subset; after each round but the last, the upper
``1/eta`` of the survivors (by score) go on - never fewer than the classes holding ``2 * top_archs``
archs, so the groups a1 reads keep a margin. Survivors of the last round get the exact full-budget
score (the same number as :func:`~supernetbench.oneshot.scoring.score_space`); an eliminated class
keeps its accuracy on the images it saw. :attr:`AdaptiveScores.rank_key` orders archs by (round
reached, score), so every survivor ranks above every eliminated class.

What this is not: exact a1. Elimination is decided on image subsets, and an accuracy on the first
``n`` images (batch-statistics BN: normalised over those ``n``) does not bound the full-image one, so
a class of the true top groups can be eliminated early (measured on a smoke run: a1 level 0 0.008
adaptive vs 0.029 exact). a1 / a2 / rankings from :attr:`rank_key` are estimates and are labelled so
(``score --adaptive``); only the survivors' scores are exact (tested against ``score_space``).
Its agreement with the full evaluation and its cost are measured in ``benchmarks/README.md``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from torch import nn

from .scoring import ScoreConfig, ScoringData, score_space


@dataclass(frozen=True)
class AdaptiveScores:
    scores: np.ndarray  # per arch: accuracy (%) on the images its class was scored on
    images: np.ndarray  # per arch: how many images that was
    rank_key: np.ndarray  # per arch: (round reached, score) as one sortable float; higher is better
    cost: float  # class-images evaluated / (classes x full images); 1.0 = the full evaluation
    rounds: list[dict]  # per round: images, classes scored


def _subset(sd: ScoringData, n: int) -> ScoringData:
    return ScoringData(sd.x[:n], sd.y[:n], sd.recal, f"first {n} of {sd.description}")


def adaptive_score_space(net: nn.Module, archs: np.ndarray, sd: ScoringData, cfg: ScoreConfig, *,
                         rounds: int = 3, eta: float = 2.0, top_archs: int = 3 * 625, engine: str = "fast",
                         workers: int = 1, precision: str = "exact", progress: bool = False) -> AdaptiveScores:
    """Successive halving over images; see the module docstring. ``rounds`` = R (R+1 scoring rounds)."""
    if rounds < 0 or eta <= 1:
        raise ValueError(f"adaptive scoring needs rounds >= 0 and eta > 1, got rounds={rounds}, eta={eta}")
    archs = np.asarray(archs)
    labels, reps = net.space.functional_classes(archs, zero_propagates=cfg.bn_mode != "running")
    members = np.bincount(labels, minlength=len(reps))
    n_full = len(sd.y)
    class_scores = np.zeros(len(reps))
    class_images = np.zeros(len(reps), dtype=np.int64)
    reached = np.zeros(len(reps), dtype=np.int64)
    alive = np.arange(len(reps))
    log, work = [], 0
    for r in range(rounds + 1):
        n = n_full if r == rounds else max(1, math.ceil(n_full / 2 ** (rounds - r)))
        sub_cfg = cfg if n == n_full else ScoreConfig(bn_mode=cfg.bn_mode, images=n, batch_size=min(cfg.batch_size, n),
                                                      recalib_batches=cfg.recalib_batches, augment=cfg.augment)
        s = score_space(net, reps[alive], _subset(sd, n) if n < n_full else sd, sub_cfg, progress=progress,
                        engine=engine, workers=workers, precision=precision)
        class_scores[alive], class_images[alive], reached[alive] = s, n, r
        work += len(alive) * n
        log.append({"round": r, "images": n, "classes": int(len(alive))})
        if r == rounds:
            break
        order = alive[np.argsort(-s, kind="stable")]
        covering = int(np.searchsorted(np.cumsum(members[order]), 2 * top_archs)) + 1
        keep = min(len(order), max(math.ceil(len(order) / eta), covering))
        alive = np.sort(order[:keep])
    key = reached * 1000.0 + class_scores  # accuracies lie in [0, 100]
    return AdaptiveScores(class_scores[labels], class_images[labels], key[labels],
                          work / (len(reps) * n_full), log)
