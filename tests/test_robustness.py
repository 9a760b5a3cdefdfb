"""Issue 7, one test per finding: bad inputs, tampered or corrupted files, full and read-only disks.

Each bad input must end in exit status 2 (input) or 1 (could not finish) with one ``error:`` line
that names the problem and the fix; never a traceback, never a silently wrong result, and no file
the harness reads may run code. Training here is at most one tiny smoke epoch.
"""
from __future__ import annotations

import errno
import json
import os
import stat
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from supernetbench.oneshot import train as engine, scoring
from supernetbench.pipeline import evaluate as pipeline
from supernetbench.harness import store
from supernetbench.oneshot.train import RunSpec, cached_search_data
from supernetbench.harness.profiles import get_profile

try:
    from tests.helpers import CodePayload, error_line, run_cli
except ImportError:  # pragma: no cover - run from inside tests/
    from helpers import CodePayload, error_line, run_cli

ARCH = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
TINY = ["--profile", "smoke", "--set", "train_size=64", "--set", "valid_size=64",
        "--set", "score_images=8", "--set", "score_batch_size=8", "--device", "cpu", "--json"]


@pytest.fixture
def no_training(monkeypatch):
    """Replace Stage 1 by a recorder: the command must fail (or pass its checks) before any work."""
    specs = []

    def record(spec, **kw):
        specs.append(spec)
        raise KeyboardInterrupt("recorded")

    monkeypatch.setattr(engine, "train_supernet", record)
    monkeypatch.setattr(pipeline, "train_supernet", record)
    return specs


@pytest.fixture
def trainable(gt, torch_single_thread):
    """Skips (with the reason) when the CIFAR-10 data for a tiny smoke run cannot be found."""
    try:
        cached_search_data(RunSpec("rsps", "cifar10", profile=get_profile("smoke").replace(
            train_size=64, valid_size=64)).data_config())
    except (FileNotFoundError, OSError, RuntimeError) as e:
        pytest.skip(f"CIFAR-10 search data unavailable: {e}")


# ----------------------------------------------------------------------- code execution from files
def test_planted_checkpoint_payload_does_not_run(trainable, tmp_path):
    """A hand-made checkpoint.pt with a pickle payload in an unfinished run dir is refused on the
    next `train` (weights_only load): one line naming the file and the fix, no code run."""
    rc, out, _ = run_cli("train", "--algo", "rsps", "--set", "epochs=2", *TINY,
                         "--runs-root", str(tmp_path / "runs"))
    assert rc == 0
    run_dir = json.loads(out)["run_dir"]
    (tmp_path / "runs" / os.path.basename(run_dir) / "DONE").unlink()  # an unfinished run again
    marker = tmp_path / "PWNED"
    torch.save({"epoch": 0, "net": CodePayload(marker)}, os.path.join(run_dir, "checkpoint.pt"))
    rc, _, err = run_cli("train", "--algo", "rsps", "--set", "epochs=2", *TINY,
                         "--runs-root", str(tmp_path / "runs"))
    line = error_line(err)
    assert rc == 2 and not marker.exists()
    assert "checkpoint.pt" in line and "could run code" in line and "delete it to restart the run" in line


# ------------------------------------------------------------------------- silently wrong results
@pytest.mark.parametrize("value", ["maybe", "ture", "2", ""])
def test_bool_override_rejects_junk(no_training, value):
    rc, _, err = run_cli("train", "--algo", "darts", "--set", f"reference={value}")
    assert rc == 2 and "for reference" in error_line(err) and "true/false" in err
    assert no_training == []


@pytest.mark.parametrize("value, expected", [("YES", True), ("on", True), ("0", False), ("False", False)])
def test_bool_override_accepts_the_documented_words(no_training, value, expected):
    assert run_cli("train", "--algo", "darts", "--set", f"reference={value}")[0] == 130  # the recorder
    assert no_training[0].profile.reference is expected


def test_explicit_incompatible_selector_is_an_error_before_any_work(no_training):
    rc, _, err = run_cli("select", "--algo", "rsps", "--selectors", "prune")
    assert rc == 2 and "selector 'prune' needs arch_weights" in error_line(err)
    assert no_training == []  # refused up front, not after training and scoring


def test_default_selectors_skip_with_the_reason(gt, monkeypatch):
    """Without --selectors, a default that does not apply is skipped and says why (not silently)."""
    rng = np.random.default_rng(0)
    run = SimpleNamespace(algo="rsps", provides=frozenset(), archprob=np.full(len(gt), 1 / len(gt)),
                          path="run", config={"profile": get_profile("smoke").to_dict()}, log=[], seed=0,
                          dataset="cifar10", profile=get_profile("smoke"))
    monkeypatch.setattr(pipeline, "train_supernet", lambda spec, **kw: run)
    monkeypatch.setattr(pipeline, "cached_search_data", lambda cfg: None)
    monkeypatch.setattr(pipeline, "cached_score_space", lambda *a, **k: rng.random(len(gt)))
    ev = pipeline.evaluate(RunSpec("rsps"), ["prune", "valid"], device="cpu", gt=gt)
    assert set(ev.selections) == {"valid"} and "needs arch_weights" in ev.skipped["prune"]
    assert ev.summary()["skipped_selectors"] == ev.skipped


@pytest.mark.parametrize("flag, value, msg", [
    ("--N", "-1", "N must be an integer in 1..16, got -1"),
    ("--N", "0", "N must be an integer in 1..16, got 0"),
    ("--C", "100000", "C must be an integer in 1..128, got 100000"),
    ("--C", "１６", "argument --C: expected an integer"),
])
def test_model_info_rejects_absurd_sizes_up_front(flag, value, msg):
    rc, out, err = run_cli("model-info", "--arch", ARCH, flag, value)
    assert rc == 2 and msg in error_line(err) and out == ""


@pytest.mark.parametrize("arch", [
    ARCH.replace("~1|", "~１|", 1),  # a fullwidth digit
    ARCH.replace("~2|", "~٢|"),  # an Arabic-Indic digit
    ARCH.replace("~0|+", "~0\n|+", 1),  # a newline inside a token
    ARCH.replace("~2|", "~02|"),
])
def test_non_ascii_or_padded_arch_index_is_rejected(arch):
    rc, _, err = run_cli("model-info", "--arch", arch)
    assert rc == 2 and "malformed NB201 arch string" in error_line(err)


def test_long_arch_string_is_not_echoed_in_full():
    rc, _, err = run_cli("model-info", "--arch", "|" + "x" * 10_000)
    assert rc == 2 and len(error_line(err)) < 400 and "(10,003 characters)" in err  # repr: 10,001 + quotes


# --------------------------------------------------------------------------- user arrays (metrics)
def _save(path, obj):
    np.save(path, obj)
    return str(path)


@pytest.mark.parametrize("make, msg", [
    (lambda n: np.zeros(n, dtype=np.complex128) + 1j, "holds complex128 values"),
    (lambda n: np.zeros(n, dtype=bool), "holds bool values"),
    (lambda n: np.zeros(n, dtype="m8[s]"), "holds timedelta64[s] values"),
    (lambda n: np.full(n, "a"), "holds <U1 values"),
    (lambda n: np.arange(n, dtype=np.int64) + 2**60, "float64 cannot represent exactly"),
    (lambda n: np.full(n, np.inf), "NaN or infinite"),
    (lambda n: np.zeros((n, 1)), "has shape (15625, 1)"),
])
def test_metrics_rejects_arrays_it_cannot_take_exactly(gt, tmp_path, make, msg):
    path = _save(tmp_path / "s.npy", make(len(gt)))
    rc, _, err = run_cli("metrics", "--scores", path)
    line = error_line(err)
    assert rc == 2 and msg in line and path in line


@pytest.mark.parametrize("content, msg", [
    (b"", "is not a readable .npy array"),
    ("npz", "is an .npz archive"),
    (b"\x93NUMPY garbage", "is not a readable .npy array"),
])
def test_metrics_unreadable_scores_file(gt, tmp_path, content, msg):
    path = tmp_path / "s.npy"
    if content == "npz":
        with open(path, "wb") as f:
            np.savez(f, scores=gt.test_acc("cifar10"))
    else:
        path.write_bytes(content)
    rc, _, err = run_cli("metrics", "--scores", str(path))
    assert rc == 2 and msg in error_line(err) and str(path) in err


def test_metrics_probs_must_be_a_distribution(gt, tmp_path):
    scores = _save(tmp_path / "s.npy", gt.test_acc("cifar10"))
    probs = _save(tmp_path / "p.npy", np.full(len(gt), 2.0 / len(gt)))
    rc, _, err = run_cli("metrics", "--scores", scores, "--probs", probs)
    assert rc == 2 and "must be non-negative and sum to 1" in error_line(err)


def test_metrics_int_scores_are_exact(gt, tmp_path):
    """Integer and float32 scores that convert exactly give the metrics of their float64 values."""
    acc = gt.test_acc("cifar10")
    for arr in (np.rint(acc * 100).astype(np.int32), np.rint(acc * 100).astype(np.uint64), acc.astype(np.float32)):
        ref = json.loads(run_cli("metrics", "--scores", _save(tmp_path / "f.npy", arr.astype(np.float64)), "--json")[1])
        rc, out, _ = run_cli("metrics", "--scores", _save(tmp_path / "i.npy", arr), "--json")
        assert rc == 0 and json.loads(out) == ref


def test_plot_into_missing_directory_is_refused(gt, tmp_path):
    scores = _save(tmp_path / "s.npy", gt.test_acc("cifar10"))
    target = tmp_path / "no" / "such" / "x.png"
    rc, _, err = run_cli("metrics", "--scores", scores, "--plot", str(target))
    assert rc == 2 and "does not exist; create it first" in error_line(err)
    assert not (tmp_path / "no").exists()


# ------------------------------------------------------------------------ NB201 table arguments
def test_nb201_pointing_at_a_directory(tmp_path):
    scores = _save(tmp_path / "s.npy", np.zeros(3))
    rc, _, err = run_cli("metrics", "--scores", scores, "--nb201", str(tmp_path))
    assert rc == 2 and "not the CSV table" in error_line(err)


@pytest.mark.parametrize("sidecar", ["", "\n", "not-a-digest\n"])
def test_bad_sha256_sidecar(gt, tmp_path, sidecar):
    table = tmp_path / "t.csv"
    table.write_bytes(gt.path.read_bytes())
    (tmp_path / "t.csv.sha256").write_text(sidecar)
    scores = _save(tmp_path / "s.npy", gt.test_acc("cifar10"))
    rc, _, err = run_cli("metrics", "--scores", scores, "--nb201", str(table))
    assert rc == 2 and "t.csv.sha256 is empty or not a sha256sum line" in error_line(err)


# --------------------------------------------------------------------------------- profile values
@pytest.mark.parametrize("item, msg", [
    ("epochs=abc", "invalid value 'abc' for epochs: expected an integer"),
    ("epochs=３", "invalid value '３' for epochs: expected an integer"),
    ("lr=nan", "invalid value 'nan' for lr: expected a finite number"),
    ("lr=-inf", "for lr: expected a finite number"),
    ("momentum=1.5", "profile field momentum must be a finite number in 0.0..1.0"),
    ("C=100000", "profile field C must be an integer in 1..128"),
    ("N=-1", "profile field N must be an integer in 1..16"),
    ("epochs=none", "for epochs: None is not allowed here"),
    ("split=random", "split must be one of protocol, nb201"),
    ("name=../../etc", "profile field name must be"),
    ("dtype=float16", "dtype must be one of float32, float64"),
])
def test_profile_overrides_fail_up_front_naming_the_field(no_training, item, msg):
    rc, _, err = run_cli("train", "--algo", "darts", "--set", item)
    assert rc == 2 and msg in error_line(err)
    assert no_training == []


@pytest.mark.parametrize("argv, msg", [
    (["--opt", "order=abc"], "invalid value 'abc' for order: expected an integer"),
    (["--opt", "arch_betas=0.5"], "expected 2 comma-separated numbers"),
    (["--seed", "-1"], "argument --seed: must be in 0..4294967295"),
    (["--seed", "1.5"], "argument --seed: expected an integer"),
])
def test_method_options_and_seed_are_typed(no_training, argv, msg):
    rc, _, err = run_cli("train", "--algo", "darts", *argv)
    assert rc == 2 and msg in error_line(err)


# ------------------------------------------------------------------------ disks, modes, run roots
def test_runs_root_that_is_a_file(trainable, tmp_path):
    root = tmp_path / "runs"
    root.write_text("a file")
    rc, _, err = run_cli("train", "--algo", "rsps", "--set", "epochs=1", *TINY, "--runs-root", str(root))
    assert rc == 2 and f"{root} is a file, not a directory" in error_line(err)


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES])
def test_read_only_runs_root(trainable, tmp_path, monkeypatch, code):
    real_open = store.os.open

    def refuse(path, *a, **k):
        if str(tmp_path / "runs") in str(path):
            raise OSError(code, os.strerror(code), str(path))
        return real_open(path, *a, **k)

    monkeypatch.setattr(store.os, "open", refuse)
    rc, _, err = run_cli("train", "--algo", "rsps", "--set", "epochs=1", *TINY, "--runs-root", str(tmp_path / "runs"))
    line = error_line(err)
    assert rc == 1 and os.strerror(code) in line and "--runs-root" in line
    assert str(tmp_path / "runs") in line  # names the file it could not write (the run's lock, first)


def test_disk_full_loses_nothing_and_resumes(trainable, tmp_path, monkeypatch):
    """ENOSPC while checkpointing epoch 2: one line (status 1), epoch 1's checkpoint intact, and the
    same command resumes from it once there is space. Every written file is 0644 under umask 022."""
    argv = ["train", "--algo", "rsps", "--set", "epochs=2", *TINY, "--runs-root", str(tmp_path / "runs")]
    real_fsync, writes = store.os.fsync, []

    def fsync_then_full(fd):
        writes.append(fd)
        if len(writes) > 3:  # config.json, checkpoint 1, log 1, then the disk is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(store.os, "fsync", fsync_then_full)
    old_umask = os.umask(0o022)
    try:
        rc, _, err = run_cli(*argv)
        line = error_line(err)
        assert rc == 1 and "No space left on device" in line and "checkpoint.pt" in line and "rerun" in line
        (run_dir,) = (tmp_path / "runs").iterdir()
        assert torch.load(run_dir / "checkpoint.pt", weights_only=True)["epoch"] == 0
        assert not [p for p in run_dir.iterdir() if p.name.endswith(".tmp")]
        monkeypatch.setattr(store.os, "fsync", real_fsync)
        rc, out, _ = run_cli(*argv)
        assert rc == 0 and json.loads(out)["epochs"] == 2
        for p in run_dir.iterdir():
            assert stat.S_IMODE(p.stat().st_mode) == 0o644, p.name
    finally:
        os.umask(old_umask)


# ------------------------------------------------------------------------------ the score cache
def test_tampered_score_cache_is_recomputed(tmp_path, monkeypatch, capsys):
    """A score-cache file replaced by 100 - scores (which flipped Kendall's sign with status 0) fails
    its checksum: reported in one line, deleted, recomputed."""
    monkeypatch.setenv("SUPERNETBENCH_CACHE", str(tmp_path / "cache"))
    (tmp_path / "supernet.pt").write_bytes(b"weights")
    run = SimpleNamespace(path=tmp_path, profile=get_profile("smoke"), load_supernet=lambda device: None)
    data = SimpleNamespace(valid_x=torch.zeros(8, 3, 32, 32, dtype=torch.uint8), valid_y=torch.zeros(8, dtype=torch.long),
                           train_x=torch.zeros(8, 3, 32, 32, dtype=torch.uint8), dataset="cifar10")
    gt = SimpleNamespace(archs=np.zeros((5, 6), dtype=np.int8))
    truth, calls = np.array([10.0, 20.0, 30.0, 40.0, 50.0]), []
    monkeypatch.setattr(scoring, "score_space", lambda *a, **k: calls.append(1) or truth.copy())
    cfg = scoring.ScoreConfig(images=8, batch_size=8)
    np.testing.assert_array_equal(scoring.cached_score_space(run, gt, data, cfg, progress=False), truth)
    np.testing.assert_array_equal(scoring.cached_score_space(run, gt, data, cfg, progress=False), truth)
    assert len(calls) == 1
    (entry,) = (tmp_path / "cache" / "scores").glob("*.npz")  # (beside it: the entry's lock file)
    with np.load(entry) as z:
        np.savez(entry, scores=100 - z["scores"], __sha256__=z["__sha256__"])
    capsys.readouterr()
    np.testing.assert_array_equal(scoring.cached_score_space(run, gt, data, cfg, progress=False), truth)
    assert len(calls) == 2
    warning = capsys.readouterr().err.strip().splitlines()
    assert len(warning) == 1 and str(entry) in warning[0] and "checksum does not match" in warning[0]


# ------------------------------------------------------------------------------------- no pickles
def test_no_unrestricted_loads_outside_the_trusted_convert_path():
    """The invariant behind 'no file the harness reads can run code' (grep, as the stop hook does)."""
    import re
    from pathlib import Path

    import supernetbench

    pattern = re.compile(r"weights_only\s*=\s*False|allow_pickle\s*=\s*True|pickle\.loads?\(")
    hits = [f"{p}:{i}" for p in Path(supernetbench.__file__).parent.rglob("*.py")
            for i, line in enumerate(p.read_text().splitlines(), 1)
            if pattern.search(line) and "convert" not in line]
    assert hits == []
