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


# ------------------------------------------------------------------------------ small CLI promises
def test_convert_missing_source_is_not_found_not_a_pickle(tmp_path):
    rc, _, err = run_cli("nb201-convert", "--source", str(tmp_path / "nope"), "--out", str(tmp_path / "t.csv"))
    assert rc == 2 and "not found" in error_line(err) and "pickle" not in err


def test_proxy_out_into_a_missing_directory_is_refused_before_work(tmp_path):
    rc, _, err = run_cli("proxy", "--run", str(tmp_path), "--measure", "synflow", "--out", str(tmp_path / "no" / "x.npy"))
    assert rc == 2 and "directory" in error_line(err) and "does not exist; create it first" in err
    assert not (tmp_path / "no").exists()


def test_index_md_escapes_copied_paths(tmp_path):
    from supernetbench.report.html import md_escape, render_markdown

    path = "/data/my_runs*[old] #1 <b>x</b>\n- not a list"
    md = render_markdown([("list", [f"data: {path}"]), ("warning", path), ("p", path)], tmp_path)
    assert "my\\_runs\\*\\[old\\] \\#1 \\<b\\>x\\</b\\>" in md
    assert "\n- not a list" not in md and md.count("\n- ") == 0 and md.startswith("- data:")
    # unescaping gives back the text, with the line break as a space
    import re

    assert re.sub(r"\\(.)", r"\1", md_escape(path)) == path.replace("\n", " ")


# ------------------------------------------------------------------------------ bf16 on float64
@pytest.mark.parametrize("extra", [[], ["--adaptive"]])
def test_bf16_on_a_float64_profile_is_refused_before_work(tmp_path, extra):
    rc, _, err = run_cli("score", "--algo", "darts", "--profile", "smoke", "--precision", "bf16",
                         "--runs-root", str(tmp_path / "runs"), *extra)
    assert rc == 2 and "float64" in error_line(err) and "--precision exact" in err
    assert not (tmp_path / "runs").exists()  # nothing trained


def test_bf16_on_float64_is_refused_by_the_scoring_api_too():
    import numpy as np
    import torch

    from supernetbench.harness.scoring import ScoreConfig, ScoringData, score_space

    net = torch.nn.Linear(2, 2).double()
    sd = ScoringData(torch.zeros(1, 2, dtype=torch.float64), torch.zeros(1, dtype=torch.long), (), "x")
    with pytest.raises(ValueError, match="float64 under a bf16 label"):
        score_space(net, np.zeros((1, 6), dtype=np.int64), sd, ScoreConfig(), precision="bf16", progress=False)


# ------------------------------------------------------------------------------ orphan-temp sweep
def test_sweep_walks_only_the_directories_the_harness_owns(tmp_path):
    import time

    from supernetbench.harness.store import sweep_harness_temps

    store, home = tmp_path / "store", tmp_path / "home"
    run = home / "darts-cifar10-s0-smoke-0123456789abcdef"
    ours = [store / "scores" / ".x.npz.0123abcd.tmp", run / "selections" / ".p.json.89abcdef.tmp",
            store / "studies" / "study-1" / ".s.json.00112233.tmp"]
    users = [store / ".notes.txt.0123abcd.tmp", store / "mine" / ".a.b.0123abcd.tmp",
             home / ".bashrc.deadbeef.tmp", home / "photos" / ".img.jpg.cafebabe.tmp"]
    old = time.time() - 7200
    for f in ours + users:
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"x")
        os.utime(f, (old, old))
    assert sorted(sweep_harness_temps(store, home)) == sorted(ours)
    assert all(f.exists() for f in users) and not any(f.exists() for f in ours)
    assert sweep_harness_temps(tmp_path / "absent", tmp_path / "absent") == []


# ------------------------------------------------------------------------------ the suggested command
def test_suggested_command_names_the_store_and_quotes_paths(tmp_path, monkeypatch):
    import shlex

    monkeypatch.setenv("SUPERNETBENCH_CACHE", str(tmp_path / "default cache"))
    store = tmp_path / "my store"
    rc, _, err = run_cli("report", "--algos", "darts", "--seeds", "0", "--profile", "smoke", "--store", str(store),
                         "--artifacts-only", "--device", "cpu", "--out", str(tmp_path / "rep"))
    line = error_line(err)
    assert rc == 2 and "missing" in line
    cmd = line.split("make them with: ", 1)[1].split("; missing: ", 1)[0]
    argv = shlex.split(cmd)  # pastes as it is: the quoted path is one argument
    assert argv[:2] == ["supernetbench", "study"] and argv[argv.index("--store") + 1] == str(store)
    assert "--runs-root" not in argv  # the runs are the store's own
    assert not store.exists() and not (tmp_path / "default cache").exists()  # artifacts-only wrote nothing


def test_study_command_quotes_runs_root_data_root_and_overrides(tmp_path):
    import shlex

    from supernetbench.harness.artifacts import study_command
    from supernetbench.harness.engine import RunSpec
    from supernetbench.harness.profiles import get_profile

    spec = RunSpec("darts", "cifar10", 0, get_profile("smoke", {"epochs": 2}), (), str(tmp_path / "data $HOME"))
    argv = shlex.split(study_command(spec, ["valid"], tmp_path / "runs; rm -rf x", store=tmp_path / "st'ore"))
    assert argv[argv.index("--runs-root") + 1] == str(tmp_path / "runs; rm -rf x")
    assert argv[argv.index("--data-root") + 1] == str(tmp_path / "data $HOME")
    assert argv[argv.index("--store") + 1] == str(tmp_path / "st'ore") and "epochs=2" in argv
    # runs under <store>/runs: no --runs-root
    assert "--runs-root" not in study_command(spec, ["valid"], tmp_path / "s" / "runs", store=tmp_path / "s")


# ------------------------------------------------------------------------------ killing a study's parent
TINY_SET = ["epochs=3", "train_size=128", "valid_size=64", "score_images=4", "score_batch_size=4", "C=2"]


def _children(pid: int) -> set[int]:
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out |= {int(c) for c in (task / "children").read_text().split()}
        except OSError:
            pass
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _start_study(tmp_path) -> tuple[subprocess.Popen, set[int]]:
    """A tiny two-task study in a subprocess; returns it once its two pool workers are up."""
    import time

    store = tmp_path / "store"
    from supernetbench.harness.store import cache_dir

    for f in (cache_dir() / "decoded").glob("cifar10-*.npz"):  # no 30 s decode: the pack is sha256-checked
        (store / "decoded").mkdir(parents=True, exist_ok=True)
        (store / "decoded" / f.name).symlink_to(f.resolve())
    argv = [sys.executable, "-m", "supernetbench.cli", "study", "--algos", "darts", "gdas", "--selectors", "valid",
            "--seeds", "0", "--profile", "smoke", "--set", *TINY_SET, "--no-reliance", "--device", "cpu",
            "--workers", "2", "--store", str(store), "--quiet"]
    proc = subprocess.Popen(argv, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 90
    while time.time() < deadline:
        kids = {c for c in _children(proc.pid) if "watch_parent" in _cmdline(c) or "spawn_main" in _cmdline(c)}
        if len(kids) >= 2 and all(_threads(c) > 1 for c in kids):  # workers up (their watch thread runs)
            return proc, kids
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    proc.kill()
    pytest.fail("the study's workers did not start within 90 s")


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _threads(pid: int) -> int:
    try:
        return len(list(Path(f"/proc/{pid}/task").iterdir()))
    except OSError:
        return 0


def _all_gone(pids: set[int], within_s: float) -> bool:
    import time

    deadline = time.time() + within_s
    while time.time() < deadline:
        if not any(_alive(p) for p in pids):
            return True
        time.sleep(0.2)
    return False


linux_only = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc (Linux)")


@linux_only
@pytest.mark.slow  # ~10 s each: a real study subprocess and its pool (CI keeps the two fast tests below)
@pytest.mark.parametrize("sig", ["SIGKILL", "SIGTERM"])
def test_killing_a_studys_parent_ends_its_workers(tmp_path, sig):
    import signal

    proc, workers = _start_study(tmp_path)
    try:
        proc.send_signal(getattr(signal, sig))
        _, err = proc.communicate(timeout=60)
        assert _all_gone(workers, 10), f"workers {workers} outlived their parent ({sig})"
        if sig == "SIGTERM":  # handled like Ctrl-C: the interrupted line and its status
            assert proc.returncode == 130 and "interrupted; rerun the same command to resume" in err, err
        else:
            assert proc.returncode == -9
    finally:
        for p in workers | {proc.pid}:
            if _alive(p):
                os.kill(p, signal.SIGKILL)


def test_watch_parent_ends_an_orphan(tmp_path):
    """The watch alone: a grandchild whose parent is SIGKILLed exits within a second or so."""
    import signal
    import time

    code = ("import os, subprocess, sys, time\n"
            "child = subprocess.Popen([sys.executable, '-c', 'import os, time; "
            "from supernetbench.harness.lifecycle import watch_parent; watch_parent(' + str(os.getpid()) + ', 0.1); "
            "time.sleep(60)'])\n"
            "print(child.pid, flush=True); time.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT)},
                              stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    time.sleep(1.0)
    assert _alive(child)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    assert _all_gone({child}, 5)


def test_sigterm_ends_a_command_like_ctrl_c(monkeypatch, capsys):
    import signal

    from supernetbench import cli

    def cmd(args):
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM did not interrupt the command")

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(cli, "cmd_list", cmd)
    assert cli.main(["list"]) == 130
    assert "interrupted; rerun the same command to resume" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) is before  # restored


def test_aborted_local_backend_stops_its_workers_at_once(tmp_path):
    """Ctrl-C / SIGTERM: close(abort=True) terminates the running workers instead of waiting."""
    import time

    from supernetbench.study import StudySpec
    from supernetbench.study.backends import LocalBackend

    spec = StudySpec(algos=("darts",), selectors=("valid",), device="cpu", workers=1, store=str(tmp_path))
    b = LocalBackend(spec, "s")
    fut = b.pool.submit(time.sleep, 60)
    while not b.pool._processes:
        time.sleep(0.05)
    procs = list(b.pool._processes.values())
    t0 = time.time()
    b.close(abort=True)
    for p in procs:
        p.join(10)
    assert time.time() - t0 < 10 and not any(p.is_alive() for p in procs)
    assert fut.cancelled() or fut.done()
