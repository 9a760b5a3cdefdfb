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


def _link_decoded_pack(store: Path) -> None:
    """Link a decoded CIFAR-10 pack (sha256-checked on read) of this user's caches into a fresh store:
    decoding it again costs ~30 s per store and tests nothing here."""
    from supernetbench.harness.store import cache_dir

    for cache in dict.fromkeys([cache_dir(), Path.home() / ".cache" / "supernetbench"]):
        for f in (cache / "decoded").glob("cifar10-*.npz"):
            (store / "decoded").mkdir(parents=True, exist_ok=True)
            if not (store / "decoded" / f.name).exists():
                (store / "decoded" / f.name).symlink_to(f.resolve())


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

    from supernetbench.oneshot.scoring import ScoreConfig, ScoringData, score_space

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

    from supernetbench.pipeline.artifacts import study_command
    from supernetbench.oneshot.train import RunSpec
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
    _link_decoded_pack(store)
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


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (Linux /proc; elsewhere a signal-0 probe)."""
    stat = Path(f"/proc/{pid}/stat")
    if Path("/proc").is_dir():
        try:
            return stat.read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
        except OSError:
            return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


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
    pids = list(b.pool._processes)
    t0 = time.time()
    b.close(abort=True)
    # the pool's own manager thread reaps its workers too: a second join of the same child can lose that
    # race and report a dead worker as alive, so ask the kernel (no /proc entry, or a zombie) instead
    while any(_running(pid) for pid in pids) and time.time() - t0 < 10:
        time.sleep(0.05)
    assert time.time() - t0 < 10
    assert not any(_running(pid) for pid in pids)
    assert fut is not None  # (its result is lost with the pool; the task reruns next time)


# ------------------------------------------------------------------------------ a small finished store
TINY = {"epochs": 1, "train_size": 64, "valid_size": 64, "score_images": 4, "score_batch_size": 4,
        "valid_images": 4, "num_samples": 4, "C": 2}
SET_FLAGS = [x for k, v in TINY.items() for x in ("--set", f"{k}={v}")]


@pytest.fixture(scope="module")
def finished(tmp_path_factory, gt):
    """A store holding one finished tiny darts run, its full-space scores and its prune + valid
    selections (made by `evaluate`). The scores are a seeded stand-in written through the checksummed
    cache: all 9,445 classes would cost ~30 s here and these tests are about the stored records."""
    import numpy as np

    from supernetbench.oneshot.train import RunSpec, cached_search_data, train_supernet
    from supernetbench.pipeline.evaluate import evaluate
    from supernetbench.harness.profiles import get_profile
    from supernetbench.oneshot.scoring import ScoreConfig, make_scoring_data, score_cache_path
    from supernetbench.harness.store import save_cached_arrays

    root = tmp_path_factory.mktemp("finished")
    _link_decoded_pack(root)
    spec = RunSpec("darts", "cifar10", 0, get_profile("smoke", TINY))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SUPERNETBENCH_CACHE", str(root))
        try:
            run = train_supernet(spec, runs_root=root / "runs", device="cpu", progress=False)
        except (FileNotFoundError, OSError) as e:
            pytest.skip(f"CIFAR-10 search data unavailable: {e}")
        cfg = ScoreConfig.from_profile(spec.profile)
        sd = make_scoring_data(cached_search_data(spec.data_config()), cfg, "cpu", spec.profile.torch_dtype)
        save_cached_arrays(score_cache_path(run, gt, sd, cfg),
                           scores=np.random.default_rng(0).integers(0, 5, len(gt)) * 25.0)
        ev = evaluate(spec, ["prune", "valid"], device="cpu", runs_root=root / "runs", progress=False, gt=gt)
    return root, spec, ev


@pytest.fixture
def store(finished, tmp_path, monkeypatch):
    """A private copy of the finished store (tests damage it), as ``$SUPERNETBENCH_CACHE``."""
    import shutil

    root, spec, ev = finished
    copy = tmp_path / "store"
    shutil.copytree(root, copy, symlinks=True)
    monkeypatch.setenv("SUPERNETBENCH_CACHE", str(copy))
    run_dir = copy / "runs" / Path(ev.run.path).name
    return copy, run_dir, spec, ev


def _evaluate(store_root: Path, *extra: str) -> tuple[int, str, str]:
    return run_cli("evaluate", "--algo", "darts", "--dataset", "cifar10", "--seed", "0", "--profile", "smoke",
                   *SET_FLAGS, "--runs-root", str(store_root / "runs"), "--selectors", "prune", "valid",
                   "--device", "cpu", "--json", *extra)


def _record(run_dir: Path, selector: str) -> Path:
    (path,) = (run_dir / "selections").glob(f"{selector}-*.json")
    return path


def test_stored_selections_carry_a_checksum_and_are_reused(store):
    import json

    from supernetbench.pipeline.artifacts import record_sha256

    root, run_dir, _, ev = store
    rec = json.loads(_record(run_dir, "prune").read_text())
    assert rec["sha256"] == record_sha256(rec)
    rc, out, err = _evaluate(root)
    assert rc == 0 and "warning" not in err
    assert sorted(json.loads(out)["reused_selections"]) == ["prune", "valid"]


def _tamper(path: Path, change, keep_checksum: bool = True) -> None:
    import json

    from supernetbench.pipeline.artifacts import record_sha256

    rec = json.loads(path.read_text())
    change(rec["selection"])
    if keep_checksum:  # a careful forger: the checksum matches the edited record, the table does not
        rec["sha256"] = record_sha256(rec)
    else:
        rec.pop("sha256")  # or a record from before checksums
    path.write_text(json.dumps(rec))


@pytest.mark.parametrize("change, why", [
    (lambda s: s.update(test_acc=99.5), "test_acc 99.5 is not the table's"),
    (lambda s: s.update(index=15_625), "index 15625 is not an NB201 index"),
    (lambda s: s.update(index=-1), "index -1 is not an NB201 index"),
    (lambda s: s.update(index=True), "is not an NB201 index"),
    (lambda s: s.update(arch="|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"), "arch is not NB201 arch"),
])
@pytest.mark.parametrize("keep_checksum", [True, False])
def test_an_edited_selection_is_stale_replaced_and_said_so(store, change, why, keep_checksum):
    import json

    root, run_dir, _, ev = store
    path = _record(run_dir, "prune")
    truth = ev.selections["prune"]
    _tamper(path, change, keep_checksum)
    rc, out, err = _evaluate(root)
    assert rc == 0, err
    res = json.loads(out)
    assert res["selections"]["prune"]["test_acc"] == truth.test_acc and "prune" not in res["reused_selections"]
    (warning,) = [line for line in err.splitlines() if line.strip()]
    assert warning.startswith("warning: selection record") and str(path) in warning and why in warning
    assert "stale and will be recomputed" in warning
    assert json.loads(path.read_text())["selection"]["test_acc"] == truth.test_acc  # replaced


def test_a_checksum_mismatch_is_damage(store):
    root, run_dir, *_ = store
    path = _record(run_dir, "valid")
    path.write_text(path.read_text().replace('"seconds": ', '"seconds": 1'))
    rc, _, err = _evaluate(root)
    assert rc == 0 and "checksum does not match" in err and str(path) in err


@pytest.mark.parametrize("text", ["[]", '{"format": "selection-v1", "selection": {"arch": 1}}', "{not json",
                                  '{"format": "selection-v1", "selection": []}', "\xff\xfe"])
def test_malformed_selection_json_names_the_file(store, text):
    root, run_dir, *_ = store
    path = _record(run_dir, "prune")
    path.write_bytes(text.encode("latin-1"))
    rc, _, err = _evaluate(root)
    assert rc == 0 and "TypeError" not in err and f"selection record {path} is damaged" in err


def test_report_and_study_judge_a_damaged_selection_alike(store, tmp_path):
    """The study's done-check and `report --artifacts-only` agree: damaged, not missing; the study
    command it suggests then replaces it."""
    from supernetbench.study import StudySpec
    from supernetbench.study.tasks import Task, task_state

    root, run_dir, *_ = store
    study = StudySpec(algos=("darts",), selectors=("prune", "valid"), seeds=(0,), overrides=tuple(sorted(TINY.items())),
                      device="cpu", store=str(root), reliance=False)
    sel = Task("select", "darts", "cifar10", 0, "prune")
    assert task_state(study, sel)[0] == "done"
    path = _record(run_dir, "prune")
    _tamper(path, lambda s: s.update(test_acc=99.5))
    assert task_state(study, sel)[0] == "pending"  # not done: the study will make it again
    assert task_state(study, Task("select", "darts", "cifar10", 0, "valid"))[0] == "done"
    rc, _, err = run_cli("report", "--algos", "darts", "--selectors", "prune", "valid", "--seeds", "0", "--profile",
                         "smoke", *SET_FLAGS, "--artifacts-only", "--device", "cpu", "--out", str(tmp_path / "rep"))
    line = error_line(err.split("\n", 1)[1] if err.startswith("warning:") else err)
    assert rc == 2 and f"damaged selection {path}" in line and "missing: selection" not in line
    assert "test_acc 99.5 is not the table's" in line


# ------------------------------------------------------------------------------ finished-run manifest
def test_a_truncated_log_of_a_finished_run_is_damage_with_the_fix(store):
    from supernetbench.study import StudySpec
    from supernetbench.study.tasks import Task, task_state

    root, run_dir, *_ = store
    assert (run_dir / "MANIFEST.json").is_file()
    log = run_dir / "log.jsonl"
    log.write_text(log.read_text()[:-5])  # truncated
    rc, _, err = _evaluate(root)
    line = error_line(err)
    assert rc == 2 and f"finished run {run_dir} is damaged: log.jsonl differs" in line
    assert "delete the run directory and train again" in line
    study = StudySpec(algos=("darts",), selectors=("prune",), seeds=(0,), overrides=tuple(sorted(TINY.items())),
                      device="cpu", store=str(root), reliance=False)
    assert task_state(study, Task("train", "darts", "cifar10", 0))[0] != "done"


def test_runs_finished_before_manifests_still_load(store):
    root, run_dir, *_ = store
    (run_dir / "MANIFEST.json").unlink()
    rc, _, err = _evaluate(root)
    assert rc == 0, err


# ------------------------------------------------------------------------------ read-only store
def test_a_read_only_store_with_every_artifact_is_fine(store, monkeypatch):
    """Every artifact exists: evaluate and report only read; a lock that cannot be created is at most
    a warning, and nothing is written into the store."""
    import errno

    from supernetbench.harness import locks
    from supernetbench.harness import store as st

    root = store[0]
    real_open = st.os.open

    def read_only(path, flags, *a, **k):
        if str(path).startswith(str(root)) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *a, **k)

    monkeypatch.setattr(os, "open", read_only)  # filelock and every atomic write go through os.open
    rc, _, err = _evaluate(root)
    assert rc == 0, err
    rc, _, err = run_cli("report", "--algos", "darts", "--selectors", "prune", "valid", "--seeds", "0", "--profile",
                         "smoke", *SET_FLAGS, "--device", "cpu", "--out", str(root.parent / "rep"))
    assert rc == 0, err
    assert locks and st  # (imported for the patch target's sake)


# ------------------------------------------------------------------------------ study TOML values
@pytest.mark.parametrize("line, key", [
    ('workers = "abc"', "workers"), ("store = 123", "store"), ("seeds = 5", "seeds"), ("device = 7", "device"),
    ('reliance = "false"', "reliance"), ("algos = []", "algos"), ("seeds = [4294967296]", "seeds"),
    ("seeds = [true]", "seeds"), ("seeds = [-1]", "seeds"), ('selectors = "valid"', "selectors"),
    ("datasets = [1]", "datasets"), ("workers = 0", "workers"), ("retries = 1.5", "retries"),
    ('device = "gpu"', "device"), ('profile = ""', "profile"),
])
def test_study_toml_values_are_type_checked_before_any_work(tmp_path, line, key):
    f = tmp_path / "s.toml"
    base = {"algos": 'algos = ["darts"]', "selectors": 'selectors = ["prune"]'}
    base.pop(key, None)
    f.write_text("\n".join([*base.values(), line]) + "\n")
    for argv in (["study", str(f), "--status"], ["study", str(f)], ["report", "--study", str(f), "--out", str(tmp_path / "r")]):
        rc, _, err = run_cli(*argv)
        msg = error_line(err)
        assert rc == 2 and f"study file {f}: {key!r} must be" in msg and "e.g." in msg, msg
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.toml"]  # nothing made


def test_study_toml_relative_paths_are_the_files(tmp_path, monkeypatch):
    from supernetbench.study import StudySpec

    (tmp_path / "proj").mkdir()
    f = tmp_path / "proj" / "s.toml"
    f.write_text('algos = ["darts"]\nstore = "store"\nruns_root = "../runs"\ndata_root = "/abs/data"\nreliance = false\n')
    monkeypatch.chdir(tmp_path)
    s = StudySpec.from_toml(f)
    assert s.store_path == tmp_path / "proj" / "store" and s.runs_path == (tmp_path / "proj" / ".." / "runs")
    assert s.data_root == "/abs/data" and s.reliance is False
    assert StudySpec.from_toml(f, store="cli-store").store == "cli-store"  # a flag stays the shell's


# ------------------------------------------------------------------------------ study --status
@pytest.mark.parametrize("record", ['{"state": "running", "started": "yesterday"}', "[1, 2]", "{broken",
                                    '{"state": "failed", "error": 5, "log": [], "seconds": "x"}',
                                    '{"state": "done", "seconds": true}'])
def test_a_damaged_task_record_does_not_crash_status(tmp_path, record):
    from supernetbench.study import StudySpec, status_table, study_status
    from supernetbench.study.tasks import plan, record_path

    spec = StudySpec(algos=("darts",), selectors=("prune",), seeds=(0,), store=str(tmp_path), reliance=False)
    for t in plan(spec).tasks:
        record_path(spec, t).parent.mkdir(parents=True, exist_ok=True)
        record_path(spec, t).write_text(record)
    rep = study_status(spec)
    assert "ETA" in status_table(rep) and set(rep.states.values()) <= {"pending", "failed"}
    rc, out, err = run_cli("study", "--algos", "darts", "--selectors", "prune", "--seeds", "0", "--no-reliance",
                           "--store", str(tmp_path), "--status", "--json")
    assert rc == 0, err


def test_status_work_per_task_is_constant(tmp_path):
    """--status on many seeds: the study's key and profile are computed once, not per task (they hash
    every seed: 20,000 seeds took > 180 s). Measured: 20,000 seeds x 3 tasks in 17 s of CPU here."""
    from supernetbench.study import StudySpec

    spec = StudySpec(algos=("darts",), selectors=("prune",), seeds=tuple(range(20_000)), store=str(tmp_path),
                     reliance=False)
    assert spec.key() is spec.key() and spec.stage_profile() is spec.stage_profile()


# ------------------------------------------------------------------------------ score --adaptive
def test_adaptive_survivors_are_exact_and_the_rest_is_labelled_an_estimate(torch_single_thread):
    """What --adaptive promises, against the exact path: every class scored on all images has exactly
    score_space's score; a1 from it is called an estimate (help and output), never exact."""
    import numpy as np
    import torch

    from supernetbench.cli import build_parser
    from supernetbench.oneshot.adaptive import adaptive_score_space
    from supernetbench.spaces.nb201.supernet import build_supernet
    from supernetbench.oneshot.scoring import ScoreConfig, ScoringData, score_space
    from supernetbench.spaces.nb201.supernet import SupernetConfig

    torch.manual_seed(0)
    net = build_supernet(SupernetConfig(C=2, N=1, num_classes=10), torch.float64)
    x = torch.randn(16, 3, 32, 32, dtype=torch.float64)
    sd = ScoringData(x, torch.randint(0, 10, (16,)), (), "random")
    archs = np.random.default_rng(0).integers(0, 5, (120, 6))
    cfg = ScoreConfig(images=16, batch_size=16)
    res = adaptive_score_space(net, archs, sd, cfg, rounds=2, top_archs=10, progress=False)
    exact = score_space(net, archs, sd, cfg, progress=False, engine="naive")
    full = res.images == 16
    assert full.any() and (~full).any() and res.cost < 1.0
    np.testing.assert_array_equal(res.scores[full], exact[full])
    text = " ".join(a.help or "" for a in build_parser()._subparsers._group_actions[0].choices["score"]._actions
                    if "--adaptive" in a.option_strings)
    assert "ESTIMATES" in text and "exact" in text
