"""Reliance statistics tables and the combined S1 x S2 score (``supernetbench.harness.reliance``):
known answers computed by hand, and hypothesis properties (an exact identity between the four
statistics, invariance to shifts and to strictly increasing transforms, rank bounds)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supernetbench.harness import reliance as R
from supernetbench.harness.metrics import MeanStd

PROPERTY_SETTINGS = settings(max_examples=60, deadline=None)
ATOL = 1e-9

accs = st.floats(0.0, 100.0, allow_nan=False, allow_infinity=False)


@st.composite
def selected_accs(draw: st.DrawFn) -> dict[str, np.ndarray]:
    n = draw(st.integers(1, 5))
    return {b: np.array(draw(st.lists(accs, min_size=n, max_size=n))) for b in R.BASELINES}


# ------------------------------------------------------------------------------------- reliance
def test_reliance_table_by_hand():
    selected = {"valid": {"N_U": [90.0, 92.0], "N_I": [91.0, 94.0], "R_U": [93.0, 92.0], "R_I": [95.0, 92.0]},
                "perturb": {"N_U": [80.0, 80.0], "N_I": [80.0, 80.0], "R_U": [85.0, 87.0], "R_I": [85.0, 87.0]}}
    t = R.reliance_table(selected)
    assert t["valid"]["N_I-N_U"] == MeanStd(1.5, 0.5)
    assert t["valid"]["R_I-R_U"] == MeanStd(1.0, 1.0)
    assert t["valid"]["R_U-N_U"] == MeanStd(1.5, 1.5)
    assert t["valid"]["R_I-N_I"] == MeanStd(1.0, 3.0)
    assert t["perturb"]["R_I-R_U"] == MeanStd(0.0, 0.0) and t["perturb"]["R_U-N_U"] == MeanStd(6.0, 1.0)
    d = R.reliance_differences(selected["valid"])
    assert d["R_I-N_I"].tolist() == [4.0, -2.0]


def test_reliance_rejects_missing_baseline():
    with pytest.raises(ValueError, match="exactly the keys"):
        R.reliance_table({"valid": {"N_U": [1.0], "N_I": [1.0], "R_U": [1.0]}})


@PROPERTY_SETTINGS
@given(selected_accs())
def test_reliance_identity(sel):
    """Per seed R_I-N_I = (R_I-R_U) + (R_U-N_U) + (N_U-N_I), hence for the means too."""
    d = R.reliance_differences(sel)
    np.testing.assert_allclose(d["R_I-N_I"], d["R_I-R_U"] + d["R_U-N_U"] - d["N_I-N_U"], atol=ATOL)
    t = R.reliance_table({"s": sel})["s"]
    assert t["R_I-N_I"].mean == pytest.approx(t["R_I-R_U"].mean + t["R_U-N_U"].mean - t["N_I-N_U"].mean, abs=ATOL)
    assert all(v.std >= 0 for v in t.values())


@PROPERTY_SETTINGS
@given(selected_accs(), st.floats(-50, 50))
def test_reliance_invariant_to_a_common_shift(sel, c):
    """Adding the same per-seed constant to every baseline changes no statistic."""
    a = R.reliance_table({"s": sel})["s"]
    b = R.reliance_table({"s": {k: v + c for k, v in sel.items()}})["s"]
    for k in a:
        assert a[k].mean == pytest.approx(b[k].mean, abs=1e-6) and a[k].std == pytest.approx(b[k].std, abs=1e-6)


# ----------------------------------------------------------------------------------------- ranks
def test_competition_ranks_by_hand():
    assert R.competition_ranks([0.3, 0.9, 0.3, 0.1]).tolist() == [2, 1, 2, 4]
    assert R.competition_ranks([0.3, 0.9, 0.3, 0.1], higher_is_better=False).tolist() == [2, 4, 2, 1]
    assert R.competition_ranks([5.0]).tolist() == [1]


@PROPERTY_SETTINGS
@given(st.lists(st.integers(-20, 20), min_size=1, max_size=12))
def test_competition_ranks_properties(values):
    v = np.array(values, dtype=float)
    r = R.competition_ranks(v)
    assert r.min() == 1 and r.max() <= len(v)
    assert (r[v == v.max()] == 1).all()
    np.testing.assert_array_equal(r, R.competition_ranks(np.exp(v / 10) + 3))  # strictly increasing transform
    for i in range(len(v)):  # rank = 1 + number of strictly better values
        assert r[i] == 1 + (v > v[i]).sum()


# -------------------------------------------------------------------------------- combined score
def test_combined_ranking_by_hand():
    stage1 = {"darts": (0.30, 0.10), "drnas": (0.20, 0.40), "snas": (0.10, 0.30)}
    stage2 = {"valid": (2.0, 5.0), "synflow": (4.0, 1.0)}
    # ranks: darts a1=1 b1=3, drnas a1=2 b1=1, snas a1=3 b1=2; valid a2=2 b2=1, synflow a2=1 b2=2
    want = {
        ("darts", "valid"): 1 * 2 * 3 * 3, ("darts", "synflow"): 1 * 1 * 3 * 2,
        ("drnas", "valid"): 2 * 1 * 1 * 1, ("drnas", "synflow"): 2 * 2 * 1 * 2,
        ("snas", "valid"): 3 * 2 * 2 * 2, ("snas", "synflow"): 3 * 3 * 2 * 1,
    }
    got = R.combined_ranking(stage1, stage2)
    assert {(p.stage1, p.stage2): p.score for p in got} == want
    assert [(p.stage1, p.stage2) for p in got][:2] == [("drnas", "valid"), ("darts", "synflow")]
    assert [p.score for p in got] == sorted(want.values())
    best = got[0]
    assert (best.r_alpha1, best.r_alpha2, best.r_beta1, best.r_beta2) == (2, 2, 1, 1)


def test_combined_ranking_one_strong_measure_beats_mediocre():
    """The paper's stated intent: a pair that succeeds at one measure outranks one mediocre at both."""
    stage1 = {"strong-sampling": (1.0, 0.0), "mediocre": (0.5, 0.5), "strong-weights": (0.0, 1.0)}
    stage2 = {"s": (1.0, 1.0)}
    order = [p.stage1 for p in R.combined_ranking(stage1, stage2)]
    assert order.index("mediocre") == 2


def test_stage_inputs():
    m = [{"a1": [0.1, 0.2, 0.3, 0.9], "a2": [0.2, 0.4, 0.6, 1.0]}, {"a1": [0.3, 0.4, 0.5, 1], "a2": [0, 0, 0, 1]}]
    assert R.stage1_inputs(m) == pytest.approx((0.2, 0.3))
    table = {"valid": {"R_I-R_U": MeanStd(1.0, 0.1), "R_U-N_U": MeanStd(2.0, 0.2), "N_I-N_U": MeanStd(0, 0),
                       "R_I-N_I": MeanStd(3, 0)}}
    assert R.stage2_inputs(table) == {"valid": (1.0, 2.0)}
    assert R.stage2_inputs(table, ("R_U-N_U", "R_I-N_I")) == {"valid": (2.0, 3.0)}
    with pytest.raises(ValueError, match="unknown reliance statistic"):
        R.stage2_inputs(table, ("R_I-R_U", "R_X"))
    with pytest.raises(ValueError, match="at least one"):
        R.stage1_inputs([])
    with pytest.raises(ValueError, match="at least one"):
        R.combined_ranking({}, {"s": (1.0, 1.0)})


pairs = st.tuples(st.integers(0, 6), st.integers(0, 6))


@PROPERTY_SETTINGS
@given(st.lists(pairs, min_size=1, max_size=6), st.lists(pairs, min_size=1, max_size=5))
def test_combined_ranking_properties(s1, s2):
    stage1 = {f"m{i}": tuple(map(float, v)) for i, v in enumerate(s1)}
    stage2 = {f"s{j}": tuple(map(float, v)) for j, v in enumerate(s2)}
    got = R.combined_ranking(stage1, stage2)
    assert len(got) == len(s1) * len(s2) and len({(p.stage1, p.stage2) for p in got}) == len(got)
    scores = [p.score for p in got]
    assert scores == sorted(scores) and min(scores) >= 1
    for p in got:
        assert p.score == p.r_alpha1 * (abs(p.r_alpha1 - p.r_alpha2) + 1) * p.r_beta1 * (abs(p.r_beta1 - p.r_beta2) + 1)
    # only the order of each input matters: a strictly increasing transform changes nothing
    t1 = {k: (np.exp(a), 2 * b + 1) for k, (a, b) in stage1.items()}
    t2 = {k: (a ** 3, np.tanh(b)) for k, (a, b) in stage2.items()}
    assert [(p.stage1, p.stage2, p.score) for p in R.combined_ranking(t1, t2)] == [
        (p.stage1, p.stage2, p.score) for p in got]
