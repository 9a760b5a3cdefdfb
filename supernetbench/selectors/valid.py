"""``valid``: sample architectures from the learned distribution and keep the one with the best
shared-weight validation accuracy (protocol §5.2/§5.4: 100 samples with replacement, first index
wins ties). Scores come from the run's scoring config (BN mode recorded), not eval-mode running
statistics (protocol P1), unless the profile asks for them."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import SELECTORS, Selection, SelectionContext, Selector, SelectorConfig


@dataclass(frozen=True, kw_only=True)
class ValidConfig(SelectorConfig):
    num_samples: int = 100


@SELECTORS.register("valid")
class Valid(Selector):
    Config = ValidConfig

    @classmethod
    def config_from_profile(cls, profile) -> ValidConfig:
        return ValidConfig(num_samples=profile.num_samples)

    def select(self, ctx: SelectionContext, rng: np.random.Generator) -> Selection:
        idx = ctx.sample_indices(self.config.num_samples, rng)
        scores = ctx.score(idx)
        best = int(np.argmax(scores))  # first index on ties, as the reference
        return self.selection(ctx, int(idx[best]), valid_acc=float(scores[best]),
                              sampled=idx.tolist(), sampled_valid=scores.tolist())
