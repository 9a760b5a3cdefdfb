"""The Stage-1 engine end to end: every registered method trains one tiny epoch and leaves complete
run artifacts; a killed run resumes to exactly the state of an uninterrupted one.

Uses the ``smoke`` profile (C=4, N=1, 256 + 256 CIFAR-10 images: 4 steps per epoch) on the CPU with
one thread. Skipped with a reason when the CIFAR-10 data or the NB201 table cannot be found.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from supernetbench.algorithms import ALGORITHMS
from supernetbench.spaces.nb201.benchmark import BenchmarkTableError, load_ground_truth
from supernetbench.oneshot.train import (
    CHECKPOINT_KEYS, RunSpec, SearchRun, cached_search_data, train_supernet,
)
from supernetbench.harness.profiles import get_profile
from supernetbench.harness.store import CorruptFileError
from supernetbench.spaces.nb201.supernet import SupernetConfig, build_supernet

try:
    from tests.helpers import CodePayload
except ImportError:  # pragma: no cover - run from inside tests/
    from helpers import CodePayload

SMOKE = get_profile("smoke")


pytestmark = pytest.mark.usefixtures("torch_single_thread")


@pytest.fixture(autouse=True, scope="module")
def _requirements():
    try:
        load_ground_truth()
    except BenchmarkTableError as e:
        pytest.skip(f"NB201 ground-truth table unavailable: {e}")
    try:
        cached_search_data(RunSpec("rsps", "cifar10", profile=SMOKE).data_config())
    except (FileNotFoundError, OSError, RuntimeError) as e:
        pytest.skip(f"CIFAR-10 search data unavailable: {e}")


def _train(algo: str, root, epochs: int, dataset: str = "cifar10", data_root=None, **kw) -> SearchRun:
    # 256 + 256 images: fits the CIFAR-100 partial pack and the small ImageNet16 stand-in
    spec = RunSpec(algo, dataset, seed=0, profile=SMOKE.replace(epochs=epochs, train_size=256, valid_size=256),
                   data_root=data_root)
    return train_supernet(spec, runs_root=root, device="cpu", progress=False, **kw)


@pytest.fixture(scope="module")
def imagenet16_standin(tmp_path_factory):
    """ImageNet16-120 is not available here: a synthetic stand-in in NB201's exact pickle format."""
    from supernetbench.harness.data import write_imagenet16_standin

    root = tmp_path_factory.mktemp("imagenet16")
    write_imagenet16_standin(root, n_train_per_batch=64, n_val=64, seed=0)
    return str(root)


@pytest.mark.parametrize("dataset", ["cifar10", "cifar100", "imagenet16-120"])
@pytest.mark.parametrize("algo", ALGORITHMS.names())
def test_one_epoch_run_artifacts(algo, dataset, tmp_path, imagenet16_standin):
    """Every method trains one smoke epoch on every dataset (CIFAR-100: the partial pack)."""
    root = imagenet16_standin if dataset == "imagenet16-120" else None
    run = _train(algo, tmp_path, epochs=1, dataset=dataset, data_root=root)
    if dataset == "imagenet16-120":
        assert "stand-in" in run.config["data"]
    assert run.config["num_classes"] == {"cifar10": 10, "cifar100": 100, "imagenet16-120": 120}[dataset]
    for name in ("DONE", "config.json", "arch.json", "archprob.npy", "supernet.pt", "log.jsonl", "checkpoint.pt"):
        if name == "checkpoint.pt" and not ALGORITHMS.get(algo).trains_weights:
            continue  # no epoch ran, so nothing was checkpointed
        assert (run.path / name).is_file(), name
    assert run.archprob.shape == (15_625,) and np.all(run.archprob >= 0)
    assert abs(run.archprob.sum() - 1.0) < 1e-6
    config = json.loads((run.path / "config.json").read_text())
    assert config["algo"] == algo and config["method_config"] is not None
    if ALGORITHMS.get(algo).trains_weights:
        assert len(run.log) == 1
        entry = run.log[0]
        assert 0.0 <= entry["train_acc"] <= 100.0 and math.isfinite(entry["train_loss"])
        assert 0.0 <= entry["valid_acc"] <= 100.0
        if algo in ("snas", "gdas"):
            assert entry["tau"] == pytest.approx(10.0)
        if algo == "darts-":
            assert entry["beta"] == 0.0  # decay schedule, E=1: the only epoch is the last one
        has_arch_loss = algo in ("darts", "darts-", "snas", "gdas", "drnas")
        assert (entry["arch_loss"] is not None) == has_arch_loss
    else:
        assert run.log == []
    net = run.load_supernet()
    assert net.aux_skip_beta == 0.0  # scoring networks never carry DARTS-'s auxiliary skip
    if "arch_weights" in run.provides:
        assert run.edge_probs is not None
        np.testing.assert_allclose(run.edge_probs["cell"].sum(1), 1.0, rtol=1e-9)


def test_untrained_supernet_is_the_seeded_init(tmp_path):
    state = _train("untrained", tmp_path, epochs=1).load_supernet().state_dict()
    torch.manual_seed(0)  # the engine seeds with spec.seed, then builds the supernet in the run's dtype
    init = build_supernet(SupernetConfig(C=SMOKE.C, N=SMOKE.N, num_classes=10), SMOKE.torch_dtype).state_dict()
    assert state.keys() == init.keys()
    for k in state:
        assert torch.equal(state[k], init[k]), k


@pytest.mark.parametrize("algo", ["darts", "gdas", "drnas"])
def test_resume_equals_uninterrupted(algo, tmp_path):
    full = _train(algo, tmp_path / "full", epochs=2)
    with pytest.raises(KeyboardInterrupt):
        _train(algo, tmp_path / "resumed", epochs=2, stop_after_epoch=0)
    resumed = _train(algo, tmp_path / "resumed", epochs=2)
    assert [e["epoch"] for e in resumed.log] == [0, 1]
    np.testing.assert_allclose(resumed.archprob, full.archprob, rtol=0, atol=1e-12)
    sa, sb = full.load_supernet().state_dict(), resumed.load_supernet().state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        torch.testing.assert_close(sb[k], sa[k], rtol=0, atol=1e-6, msg=k)
    for ea, eb in zip(full.log, resumed.log):
        assert ea["train_loss"] == pytest.approx(eb["train_loss"], abs=1e-6)
        assert ea["genotype"] == eb["genotype"]


# ------------------------------------------------------------------------------ damaged run files
@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """An unfinished rsps run (killed after its first epoch), copied fresh for each test."""
    root = tmp_path_factory.mktemp("interrupted")
    with pytest.raises(KeyboardInterrupt):
        _train("rsps", root, epochs=2, stop_after_epoch=0)
    (run_dir,) = root.iterdir()
    return run_dir


@pytest.mark.parametrize("content, msg", [
    ("payload", r"checkpoint.pt is not a readable checkpoint .*could run code"),
    ({}, r"checkpoint.pt lacks epoch, net"),
    ({"net": {}}, r"checkpoint.pt lacks epoch, opt"),
    (b"\x00" * 10, r"checkpoint.pt is not a readable checkpoint"),
    ("wrong-shapes", r"checkpoint.pt does not fit this run"),
])
def test_damaged_checkpoint_is_never_executed_and_named(interrupted, tmp_path, content, msg):
    """A planted pickle in checkpoint.pt does not run (weights_only load); a `{}` checkpoint or one of
    another run's shapes is one error naming the file and the fix (it was `error: net`)."""
    import shutil

    root = tmp_path / "runs"
    shutil.copytree(interrupted, root / interrupted.name)
    ckpt = root / interrupted.name / "checkpoint.pt"
    marker = tmp_path / "PWNED"
    if content == "payload":
        torch.save({"epoch": 0, "net": CodePayload(marker)}, ckpt)
    elif content == "wrong-shapes":
        ck = torch.load(ckpt, weights_only=True)
        ck["net"] = {k: torch.zeros(1) for k in ck["net"]}
        torch.save(ck, ckpt)
    elif isinstance(content, bytes):
        ckpt.write_bytes(content)
    else:
        torch.save(content, ckpt)
    with pytest.raises(CorruptFileError, match=msg) as info:
        _train("rsps", root, epochs=2)
    assert not marker.exists()
    assert "delete it to restart the run" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("name, damage", [
    ("arch.json", b"{garbage"),
    ("arch.json", b"[]"),
    ("archprob.npy", "truncate"),
    ("archprob.npy", "uniform-short"),
    ("config.json", b"\xff"),
    ("log.jsonl", b"{\n"),
    ("supernet.pt", "payload"),
])
def test_damaged_finished_run_names_the_file(tmp_path, name, damage):
    run = _train("untrained", tmp_path, epochs=1)
    path = run.path / name
    marker = tmp_path / "PWNED"
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:200])
    elif damage == "uniform-short":
        np.save(path, np.full(100, 0.01))
    elif damage == "payload":
        torch.save({"w": CodePayload(marker)}, path)
    else:
        path.write_bytes(damage)
    with pytest.raises(CorruptFileError) as info:
        SearchRun.load(run.path).load_supernet()
    msg = str(info.value)
    assert name in msg and str(run.path) in msg and "delete the run directory" in msg and "\n" not in msg
    assert not marker.exists()


def test_checkpoint_loads_weights_only(tmp_path, interrupted):
    """What resume needs is tensors and plain containers: it loads with weights_only=True."""
    ck = torch.load(interrupted / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert set(ck) == set(CHECKPOINT_KEYS)
