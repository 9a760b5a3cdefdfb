"""Shared by tests/ and suites/: hypothesis profiles (`HYPOTHESIS_PROFILE`=ci|dev), the gpu marker
(skipped without CUDA; `SUPERNETBENCH_GPU_ONLY=1` keeps only gpu tests) and the report header."""
from __future__ import annotations

import os

import pytest
import torch
from hypothesis import HealthCheck, settings

settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True,
                          suppress_health_check=list(HealthCheck))
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="test requires a CUDA device")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("gpu") and not torch.cuda.is_available():
            item.add_marker(pytest.mark.skip(reason="marked gpu: needs a CUDA device"))
    if os.environ.get("SUPERNETBENCH_GPU_ONLY") == "1":
        items[:] = [i for i in items if i.get_closest_marker("gpu")]


def pytest_report_header(config):
    return (f"supernetbench: torch {torch.__version__}, cuda={torch.cuda.is_available()}, "
            f"hypothesis profile={os.environ.get('HYPOTHESIS_PROFILE', 'ci')}")
