"""Suite fixtures: a session cache of evaluations (one Stage-1 run + one full-space scoring per
(algo, dataset, seed, profile), shared by every selector) and the reference store.

Stage-1 runs and scores are also cached on disk (content-addressed, ``$SUPERNETBENCH_CACHE``), so a
second session reuses them. ``--update-references`` rewrites ``suites/reference/<case>.json``.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from casegrid import REFERENCE_DIR, REFERENCE_SEEDS, evaluate_case, suite_threads  # noqa: E402


def pytest_configure(config):
    """A bad ``SUPERNETBENCH_THREADS`` stops the session up front with one line (not one failure per case)."""
    try:
        suite_threads()
    except ValueError as e:
        pytest.exit(f"error: {e}", returncode=2)


def pytest_addoption(parser):
    parser.addoption("--update-references", action="store_true", default=False,
                     help="re-run the reference seeds and rewrite suites/reference/<case>.json")
    parser.addoption("--reference-seeds", type=int, nargs="+", default=None, metavar="SEED",
                     help="with --update-references: the seeds to run (the first is asserted, all are stored as "
                          f"information; default {' '.join(map(str, REFERENCE_SEEDS))}); recorded in the reference's command")


@pytest.fixture(scope="session")
def update_references(request) -> bool:
    return bool(request.config.getoption("--update-references"))


@pytest.fixture(scope="session")
def reference_seeds(request) -> tuple[int, ...]:
    seeds = request.config.getoption("--reference-seeds")
    if seeds is None:
        return REFERENCE_SEEDS
    if seeds[0] != REFERENCE_SEEDS[0] or len(set(seeds)) != len(seeds):
        raise pytest.UsageError(f"--reference-seeds must start with the asserted seed {REFERENCE_SEEDS[0]} "
                                "and name each seed once")
    return tuple(seeds)


@pytest.fixture(scope="session")
def evaluations():
    cache: dict = {}

    def get(algo: str, dataset: str, seed: int, space: str = "nb201", selectors: tuple[str, ...] | None = None):
        """``selectors``: only these (a space case runs its own selector; its run and selections are
        cached on disk, so the cases of one run share the training); None: every built-in one."""
        key = (algo, dataset, seed, space, selectors)
        if key not in cache:
            cache[key] = evaluate_case(algo, dataset, seed, list(selectors) if selectors else None, space=space)
        return cache[key]

    return get


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    return Path(os.environ.get("SUPERNETBENCH_REFERENCE_DIR", REFERENCE_DIR))
