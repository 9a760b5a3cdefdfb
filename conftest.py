"""Shared by tests/ and suites/: hypothesis profiles (`HYPOTHESIS_PROFILE`=ci|dev), the gpu marker
(skipped without CUDA; `SUPERNETBENCH_GPU_ONLY=1` keeps only gpu tests) and the report header."""
from __future__ import annotations

import os
import re

import pytest
import torch
from hypothesis import HealthCheck, settings

# hermetic: plugins installed in the developer's environment never enter the project's own tests
# (tests that exercise plugins load them explicitly or unset this)
os.environ.setdefault("SUPERNETBENCH_DISABLE_PLUGINS", "1")

settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True,
                          suppress_health_check=list(HealthCheck))
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite tests/golden/*.json from the current code (deliberate changes only)")


requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="test requires a CUDA device")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("gpu") and not torch.cuda.is_available():
            item.add_marker(pytest.mark.skip(reason="marked gpu: needs a CUDA device"))
    if os.environ.get("SUPERNETBENCH_GPU_ONLY") == "1":
        items[:] = [i for i in items if i.get_closest_marker("gpu")]


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


def pytest_configure(config):
    """`make test` relies on ``--dist loadgroup`` keeping each ``xdist_group`` on one worker (suite cases
    share their Stage-1 run, a study fixture is built once). pytest >= 9.2 with pytest-xdist <= 3.8 drops the
    groups silently (pytest-dev/pytest-xdist#1386): every worker then trains, or waits for, the same runs
    (measured: the study fixture built twice, ~55 s). Refuse that pair with the fix instead."""
    if getattr(config.option, "dist", "no") != "loadgroup" or os.environ.get("PYTEST_XDIST_WORKER"):
        return
    import xdist

    if _version(pytest.__version__) >= (9, 2) and _version(xdist.__version__) <= (3, 8, 0):
        raise pytest.UsageError(f"--dist loadgroup does not group with pytest {pytest.__version__} and pytest-xdist "
                                f"{xdist.__version__} (pytest-dev/pytest-xdist#1386): install the pinned test extras, "
                                "pip install -e '.[test]' (pytest<9.2), or run without --dist loadgroup")


def pytest_report_header(config):
    return (f"supernetbench: torch {torch.__version__}, cuda={torch.cuda.is_available()}, "
            f"hypothesis profile={os.environ.get('HYPOTHESIS_PROFILE', 'ci')}")


@pytest.fixture
def torch_single_thread():
    """One intra-op thread for tests on tiny networks: OpenMP synchronisation dominates there, and
    on a loaded 2-core machine two threads made each tiny forward ~100x slower (measured)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def gt():
    """The NB201 ground-truth table (offline: never downloads); skips with the reason if absent."""
    from supernetbench.spaces.nb201.benchmark import BenchmarkTableError, load_ground_truth

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SUPERNETBENCH_OFFLINE", "1")
        try:
            return load_ground_truth()
        except BenchmarkTableError as e:
            pytest.skip(f"NB201 ground-truth table unavailable: {e}")
