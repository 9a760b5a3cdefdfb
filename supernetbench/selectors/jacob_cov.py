"""``jacob_cov``: the zero-cost proxy of protocol §5.4 on the supernet's shared weights.

One fixed batch of ``jacob_batch`` training images (64 in ``paper``; the first rows of the training
half, augmented with one fixed draw when the profile augments its scoring images), shared by every
candidate; Jacobian of the summed logits w.r.t. the inputs; score = -sum log(lambda + k) +
1/(lambda + k) over the eigenvalues of the per-image Jacobians' correlation matrix, k = 1e-5
(:mod:`supernetbench.harness.proxies`). BN is fixed to train mode (batch statistics) for every
candidate (the papers' code mixed train and eval mode, P5). NaN (disconnected archs, P19) never
wins; if no candidate has a finite score, the first connected candidate is taken (recorded).

Profile field ``jacob_bn = "first-train"`` (on in ``reference``) reproduces the papers' code
instead (P5): the first candidate in train-mode BN, the others in eval mode with running
statistics, a fresh augmented batch of ``jacob_batch`` training images per candidate (seeded by
the selection seed); every candidate position is then scored on its own (no class sharing).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..harness.proxies import candidate_batches, fixed_batch, jacob_cov_scores, jacob_cov_scores_p5
from .base import SELECTORS, SamplingConfig, SamplingSelector, SelectionContext


@dataclass(frozen=True, kw_only=True)
class JacobCovConfig(SamplingConfig):
    batch: int = 64
    augment: bool = False
    bn: str = "train"  # "first-train": the papers' code (P5)


@SELECTORS.register("jacob_cov")
class JacobCov(SamplingSelector):
    Config = JacobCovConfig
    uses = "supernet weights; one fixed batch of jacob_batch training images (train-mode BN)"

    @classmethod
    def config_from_profile(cls, profile) -> JacobCovConfig:
        return JacobCovConfig(num_samples=profile.num_samples, batch=profile.jacob_batch,
                              augment=profile.score_augment, bn=profile.jacob_bn)

    def measure(self, ctx: SelectionContext, idx: np.ndarray) -> np.ndarray:
        c = self.config
        if c.bn == "first-train":
            batches = candidate_batches(ctx.search_data(), len(idx), c.batch, seed=ctx.seed, device=ctx.device,
                                        dtype=ctx.dtype)
            return jacob_cov_scores_p5(ctx.supernet(), ctx.gt.archs[np.asarray(idx, dtype=np.int64)], batches,
                                       progress=ctx.progress)

        def fn(archs: np.ndarray) -> np.ndarray:
            x = fixed_batch(ctx.search_data(), c.batch, augment=c.augment, device=ctx.device, dtype=ctx.dtype)
            return jacob_cov_scores(ctx.supernet(), archs, x, progress=ctx.progress)

        return ctx.by_class(f"jacob_cov@{c.batch}{'+aug' if c.augment else ''}", idx, fn)

    def measure_info(self, ctx: SelectionContext) -> dict[str, Any]:
        if self.config.bn == "first-train":
            return {"batch": self.config.batch, "augment": True, "bn_mode": "first candidate train mode, the others "
                    "eval mode with running statistics (P5)", "batches": "a fresh augmented batch per candidate"}
        return {"batch": self.config.batch, "augment": self.config.augment, "bn_mode": "batch (train mode)"}
