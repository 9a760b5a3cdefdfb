"""Arithmetic precision of scoring: ``exact`` (the dtype's own arithmetic) or ``bf16`` autocast.

Space-agnostic ground: every scoring engine (the generic per-class loops and a space's own) runs
under :func:`precision_context` after :func:`check_precision` refused what the hardware lacks.
"""
from __future__ import annotations

import contextlib

import torch

from .profiles import PRECISIONS


def bf16_supported(device: torch.device) -> bool:
    """bf16 compute the hardware runs natively: a CUDA GPU with bf16, or a CPU with AVX512-BF16/AMX."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return any(f in flags for f in (" avx512_bf16", " amx_bf16"))


def check_precision(precision: str, device: torch.device | str) -> None:
    """Clear errors for an unknown precision or bf16 on hardware without native bf16."""
    device = torch.device(device)
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; valid choices: {', '.join(PRECISIONS)}")
    if precision == "bf16" and not bf16_supported(device):
        raise ValueError(f"--precision bf16 needs bf16 hardware (a CUDA GPU with bf16, or a CPU with "
                         f"AVX512-BF16/AMX); this {device.type} has none: use --precision exact")


@contextlib.contextmanager
def precision_context(precision: str, device: torch.device | str):
    """``bf16``: bf16 autocast. ``exact``: the dtype's own arithmetic - on CUDA with TF32 switched off
    for convolutions and matmuls (PyTorch lets cuDNN use TF32 by default, a 10-bit mantissa)."""
    device = torch.device(device)
    if precision == "bf16":
        with torch.autocast(device.type, dtype=torch.bfloat16):
            yield
        return
    if device.type != "cuda":
        yield
        return
    old = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old
