"""Untrained supernet baseline (P002's ``none``): the supernet keeps its random initialisation.

``trains_weights = False``: the engine runs no epochs (no weight or architecture update), so the
saved supernet is the seeded random init. Distribution: uniform over all 5^6 archs, like
:mod:`.rsps` (whose single-path forward it shares, used only if something calls
``forward_train``). Note (P10): the reference's ``none`` supernet is fine-tuned during its
perturbation Stage 2, so its "untrained" perturb numbers are not untrained; here Stage 1 is truly
untrained and any Stage-2 fine-tuning belongs to the selector.
"""
from __future__ import annotations

from .base import ALGORITHMS
from .rsps import RSPS


@ALGORITHMS.register("untrained")
class Untrained(RSPS):
    trains_weights = False
