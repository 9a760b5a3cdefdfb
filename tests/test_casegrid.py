"""The suite's reference rules (pure functions of suites/casegrid.py)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "suites"))
from casegrid import build_reference, informative  # noqa: E402


def test_informative_threshold():
    assert informative("selected_test_acc", 20.0) and not informative("selected_test_acc", 50.0)
    assert informative("kendall", 0.3) and not informative("kendall", 1.0)


def test_tolerance_is_three_seed_stds_floored_at_resolution():
    class Ev:  # the reference only reads the run's data description
        run = type("R", (), {"config": {"data": "d"}})()

    ref = build_reference("x-valid-cifar10", [{"a2_top3": 0.1, "selected_test_acc": 90.0},
                                              {"a2_top3": 0.1, "selected_test_acc": 92.0},
                                              {"a2_top3": 0.1, "selected_test_acc": 94.0}], Ev())
    v = ref["values"]
    assert v["selected_test_acc"]["atol"] == pytest.approx(3 * 1.632993161855452)
    assert v["selected_test_acc"]["value"] == 90.0 and v["a2_top3"]["atol"] == 1e-6
    assert ref["command"] == 'pytest suites -k "[x-valid-cifar10]" --update-references'
