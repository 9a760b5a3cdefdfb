"""``valid``: sample architectures from the candidate distribution and keep the one with the best
shared-weight validation accuracy (protocol §5.2/§5.4: 100 samples with replacement, first index
wins ties). BN mode and augmentation are the run's scoring config (batch statistics by default, not
eval-mode running statistics, protocol P1, unless the profile asks for them).

Images per candidate: profile field ``valid_images``. The papers' code evaluated every candidate on
the **entire validation half** (25,000 CIFAR images, ``search2.py::infer``), not on the 1,664-image
perfpred subset; ``paper`` and ``reference`` do the same (``valid_images=None``). When
``valid_images`` equals ``score_images`` (``smoke``, ``demo``) the candidates' scores are the run's
full-space scores (the same fixed subset).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .base import SELECTORS, SamplingConfig, SamplingSelector, SelectionContext


@dataclass(frozen=True, kw_only=True)
class ValidConfig(SamplingConfig):
    images: int | None = None  # None = the whole validation half


@SELECTORS.register("valid")
class Valid(SamplingSelector):
    Config = ValidConfig
    uses = "supernet weights; valid_images validation images per candidate (run's BN mode)"

    @classmethod
    def config_from_profile(cls, profile) -> ValidConfig:
        return ValidConfig(num_samples=profile.num_samples, images=profile.valid_images)

    def measure(self, ctx: SelectionContext, idx: np.ndarray) -> np.ndarray:
        return ctx.valid_accuracy(idx, self.config.images)

    def zero_propagates(self, ctx: SelectionContext) -> bool:
        return ctx.profile.bn_mode != "running"

    def measure_info(self, ctx: SelectionContext) -> dict[str, Any]:
        p = ctx.profile
        return {"valid_images": self.config.images if self.config.images is not None else "whole valid half",
                "bn_mode": p.bn_mode, "augment": p.score_augment}
