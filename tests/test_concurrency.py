"""Concurrent requests for one artifact: one process computes, the others wait and reuse it."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from supernetbench.harness.locks import claim

TINY = ["--set", "epochs=1", "--set", "train_size=64", "--set", "valid_size=64"]


def test_claim_serialises_and_releases(tmp_path):
    order: list[str] = []
    lock = tmp_path / "x.lock"
    with claim(lock, "x"):
        t = threading.Thread(target=lambda: [claim(lock, "x", announce=False).__enter__(), order.append("second")])
        t.start()
        t.join(0.3)
        assert t.is_alive() and order == []  # blocked while held
        order.append("first")
    t.join(5)
    assert order == ["first", "second"]


def test_two_concurrent_trains_of_one_spec_train_once(tmp_path):
    """Two `supernetbench train` processes of the same spec into one runs root: both succeed with the
    same result, exactly one trains (the other waits on the run's lock, then reuses it)."""
    cmd = [sys.executable, "-m", "supernetbench.cli", "train", "--algo", "gdas", "--profile", "smoke", *TINY,
           "--runs-root", str(tmp_path), "--device", "cpu"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    summary = [[ln for ln in o[0].splitlines() if not ln.startswith("[")] for o in outs]
    assert summary[0] == summary[1] and any("final_train_acc" in ln for ln in summary[0])  # same run
    trained = [(o[0] + o[1]).count("epoch 1/1") for o in outs]
    assert sorted(trained) == [0, 1], [o[1][-2000:] for o in outs]  # one trained, one waited
    waited = outs[trained.index(0)][1]
    assert "waiting for another process" in waited and "reusing" in waited
    runs = [p for p in Path(tmp_path).iterdir() if p.is_dir()]
    assert len(runs) == 1 and (runs[0] / "DONE").exists()
    assert len((runs[0] / "log.jsonl").read_text().splitlines()) == 1
    assert np.load(runs[0] / "archprob.npy").sum() == pytest.approx(1.0)
