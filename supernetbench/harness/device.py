"""Device and CPU-thread policy (never chosen inside an algorithm).

Floating-point reductions depend on the number of intra-op threads, so a seeded CPU run is
bitwise reproducible only for a fixed thread count: the suites pin one thread
(:func:`torch_threads`) and every run records the count it used.
"""
from __future__ import annotations

import contextlib
import os
from typing import Iterator

import torch


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> CUDA when present, else CPU. ``cuda`` without a GPU is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda requested but no CUDA device is available; use --device auto or cpu")
    if name not in ("cpu",) and not name.startswith("cuda"):
        raise ValueError(f"unknown device {name!r}; valid choices: auto, cpu, cuda, cuda:N")
    return torch.device(name)


def env_threads(name: str = "SUPERNETBENCH_THREADS", default: int = 1) -> int:
    """The intra-op thread count in environment variable ``name`` (``default`` when unset or empty);
    anything but a positive integer is a ValueError naming the variable and the fix."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1 or not raw.lstrip("+").isdigit():
        raise ValueError(f"{name}={raw[:40]!r} is not a positive integer thread count; "
                         f"set it to e.g. {name}=2, or unset it for {default}")
    return n


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` intra-op CPU threads (None: leave as is), then restore."""
    old = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def tiny_op_threads(device: torch.device | str):
    """One intra-op thread on CPU for per-arch loops over tiny single-path forwards (OpenMP
    synchronisation dominates there; it also fixes the float reduction order), as is on CUDA."""
    return torch_threads(1 if torch.device(device).type == "cpu" else None)


@contextlib.contextmanager
def seeded_global_rng(seed: int) -> Iterator[None]:
    """Torch's global generators seeded with ``seed`` for the block, and restored after it: a Stage-2
    selection that meets an op drawing from them (RobustDARTS S4's ``noise``) gives the same result
    whatever ran before it in the process (a study worker runs many tasks)."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed) % 2**63)
        yield
