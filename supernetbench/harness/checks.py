"""Value checks shared by the config dataclasses and the command line: each failure is one
``ValueError`` that names the field, its valid range and the rejected value."""
from __future__ import annotations

import math
import numbers
from typing import Any

#: Network shape limits (protocol: C=16, N=5): generous, but never a multi-GB allocation by typo.
C_RANGE = (1, 128)
N_RANGE = (1, 16)


def _span(lo: float, hi: float | None) -> str:
    return f">= {lo}" if hi is None else f"in {lo}..{hi}"


def _shown(value: Any) -> str:
    r = repr(value)
    return r if len(r) <= 40 else f"{r[:40]}… ({len(r):,} characters)"


def check_int(name: str, value: Any, lo: int, hi: int | None = None) -> int:
    """``value`` as an int within ``lo..hi`` (``hi=None``: unbounded); bools are not ints here."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not ok or value < lo or (hi is not None and value > hi):
        raise ValueError(f"{name} must be an integer {_span(lo, hi)}, got {_shown(value)}")
    return int(value)


def check_float(name: str, value: Any, lo: float, hi: float | None = None) -> float:
    """``value`` as a finite float within ``lo..hi``: NaN and infinities are never valid settings."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < lo or (hi is not None and value > hi):
        raise ValueError(f"{name} must be a finite number {_span(lo, hi)}, got {_shown(value)}")
    return float(value)


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {_shown(value)}")
    return value


def check_network_shape(C: Any, N: Any) -> None:
    """C (stem channels) and N (cells per stage) within :data:`C_RANGE` / :data:`N_RANGE`."""
    check_int("C", C, *C_RANGE)
    check_int("N", N, *N_RANGE)
