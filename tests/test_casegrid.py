"""The suite's reference rules (pure functions of suites/casegrid.py)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "suites"))
from casegrid import NUMERIC_ATOL, REFERENCE_SEEDS, build_reference, case_profile, stale_fields  # noqa: E402


class _Ev:  # the reference only reads the run's data description
    run = type("R", (), {"config": {"data": "d"}})()


def test_tolerance_is_numeric_and_seed_spread_is_information():
    per_seed = [{"a2_top3": 0.1, "selected_test_acc": 90.0 + 2 * i} for i in range(len(REFERENCE_SEEDS))]
    ref = build_reference("x-valid-cifar10", per_seed, _Ev(), case_profile("cifar10"))
    v = ref["values"]["selected_test_acc"]
    assert v["value"] == 90.0 and v["atol"] == NUMERIC_ATOL <= 1e-9
    assert v["seed_mean"] == pytest.approx(90.0 + len(REFERENCE_SEEDS) - 1)
    assert v["seed_std"] > 1.0 and v["seed_values"] == [d["selected_test_acc"] for d in per_seed]
    assert ref["values"]["a2_top3"]["seed_std"] == 0.0
    assert ref["command"] == 'pytest suites -k "[x-valid-cifar10]" --update-references'
    assert len(REFERENCE_SEEDS) >= 5


def test_other_information_seeds_are_recorded_with_their_command():
    ref = build_reference("x-valid-cifar100", [{"kendall": 0.25}], _Ev(), case_profile("cifar100"), seeds=(0,))
    assert ref["reference_seeds"] == [0] and ref["seed"] == 0
    assert ref["values"]["kendall"]["value"] == 0.25 and ref["values"]["kendall"]["seed_std"] == 0.0
    assert ref["command"] == 'pytest suites -k "[x-valid-cifar100]" --update-references --reference-seeds 0'
    with pytest.raises(ValueError, match="2 per-seed results for 1 seeds"):
        build_reference("x", [{"kendall": 0.1}, {"kendall": 0.2}], _Ev(), case_profile("cifar100"), seeds=(0,))


def test_references_record_a_float64_profile_and_detect_stale_ones():
    prof = case_profile("cifar10")
    assert prof["dtype"] == "float64"  # the reproducibility argument of casegrid.py rests on it
    ref = build_reference("x-valid-cifar10", [{"kendall": 0.1}], _Ev(), prof, seeds=(0,))
    assert stale_fields(ref, prof) == []
    assert stale_fields(ref, {**prof, "epochs": prof["epochs"] + 1}) == ["epochs"]
    assert stale_fields({"values": {}}, prof) == ["profile"]
    assert case_profile("cifar100")["train_size"] != prof["train_size"]


def test_space_case_ids_and_tolerances():
    from casegrid import case_id, reference_path  # noqa: PLC0415

    from supernetbench.gate import SCORE_RTOL, value_atol

    assert case_id("darts", "valid", "cifar10") == "darts-valid-cifar10"
    assert case_id("darts", "valid", "cifar10", "darts") == "darts-valid-cifar10:darts"
    assert reference_path("x:darts", "darts", Path("r")) == Path("r/darts/x:darts.json")
    assert value_atol("params", 3e6) == NUMERIC_ATOL  # a count: exact
    assert value_atol("score", 3.6e15) == pytest.approx(SCORE_RTOL * 3.6e15)  # synflow: relative
    assert value_atol("score", 0.5) == NUMERIC_ATOL
    assert case_profile("cifar10", "darts")["train_size"] < case_profile("cifar10")["train_size"]
    ref = build_reference("x:darts", [{"params": 1.0, "score": 1e15}], _Ev(), case_profile("cifar10", "darts"), seeds=(0,))
    assert ref["values"]["score"]["atol"] == pytest.approx(1e6) and "relative" in ref["tolerance_rule"]
