"""Stage 2 from the command line and the baseline supernets: ``select --run``, ``proxy``,
``reliance``, ``list``; clear one-line errors for bad input. Everything runs on a tiny override of
``smoke`` (C=2, 64 + 64 CIFAR-10 images, 1 epoch, 12 candidates); no full-space scoring."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from supernetbench.cli import main
from supernetbench.pipeline.baselines import RelianceResult, combined_table
from supernetbench.oneshot.train import RunSpec, cached_search_data
from supernetbench.harness.profiles import get_profile

TINY = ["C=2", "epochs=1", "train_size=64", "valid_size=64", "batch_size=32", "score_images=16",
        "score_batch_size=16", "valid_images=16", "jacob_batch=8", "perturb_valid_images=16", "num_samples=12"]
SET = [a for kv in TINY for a in ("--set", kv)]

pytestmark = pytest.mark.usefixtures("torch_single_thread")


@pytest.fixture(scope="module", autouse=True)
def _cifar10(gt):
    try:
        cached_search_data(RunSpec("rsps", "cifar10", profile=get_profile("smoke")).data_config())
    except (FileNotFoundError, OSError, RuntimeError) as e:
        pytest.skip(f"CIFAR-10 search data unavailable: {e}")


def _json(capsys, argv):
    assert main(argv) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def _error(capsys, argv, status: int = 2) -> str:
    assert main(argv) == status
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    return err


@pytest.fixture(scope="module")
def reliance(tmp_path_factory):
    """One seed of the four baselines with every selector (trains untrained + rsps-biased once)."""
    root = tmp_path_factory.mktemp("runs")
    argv = ["reliance", "--dataset", "cifar10", "--seeds", "0", "--profile", "smoke", *SET,
            "--runs-root", str(root), "--device", "cpu", "--json"]
    from contextlib import redirect_stdout
    import io

    buf = io.StringIO()
    with redirect_stdout(buf):
        assert main(argv) == 0
    return json.loads(buf.getvalue()), root


def test_reliance_json(reliance):
    out, _ = reliance
    assert out["r_u"] == "rsps-biased" and "P9" in out["r_u_meaning"]
    assert out["baselines"]["R_U"] == {"algo": "rsps-biased", "distribution": "uniform"}
    assert set(out["statistics"]) == {"valid", "synflow", "jacob_cov", "perturb"}
    for sel, stats in out["statistics"].items():
        assert set(stats) == {"N_I-N_U", "R_I-R_U", "R_U-N_U", "R_I-N_I"}
        acc = out["selected_test_acc"][sel]
        assert stats["R_U-N_U"]["mean"] == pytest.approx(acc["R_U"][0] - acc["N_U"][0])
    # perturb samples nothing: same supernet under R_I and R_U (P9), same untrained net under N_I and N_U
    assert out["statistics"]["perturb"]["R_I-R_U"]["mean"] == 0.0
    assert out["statistics"]["perturb"]["N_I-N_U"]["mean"] == 0.0
    assert out["runs"]["N_U"] == out["runs"]["N_I"] and out["runs"]["R_U"] == out["runs"]["R_I"]


def test_reliance_table_and_uniformly_trained_r_u(reliance, capsys):
    _, root = reliance
    argv = ["reliance", "--seeds", "0", "--profile", "smoke", *SET, "--runs-root", str(root), "--device", "cpu",
            "--selectors", "synflow", "--r-u", "rsps"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "uniformly trained RSPS supernet" in out and "| synflow |" in out and "R_I-R_U" in out


def test_select_run_matches_the_baseline_selection(reliance, capsys):
    out, _ = reliance
    run = out["runs"]["N_U"][0]
    got = _json(capsys, ["select", "--run", run, "--selector", "valid", "synflow", "--distribution", "uniform",
                         "--device", "cpu", "--json"])
    for sel in ("valid", "synflow"):
        assert got["selections"][sel]["test_acc"] == out["selected_test_acc"][sel]["N_U"][0]
        assert len(got["selections"][sel]["details"]["candidates"]) == 12
    assert set(got["seconds"]) == {"valid", "synflow"}


def test_proxy_sample_equals_the_selectors_scores(reliance, tmp_path, capsys):
    run = reliance[0]["runs"]["R_I"][0]
    info = _json(capsys, ["proxy", "--run", run, "--measure", "jacob_cov", "--out", str(tmp_path / "s.npy"),
                          "--device", "cpu", "--json"])
    sel = _json(capsys, ["select", "--run", run, "--selector", "jacob_cov", "--device", "cpu", "--json"])
    scores = np.load(tmp_path / "s.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "s.indices.npy"), sel["selections"]["jacob_cov"]["details"]["candidates"])
    np.testing.assert_allclose(scores, np.nan_to_num(sel["selections"]["jacob_cov"]["details"]["scores"],
                                                     nan=info.get("nan_filled_with", 0.0)))
    assert info["n"] == 12 and info["bn_mode"].startswith("batch")


def test_proxy_all_archs_resumes(reliance, tmp_path, capsys, monkeypatch):
    """The whole-space path (plumbing only: a stand-in measure keeps this test fast); a run killed
    after two saved chunks resumes with the classes it had not scored."""
    import supernetbench.selectors.synflow as S

    calls = []

    def fake(net, archs, image_size, **kw):
        if len(calls) == 2 and fail:
            raise RuntimeError("killed")
        calls.append(len(archs))
        return np.where(np.asarray(archs)[:, 0] == 0, np.nan, np.asarray(archs).sum(1).astype(float))

    monkeypatch.setattr(S, "synflow_scores", fake)
    monkeypatch.setenv("SUPERNETBENCH_CACHE", str(tmp_path / "cache"))
    argv = ["proxy", "--run", reliance[0]["runs"]["N_U"][0], "--measure", "synflow", "--candidates", "all",
            "--out", str(tmp_path / "all.npy"), "--device", "cpu", "--json"]
    fail = True
    assert "killed" in _error(capsys, argv, status=1) and calls == [256, 256]  # could not finish: 1
    fail, calls[:] = False, []
    info = _json(capsys, argv)
    assert sum(calls) == 9445 - 512  # one evaluation per functional class, the saved ones skipped
    scores = np.load(tmp_path / "all.npy")
    assert scores.shape == (15625,) and np.isfinite(scores).all()
    assert info["nan_count"] > 0 and scores.min() == info["nan_filled_with"] and -1 <= info["kendall"] <= 1


def test_list_shows_requirements_and_profiles(capsys):
    out = _json(capsys, ["list", "--json"])
    assert {"prune", "valid", "synflow", "jacob_cov", "perturb"} <= set(out["selectors"])
    assert out["selectors"]["prune"]["requires"] == ["arch_weights"]
    assert out["selectors"]["perturb"]["requires"] == [] and "perturb_epochs" in out["selectors"]["perturb"]["uses"]
    assert "Table 2" in out["profiles"]["reference"] and "corrected protocol" in out["profiles"]["paper"]
    assert set(out["candidate_distributions"]) == {"run", "uniform", "rank-linear"}


def test_bad_inputs_one_line(reliance, tmp_path, capsys):
    run = reliance[0]["runs"]["N_U"][0]
    assert "unknown Stage-2 selector 'best'" in _error(capsys, ["select", "--run", run, "--selector", "best"])
    assert "needs arch_weights" in _error(capsys, ["select", "--run", run, "--selector", "prune", "--device", "cpu"])
    assert "does not exist" in _error(capsys, ["select", "--run", str(tmp_path / "nope"), "--selector", "valid"])
    (tmp_path / "unfinished").mkdir()
    assert "no DONE marker" in _error(capsys, ["select", "--run", str(tmp_path / "unfinished"), "--selector", "valid"])
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in ("DONE", "config.json", "arch.json"):
        (broken / f).write_text(Path(run, f).read_text())
    assert "missing archprob.npy, log.jsonl, supernet.pt" in _error(
        capsys, ["proxy", "--run", str(broken), "--measure", "valid", "--out", str(tmp_path / "x.npy")])
    assert "unknown proxy measure 'perturb'" in _error(
        capsys, ["proxy", "--run", run, "--measure", "perturb", "--out", str(tmp_path / "x.npy")])
    assert "--selector" in _error(capsys, ["select", "--run", run])
    assert "unknown Stage-2 selector" in _error(capsys, ["reliance", "--selectors", "nope", "--profile", "smoke", *SET])
    assert "needs arch_weights" in _error(capsys, ["reliance", "--selectors", "prune", "--seeds", "0", "--profile",
                                                   "smoke", *SET, "--runs-root", str(reliance[1]), "--device", "cpu"])


def test_combined_table_by_hand():
    res = RelianceResult("cifar10", "smoke", [0], "rsps-biased", {
        "valid": {"N_U": [90.0], "N_I": [91.0], "R_U": [93.0], "R_I": [93.5]},
        "synflow": {"N_U": [90.0], "N_I": [90.0], "R_U": [90.5], "R_I": [94.0]}}, runs={})
    out = combined_table({"darts": (0.3, 0.1), "drnas": (0.2, 0.4)}, res,
                         {("darts", "valid"): 91.0, ("darts", "synflow"): 93.0,
                          ("drnas", "valid"): 94.0, ("drnas", "synflow"): 90.0})
    # synflow relies more on the distribution (3.5 vs 0.5), valid on the shared weights (3.0 vs 0.5)
    assert [(r["stage1"], r["stage2"], r["score"]) for r in out["ranking"]] == [
        ("darts", "synflow", 2.0), ("drnas", "valid", 2.0), ("darts", "valid", 8.0), ("drnas", "synflow", 8.0)]
    assert out["kendall_score_vs_observed"] == pytest.approx(4 / np.sqrt(24))  # tau_b: 4 concordant, 2 tied
    assert out["pool"] == ["darts", "drnas"] and out["pairing"] == "capability" and out["excluded"] == []


def test_combined_pool_excludes_the_baselines_and_pairings_differ():
    from supernetbench.pipeline.baselines import default_pool, resolve_pool
    from supernetbench.harness.reliance import PAIRINGS

    assert default_pool(["darts", "rsps", "blank", "drnas", "untrained", "rsps-biased", "gdas", "snas", "darts-"]) == [
        "darts", "drnas", "gdas", "snas", "darts-"]
    with pytest.raises(ValueError, match="--pool"):
        resolve_pool(["rsps", "untrained"])
    assert resolve_pool(["rsps", "untrained"], ["rsps"]) == ["rsps"]
    res = RelianceResult("cifar10", "smoke", [0], "rsps-biased", {
        "valid": {"N_U": [90.0], "N_I": [91.0], "R_U": [93.0], "R_I": [93.5]},
        "synflow": {"N_U": [90.0], "N_I": [94.0], "R_U": [90.5], "R_I": [94.0]}}, runs={})
    stage1 = {"darts": (0.3, 0.1), "drnas": (0.2, 0.4), "rsps": (0.9, 0.9)}
    base = combined_table(stage1, res)
    assert base["pool"] == ["darts", "drnas"] and base["excluded"] == ["rsps"]
    assert {r["stage1"] for r in base["ranking"]} == {"darts", "drnas"}
    # the baseline would take rank 1 on both Stage-1 measures and move the real methods' ranks
    assert combined_table(stage1, res, pool=list(stage1))["ranking"][0]["stage1"] == "rsps"
    seen = set()
    for name, (keys, _) in PAIRINGS.items():
        t = combined_table(stage1, res, pairing=name)
        assert t["stage2_keys"] == list(keys) and t["pairing"] == name
        seen.add(tuple((r["stage1"], r["stage2"], r["r_alpha2"], r["r_beta2"]) for r in t["ranking"]))
    assert len(seen) > 1  # the readings are different rankings on this table
    with pytest.raises(ValueError, match="pairing"):
        combined_table(stage1, res, pairing="nope")


def test_profile_stage2_fields():
    from supernetbench.algorithms import ALGORITHMS

    ref = get_profile("reference")
    assert ALGORITHMS.get("rsps-biased").stage1_profile(ref).epochs == 250
    assert ALGORITHMS.get("rsps").stage1_profile(ref).epochs == 100 == ref.epochs
    assert ALGORITHMS.get("rsps-biased").stage1_profile(get_profile("paper")).epochs == 100
    assert get_profile("paper").valid_images is None and get_profile("reference").valid_images is None
    assert get_profile("smoke").valid_images == get_profile("smoke").score_images
    for bad in ({"perturb_lr": 0.0}, {"valid_images": 0}, {"jacob_batch": 0}, {"perturb_epochs": -1}):
        with pytest.raises(ValueError, match=f"profile field {next(iter(bad))} must be"):
            get_profile("smoke", bad)
    assert get_profile("smoke", {"perturb_epochs": 0}).perturb_epochs == 0


def test_combined_pool_and_pairing_flags(capsys):
    from supernetbench.study import StudySpec

    assert "not evaluated" in _error(capsys, ["reliance", "--algos", "darts", "--pool", "drnas", *SET])
    assert "--pool" in _error(capsys, ["reliance", "--algos", "rsps", "untrained", *SET])
    with pytest.raises(SystemExit) as e:
        main(["reliance", "--pairing", "nope"])
    assert e.value.code == 2 and "invalid choice" in capsys.readouterr().err
    spec = StudySpec.from_mapping({"algos": ["darts", "rsps"], "pool": ["darts", "rsps"], "pairing": "literal"})
    assert spec.pool == ("darts", "rsps") and spec.pairing == "literal"
    assert spec.key() == StudySpec.from_mapping({"algos": ["darts", "rsps"]}).key()  # report-only keys
    for bad, msg in (({"pool": "darts"}, "list of method names"), ({"pool": ["nope"]}, "unknown pool method"),
                     ({"pairing": "nope"}, "unknown combined-score pairing")):
        with pytest.raises(ValueError, match=msg):
            StudySpec.from_mapping({"algos": ["darts"], **bad})


def test_report_pool_flags_fail_before_any_work(capsys, tmp_path):
    base = ["report", "--algos", "darts", "--seeds", "0", "--out", str(tmp_path / "r"), "--store", str(tmp_path / "s")]
    assert "needs --reliance" in _error(capsys, [*base, "--pool", "darts"])
    assert "needs --reliance" in _error(capsys, [*base, "--pairing", "literal"])
    assert "not evaluated" in _error(capsys, [*base, "--reliance", "--pool", "drnas"])
    assert "--pool" in _error(capsys, ["report", "--algos", "rsps", "--seeds", "0", "--reliance", "--out",
                                       str(tmp_path / "r"), "--store", str(tmp_path / "s")])
    assert not (tmp_path / "s").exists() and not (tmp_path / "r").exists()
