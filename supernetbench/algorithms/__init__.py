"""Stage-1 supernet-training methods, registered by name in :data:`ALGORITHMS`.

Adding a method = one module here + one import line below; it then appears in every suite,
report and CLI choice list.
"""
from .base import ALGORITHMS, MethodConfig, RunContext, Stage1Method
from . import blank, blank_minus, darts, darts_minus, drnas, gdas, rsps, rsps_biased, snas, untrained  # noqa: F401  (registration)
from . import fixed_alpha  # noqa: F401,E402  (the fixed-<name> controls, derived on lookup)

__all__ = ["ALGORITHMS", "MethodConfig", "RunContext", "Stage1Method"]
