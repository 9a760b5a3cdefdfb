"""DARTS- (Chu et al., ICLR 2021): DARTS plus an auxiliary skip connection on every edge.

Each edge computes ``beta * x + sum_o softmax(alpha)_o * op_o(x)`` (DARTS- Fig. 1(b): "an
auxiliary skip connection with a decay rate beta between every two nodes"); everything else is
:class:`~.darts.Darts` (first order by default, ``order=2`` allowed). The auxiliary skip exists only
while this method runs the network: :meth:`DartsMinus.forward_train` sets ``net.aux_skip_beta``
for the duration of one forward call and resets it to 0, so the trained supernet carries no beta
and is scored as plain DARTS (beta = 0), as ``record_val.py`` does (protocol §4).

Beta schedules (config ``beta_schedule``; ``beta_max`` scales both). Where each comes from:

* ``"decay"`` - taken from the papers' **case-study code** (their DARTS-PT fork, protocol §9; P002
  Table 1), not from the code behind the NB201 Table 2: ``beta = beta_max`` for epochs
  ``0 .. E/2 - 1``, then ``beta = beta_max * (E - epoch - 1) / (E / 2)`` (0.98 -> 0.0 for E = 100).
  Written as ``beta_max * min(1, (E - epoch - 1) / (E / 2))``; for odd ``E`` it is the same line.
  The DARTS- paper decays beta to 0 by the end of the search; this half-constant form is the
  case-study code's reading of it, used here as the corrected protocol's default.
* ``"linear"`` - ``beta = beta_max * (E - epoch - 1) / E``: the papers' **DARTS-space code**
  (protocol §8: ``(epochs - epoch - 1) / 50`` at their 50 epochs, 0.98 -> 0.0 over the whole run).
* ``"constant"`` - ``beta = beta_max`` for every epoch: what the papers' NB201 two-stage code that
  produced Table 2 ran (protocol §3.2 and P3: the decay is commented out in ``train_search.py``).
* ``"auto"`` (default) - ``"constant"`` when the run context has ``reference=True`` (the
  ``reference`` profile is the Table 2 reproduction path, P3); ``"linear"`` on a DARTS cell space
  (the papers' DARTS-space code, §8); else ``"decay"``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .base import ALGORITHMS, MethodConfig, RunContext
from .darts import Darts, DartsConfig
from ..spaces.base import SearchSpace

BETA_SCHEDULES = ("auto", "decay", "linear", "constant")
#: the spaces the papers ran with their DARTS-space code (protocol §8): ``auto`` is ``linear`` there
DARTS_SPACE_CODE = frozenset({"darts", "darts-s1", "darts-s2", "darts-s3", "darts-s4"})


@dataclass(frozen=True, kw_only=True)
class DartsMinusConfig(DartsConfig):
    beta_schedule: str = "auto"  # auto = decay (case-study code), or constant under `reference` (Table 2 code, P3)
    beta_max: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.beta_schedule not in BETA_SCHEDULES:
            raise ValueError(f"beta_schedule must be one of {', '.join(BETA_SCHEDULES)}, got {self.beta_schedule!r}")
        if not self.beta_max >= 0.0:
            raise ValueError(f"beta_max must be >= 0, got {self.beta_max}")


def beta_at(epoch: int, epochs: int, schedule: str, beta_max: float = 1.0) -> float:
    """The auxiliary-skip weight during 0-based ``epoch`` of an ``epochs``-epoch run."""
    if schedule == "constant":
        return float(beta_max)
    epochs = max(1, int(epochs))
    if schedule == "linear":
        return float(beta_max) * max(0.0, (epochs - epoch - 1) / epochs)
    if schedule != "decay":
        raise ValueError(f"beta schedule must be 'decay', 'linear' or 'constant', got {schedule!r}")
    return float(beta_max) * min(1.0, max(0.0, (epochs - epoch - 1) / (epochs / 2)))


@ALGORITHMS.register("darts-")
class DartsMinus(Darts):
    Config = DartsMinusConfig

    def __init__(self, config: MethodConfig, *, space: SearchSpace, ctx: RunContext):
        super().__init__(config, space=space, ctx=ctx)
        self.beta = beta_at(0, ctx.epochs, self.beta_schedule, self.config.beta_max)

    @property
    def beta_schedule(self) -> str:
        """The resolved schedule (``auto``: ``constant`` for reference runs, ``linear`` on a DARTS cell
        space - the papers' DARTS-space code, §8 -, else ``decay``)."""
        s = self.config.beta_schedule
        if s == "auto":
            if self.ctx.reference:
                return "constant"
            return "linear" if self.space.name in DARTS_SPACE_CODE else "decay"
        return s

    def on_epoch_start(self, net: nn.Module, epoch: int) -> None:
        self.beta = beta_at(epoch, self.ctx.epochs, self.beta_schedule, self.config.beta_max)

    def epoch_log(self) -> dict[str, Any]:
        return {"beta": self.beta, "beta_schedule": self.beta_schedule}

    def forward_train(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        net.aux_skip_beta = self.beta
        try:
            return super().forward_train(net, x)
        finally:
            net.aux_skip_beta = 0.0
