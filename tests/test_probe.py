"""Issue 15 item 5: what a robustness probe of the newer surfaces found, each pinned by a test (one
``error:`` line and exit 2 for bad input, nothing silently wrong, nothing lost)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from supernetbench.harness.device import env_threads

try:
    from tests.helpers import error_line, run_cli
except ImportError:  # pragma: no cover - run from inside tests/
    from helpers import error_line, run_cli

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------ SUPERNETBENCH_THREADS
@pytest.mark.parametrize("value", ["abc", "0", "-1", "1.5", "2x"])
def test_threads_variable_is_validated_in_one_place(monkeypatch, value):
    monkeypatch.setenv("SUPERNETBENCH_THREADS", value)
    with pytest.raises(ValueError, match="SUPERNETBENCH_THREADS=.* is not a positive integer.*SUPERNETBENCH_THREADS=2"):
        env_threads()


def test_threads_variable_accepts_positive_integers(monkeypatch):
    monkeypatch.delenv("SUPERNETBENCH_THREADS", raising=False)
    assert env_threads() == 1
    monkeypatch.setenv("SUPERNETBENCH_THREADS", "3")
    assert env_threads() == 3


def test_suites_stop_with_one_line_on_a_bad_thread_count():
    env = {**os.environ, "SUPERNETBENCH_THREADS": "abc", "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "pytest", "suites", "--collect-only", "-q", "-p", "no:cacheprovider"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "error: SUPERNETBENCH_THREADS='abc' is not a positive integer" in r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr
