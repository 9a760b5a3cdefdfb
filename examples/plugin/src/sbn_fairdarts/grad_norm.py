"""``grad_norm``: the zero-cost proxy of Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS"
(ICLR 2021, §3: grad_norm = sum over layers of the Euclidean norm of dL/dtheta), scored on the
supernet's shared weights as a supernetbench Stage-2 selector.

Each candidate of the shared 100-arch set is run as a single path of a private copy of the
supernet, BN in train mode (batch statistics), on one fixed batch of ``jacob_batch`` training
images (the same batch ``jacob_cov`` uses); L = cross-entropy on their labels; the score is the sum,
over every convolution and linear weight, of ||dL/dW||_2 (a weight off the path has gradient 0, as
in the stand-alone network, where it does not exist). Highest wins, ties to the first candidate
(the harness's ``pick_best``).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from supernetbench.api import SamplingConfig, SamplingSelector, SelectionContext, fixed_batch


@dataclass(frozen=True, kw_only=True)
class GradNormConfig(SamplingConfig):
    batch: int = 64


class GradNorm(SamplingSelector):
    name = "grad_norm"
    Config = GradNormConfig
    uses = "supernet weights; one fixed batch of jacob_batch training images and labels (train-mode BN)"

    @classmethod
    def config_from_profile(cls, profile) -> GradNormConfig:
        return GradNormConfig(num_samples=profile.num_samples, batch=profile.jacob_batch)

    def measure(self, ctx: SelectionContext, idx: np.ndarray) -> np.ndarray:
        c = self.config

        def fn(archs: np.ndarray) -> np.ndarray:
            data = ctx.search_data()
            x = fixed_batch(data, c.batch, augment=False, device=ctx.device, dtype=ctx.dtype)
            y = data.train_y[: c.batch].to(ctx.device)
            return grad_norm_scores(ctx.supernet(), archs, x, y)

        return ctx.by_class(f"grad_norm@{c.batch}", idx, fn)

    def measure_info(self, ctx: SelectionContext) -> dict[str, Any]:
        return {"batch": self.config.batch, "bn_mode": "batch (train mode)", "loss": "cross-entropy"}


def grad_norm_scores(net: nn.Module, archs: np.ndarray, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """sum_W ||dL/dW||_2 over conv and linear weights, per arch (a private copy keeps BN buffers)."""
    net = copy.deepcopy(net)
    net.aux_skip_beta = 0.0
    net.train()
    weights = [m.weight for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    out = np.empty(len(archs))
    for i, a in enumerate(archs):
        loss = nn.functional.cross_entropy(net(x, arch=tuple(int(v) for v in a)), y)
        grads = torch.autograd.grad(loss, weights, allow_unused=True)
        out[i] = float(sum(g.double().norm() for g in grads if g is not None))
    return out
