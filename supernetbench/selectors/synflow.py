"""``synflow``: the zero-cost proxy of protocol §5.4 on the supernet's shared weights (no data).

Each candidate of the shared set is scored as a single path of a private copy of the supernet with
BN replaced by the identity, absolute-valued weights, in float64, on one all-ones image of the
dataset's size; score = sum |theta * dR/dtheta| over conv and linear weights with R = sum of the
logits (:mod:`supernetbench.harness.proxies`). Highest wins; disconnected archs score 0.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..harness.proxies import synflow_network, synflow_scores
from .base import SELECTORS, SamplingSelector, SelectionContext


@SELECTORS.register("synflow")
class Synflow(SamplingSelector):
    uses = "supernet weights only (all-ones input, BN removed, |weights|, float64)"

    @classmethod
    def config_from_profile(cls, profile):
        return cls.Config(num_samples=profile.num_samples)

    def measure(self, ctx: SelectionContext, idx: np.ndarray) -> np.ndarray:
        def fn(archs: np.ndarray) -> np.ndarray:
            if "synflow-net" not in ctx.cache:
                ctx.cache["synflow-net"] = synflow_network(ctx.supernet())
            return synflow_scores(ctx.cache["synflow-net"], archs, ctx.image_size, prepared=True,
                                  progress=ctx.progress)

        return ctx.by_class("synflow", idx, fn)

    def measure_info(self, ctx: SelectionContext) -> dict[str, Any]:
        return {"input": f"ones 1x3x{ctx.image_size}x{ctx.image_size}", "bn": "removed", "dtype": "float64"}
