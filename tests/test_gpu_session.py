"""``benchmarks/gpu_session.py`` end to end at ``--tiny`` size on CPU, so that the one-shot GPU run
cannot fail on a typo: the device pack it reads, the report's structure and sane values, bad input."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from benchmarks import gpu_session as G
from supernetbench.harness.data.cifar import PACKS, decode_cifar10_pack
from supernetbench.harness.data.common import candidate_roots


def _real_pack():
    for root, _ in candidate_roots():
        if (root / PACKS["cifar10"][0]).is_file():
            return root / PACKS["cifar10"][0]
    pytest.skip("the CIFAR-10 JPEG pack is not available (../shared/data or SUPERNETBENCH_DATA)")


@pytest.fixture(scope="module")
def device_data(tmp_path_factory):
    real = _real_pack()
    dest = tmp_path_factory.mktemp("device-data")
    pack = G.make_device_data(dest, real.parent.parent, rows=128, exact_valid=16)
    return real, dest, pack


def test_device_pack_holds_the_protocol_split_rows(device_data):
    """First rows of each half, the pack's own pixels: lossless where kept (the first scoring images),
    the JPEG decode elsewhere; the ground-truth table copied unchanged (its sha256 is checked on load)."""
    from supernetbench.spaces.nb201.benchmark import FILENAME, load_ground_truth

    real, dest, pack = device_data
    data = G.load_data(pack, 100)
    assert len(data.train_y) == len(data.valid_y) == 100
    tx, ty = decode_cifar10_pack(real, "train", np.arange(100), exact=False, verify=False, progress=False)
    vx_exact, vy = decode_cifar10_pack(real, "train", G.HALF + np.arange(16), exact=True, verify=False, progress=False)
    vx_jpeg, _ = decode_cifar10_pack(real, "train", G.HALF + np.arange(16, 100), exact=False, verify=False,
                                     progress=False)
    np.testing.assert_array_equal(data.train_x.numpy(), tx)
    np.testing.assert_array_equal(data.train_y.numpy(), ty)
    np.testing.assert_array_equal(data.valid_x[:16].numpy(), vx_exact)
    np.testing.assert_array_equal(data.valid_x[16:].numpy(), vx_jpeg)
    np.testing.assert_array_equal(data.valid_y[:16].numpy(), vy)
    assert len(load_ground_truth(dest / "nb201" / FILENAME).archs) == 15_625
    with pytest.raises(ValueError, match="rebuild it with --make-device-data"):
        G.load_data(pack, 129)


def test_tiny_session_writes_a_sane_report(device_data, tmp_path, capsys):
    _, _, pack = device_data
    out = tmp_path / "out"
    # a generous total budget: every part keeps its own (tiny) box, so a loaded CI machine still
    # reaches every part and each scoring scores at least its first block
    rc = G.main(["--tiny", "--device", "cpu", "--out", str(out), "--pack", str(pack), "--budget", "600"])
    rep = json.loads((out / "report.json").read_text())
    assert rc == 0, rep
    assert set(rep["parts"]) == {"tests", "setup", "ceilings", "engine", "signal"}
    assert all(p["status"] in ("ok", "cut") and p["seconds"] >= 0 for p in rep["parts"].values()), rep["parts"]
    assert rep["config"]["C"] == 4 and rep["args"]["tiny"] is True and rep["elapsed_s"] > 0
    tests = rep["parts"]["tests"]  # no CUDA here: all skipped (0) or deselected (5); a loaded machine may cut it
    assert (out / "pytest-gpu.log").is_file() and "-m gpu" in tests["command"]
    assert tests["returncode"] in (0, 5) or (tests["status"] == "cut" and tests["returncode"] is None)
    ce = rep["parts"]["ceilings"]
    assert ce["copy_bytes_per_s"] > 0 and ce["fp32_flops"] > 0

    rows = rep["parts"]["engine"]["rows"]
    assert {r["engine"] for r in rows} >= {"naive", "batched"}
    for r in rows:
        assert r["seconds"] > 0 and r["s_per_class"] > 0 and r["archs_per_s"] > 0 and r["full_space_s"] > 0
        assert r["compute_floor_s"] > 0 and r["memory_floor_s"] > 0 and r["x_floor"] > 0
        if r["engine"] != "naive":  # exact: the per-arch path's counts (float32 here: allow one image for
            # a last-bit argmax tie; tests/test_batched.py proves equality in float64)
            assert r["archs_covered"] >= r["classes"] >= 1 and r["speedup_vs_naive_full_space"] > 0
            assert r["counts_differing_from_naive"] <= 1 and r["max_abs_diff_vs_naive_pp"] <= 100 / 16

    sig = rep["parts"]["signal"]
    assert sig["epochs_planned"] == 2  # the --tiny budget
    assert sig["epochs_reached"] >= 1  # at least one epoch trained ...
    assert sig["epochs_reached"] <= sig["epochs_planned"]  # ... and never more than planned
    assert len(sig["train_log"]) == sig["epochs_reached"] and sig["train_log"][0]["train_loss"] > 0
    for name in ("trained", "untrained"):
        assert sig[name]["classes_total"] == 9445  # NB201's functional classes under batch-statistics BN
        assert sig[name]["classes_scored"] >= 1
        assert sig[name]["classes_scored"] <= sig[name]["classes_total"]
        m = sig[name]["metrics"]
        assert m["archs"] >= sig[name]["classes_scored"] and m["complete"] is (m["archs"] == 15_625)
        assert all(math.isnan(m[k]) or -1 <= m[k] <= 1 for k in ("kendall", "spearman"))
        assert 0 <= m["precision_top5pct"] <= 1 and 1 <= len(m["a1"]) <= 5
        assert all(0 <= v <= 1 for v in m["a1"] + m["a1_random"] if not math.isnan(v))
    assert sig["paired"]["trained"]["archs"] == sig["paired"]["untrained"]["archs"]
    assert isinstance(sig["kendall_trained_above_untrained"], bool)

    md = (out / "report.md").read_text()
    for heading in ("# GPU session", "## CUDA tests", "## Device ceilings", "## Engine table", "## Signal run",
                    "Stage-1 metrics on the classes both scored"):
        assert heading in md
    assert "parts tests" in capsys.readouterr().out


def test_bad_input_is_one_error_line(tmp_path, capsys):
    assert G.main(["--tiny"]) == 2
    assert capsys.readouterr().err.startswith("error: --out DIR is required")
    assert G.main(["--out", str(tmp_path), "--budget", "-1"]) == 2
    assert "--budget must be > 0" in capsys.readouterr().err
    assert G.main(["--make-device-data", str(tmp_path), "--rows", "0"]) == 2
    assert "rows must lie in" in capsys.readouterr().err
