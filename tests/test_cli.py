"""The command line: inspection commands with --json, metrics on user arrays, clear errors."""
from __future__ import annotations

import json

import numpy as np
import pytest

from supernetbench.cli import main
from supernetbench.spaces.nb201.benchmark import BenchmarkTableError, load_ground_truth




def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_space_info_json(capsys):
    info = _json(capsys, ["space", "info", "--json"])
    assert info == {"archs": 15625, "isomorphism_classes": 6466, "functional_classes": 9445,
                    "functional_classes_running_bn": 12205, "zero_output_archs": 341}


def test_model_info_json(capsys):
    arch = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
    info = _json(capsys, ["model-info", "--arch", arch, "--dataset", "cifar10", "--json"])
    assert info["params"] == 559_386 and info["flops_m"] == pytest.approx(78.56193, abs=1e-4)


def test_model_info_malformed_arch(capsys):
    assert main(["model-info", "--arch", "|conv~0|+", "--json"]) == 2
    err = capsys.readouterr().err
    assert "malformed NB201 arch string" in err


def test_metrics_perfect_scores(gt, tmp_path, capsys):
    acc = gt.test_acc("cifar10")
    np.save(tmp_path / "s.npy", acc)
    out = _json(capsys, ["metrics", "--dataset", "cifar10", "--scores", str(tmp_path / "s.npy"), "--json",
                         "--plot", str(tmp_path / "c.png")])
    assert out["a1"] == [1.0] * 25
    assert out["a2"] == pytest.approx(out["baseline"])  # uniform probs without --probs
    assert out["kendall"] == pytest.approx(1.0) and (tmp_path / "c.png").stat().st_size > 0


def test_metrics_rank_linear_probs(gt, tmp_path, capsys):
    from supernetbench.harness.metrics import rank_linear_probs

    acc = gt.test_acc("cifar10")
    np.save(tmp_path / "s.npy", -acc)
    np.save(tmp_path / "p.npy", rank_linear_probs(acc))
    out = _json(capsys, ["metrics", "--scores", str(tmp_path / "s.npy"), "--probs", str(tmp_path / "p.npy"), "--json"])
    assert out["a1"][0] == 0.0 and out["kendall"] == pytest.approx(-1.0)
    assert out["a2"][0] > 1.5 * out["baseline"][0]


@pytest.mark.parametrize("bad, msg", [
    (np.zeros(10), "expected (15625,)"),
    (np.full(15625, np.nan), "finite"),
    (np.zeros((15625, 2)), "expected (15625,)"),
])
def test_metrics_bad_arrays(gt, tmp_path, bad, msg, capsys):
    np.save(tmp_path / "bad.npy", bad)
    assert main(["metrics", "--scores", str(tmp_path / "bad.npy")]) == 2  # an input error, like the others
    assert msg in capsys.readouterr().err


def test_unknown_algorithm_lists_choices(capsys):
    assert main(["train", "--algo", "enas", "--json"]) == 2
    err = capsys.readouterr().err
    assert "unknown Stage-1 method 'enas'" in err and "drnas" in err and "rsps-biased" in err


def test_incompatible_option_lists_valid(capsys):
    assert main(["train", "--algo", "rsps", "--opt", "order=2", "--json"]) == 2
    assert "do not apply to Stage-1 method 'rsps'" in capsys.readouterr().err


def test_unknown_profile_and_field(capsys):
    assert main(["train", "--algo", "darts", "--profile", "huge"]) == 2
    assert "valid choices: smoke, demo, signal, paper, reference" in capsys.readouterr().err
    assert main(["train", "--algo", "darts", "--set", "epochz=3"]) == 2
    assert "unknown profile field(s) epochz" in capsys.readouterr().err


def test_list(capsys):
    out = _json(capsys, ["list", "--json"])
    assert {"darts", "darts-", "snas", "gdas", "drnas", "rsps", "rsps-biased", "blank", "untrained"} <= set(out["algorithms"])
    assert {"prune", "valid"} <= set(out["selectors"])


def test_convert_requires_trust_flag(tmp_path, capsys):
    (tmp_path / "NATS-tss").mkdir()  # an existing source (a missing one is "not found": tests/test_probe.py)
    assert main(["nb201-convert", "--source", str(tmp_path / "NATS-tss"), "--out", str(tmp_path / "t.csv")]) == 2
    assert "--trust-pickle" in capsys.readouterr().err
    assert not (tmp_path / "t.csv").exists()


def test_sidecar_checksum_guards_converted_tables(gt, tmp_path):
    """A converted table is verified against its .sha256 sidecar; an edit is still detected."""
    import hashlib

    data = gt.path.read_bytes()
    table = tmp_path / "converted.csv"
    table.write_bytes(data)
    (tmp_path / "converted.csv.sha256").write_text(hashlib.sha256(data).hexdigest() + "\n")
    assert len(load_ground_truth(table)) == 15625
    altered = tmp_path / "altered.csv"
    altered.write_bytes(data.replace(b"94.36", b"94.37", 1))
    (tmp_path / "altered.csv.sha256").write_text(hashlib.sha256(data).hexdigest() + "\n")
    with pytest.raises(BenchmarkTableError, match="truncated or altered"):
        load_ground_truth(altered)


def test_train_json_and_resume_reuse(tmp_path, capsys, torch_single_thread):
    argv = ["train", "--algo", "gdas", "--dataset", "cifar10", "--set", "epochs=1", "--set", "train_size=128",
            "--set", "valid_size=64", "--runs-root", str(tmp_path), "--device", "cpu", "--json"]
    first = _json(capsys, argv)
    assert first["algo"] == "gdas" and first["epochs"] == 1 and "CIFAR-10" in first["data"]
    assert 0 <= first["final_train_acc"] <= 100
    assert _json(capsys, argv)["run_dir"] == first["run_dir"]  # same spec -> the finished run is reused
