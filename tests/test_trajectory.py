"""Ranking quality over training: the ``checkpoint_every`` profile field (invisible when unset), the
kept checkpoints, ``ranking_trajectory`` against the slow per-arch path, the ``trajectory`` command."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from supernetbench.cli import main
from supernetbench.harness import metrics as M
from supernetbench.oneshot.train import RunSpec, kept_checkpoints, run_dir_for, train_supernet
from supernetbench.harness.profiles import PROFILES, get_profile
from supernetbench.harness.store import content_hash, load_weights

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "suites"))

#: run keys and profile-dict hashes before the field existed (computed on the parent commit; ``reference``
#: after issue 15 gave it gt_split="papers" and jacob_bn="first-train", which move its keys deliberately)
BEFORE = {
    "smoke": ("rsps-cifar10-s0-smoke-57e26bda2bebca8d", "f6a27258ce798727"),
    "demo": ("rsps-cifar10-s0-demo-390f5904f97e2bd9", "72491e958deca04f"),
    "paper": ("rsps-cifar10-s0-paper-84bfec6d82f73799", "a268f147d8ffab49"),
    "reference": ("rsps-cifar10-s0-reference-a9f16b620c4e8408", "e4c168779cb5f7d4"),
}


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_unset_checkpoint_every_is_invisible(name):
    p = get_profile(name)
    assert p.checkpoint_every is None
    assert "checkpoint_every" not in p.to_dict() and "checkpoint_every" not in p.stage1_dict()
    spec = RunSpec("rsps", profile=p)  # the key before issue 19 added the code identity: the same hash without it
    assert f"rsps-cifar10-s0-{name}-{content_hash({**spec.to_dict(), 'profile': p.stage1_dict()}, '0.1.0')}" \
        == BEFORE[name][0]
    assert content_hash(p.to_dict()) == BEFORE[name][1]  # study / reliance / artifact keys hash to_dict()
    kept = p.replace(checkpoint_every=2)
    assert kept.to_dict()["checkpoint_every"] == 2
    assert run_dir_for(RunSpec("rsps", profile=kept)).name != run_dir_for(spec).name  # its runs keep checkpoints


def test_suite_references_are_not_stale():
    from casegrid import stale_fields

    refs = sorted((Path(__file__).resolve().parents[1] / "suites" / "reference").glob("*-cifar10.json"))
    assert refs
    for path in refs[:5]:
        assert stale_fields(json.loads(path.read_text()), PROFILES["smoke"].to_dict()) == []


def test_checkpoint_every_is_validated():
    with pytest.raises(ValueError, match="checkpoint_every"):
        get_profile("smoke", {"checkpoint_every": 0})


TINY = {"epochs": 2, "train_size": 32, "valid_size": 32, "score_images": 8, "score_batch_size": 8,
        "checkpoint_every": 1, "batch_size": 16}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return train_supernet(RunSpec("rsps", profile=get_profile("smoke", TINY)), runs_root=root, device="cpu",
                          progress=False)


def test_kept_checkpoints_and_trajectory_match_per_arch_scoring(tiny_run):
    from supernetbench.spaces.nb201.benchmark import load_ground_truth
    from supernetbench.oneshot.train import cached_search_data
    from supernetbench.oneshot.scoring import ScoreConfig, make_scoring_data, score_archs
    from supernetbench.pipeline.trajectory import ranking_trajectory, trajectory_sample

    ck = kept_checkpoints(tiny_run.path)
    assert sorted(ck) == [0, 1, 2]
    final = load_weights(tiny_run.path / "supernet.pt")
    assert all(np.array_equal(v, final[k]) for k, v in load_weights(ck[2]).items())  # last kept = the result
    traj = ranking_trajectory(tiny_run.path, archs=60, device="cpu", workers=1)
    assert [p["epoch"] for p in traj["points"]] == [0, 1, 2] and traj["archs"] == 60
    gt = load_ground_truth()
    idx = trajectory_sample(len(gt), 60)
    p = tiny_run.profile
    sd = make_scoring_data(cached_search_data(RunSpec("rsps", profile=p).data_config()), ScoreConfig.from_profile(p),
                           "cpu", p.torch_dtype)
    slow = score_archs(tiny_run.load_supernet("cpu"), gt.archs[idx], sd, ScoreConfig.from_profile(p))
    acc = gt.test_acc("cifar10")[idx]
    last = traj["points"][-1]
    assert last["kendall"] == M.kendall_tau(acc, slow) or (np.isnan(last["kendall"]) and np.isnan(M.kendall_tau(acc, slow)))
    assert last["a1_level0"] == float(M.top_id_rate(acc, slow, 60 // 25)[0])
    assert "tau_within_size" in last["diagnostics"]
    again = ranking_trajectory(tiny_run.path, archs=60, epochs=[2], device="cpu", workers=1)  # cached
    assert again["points"][0]["kendall"] == last["kendall"] or np.isnan(last["kendall"])


def test_trajectory_command(tiny_run, tmp_path, capsys):
    out = tmp_path / "traj.png"
    assert main(["trajectory", "--run", str(tiny_run.path), "--archs", "60", "--epochs", "0", "2", "--workers", "1",
                 "--device", "cpu", "--plot", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [p["epoch"] for p in data["points"]] == [0, 2] and out.stat().st_size > 0
    assert main(["trajectory", "--run", str(tiny_run.path), "--epochs", "5", "--device", "cpu"]) == 2
    assert "kept no checkpoint for epoch(s) 5" in capsys.readouterr().err


def test_trajectory_without_checkpoints_is_one_clear_error(tmp_path, capsys):
    (tmp_path / "config.json").write_text("{}")
    assert main(["trajectory", "--run", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "checkpoint_every" in err


def test_report_draws_trajectories_of_runs_with_kept_checkpoints(tiny_run, tmp_path, monkeypatch):
    from types import SimpleNamespace

    from supernetbench.report import diagnostics_section as DS
    from supernetbench.report.diagnostic_figures import plot_trajectory

    monkeypatch.setattr(DS, "TRAJECTORY_ARCHS", 60)
    inputs = SimpleNamespace(evaluations={"rsps": [SimpleNamespace(run=tiny_run)]})
    trajs = DS._trajectories(inputs)
    assert len(trajs) == 1 and [p["epoch"] for p in trajs[0]["points"]] == [0, 1, 2]
    assert plot_trajectory(trajs, tmp_path / "t.png")[0].stat().st_size > 0
