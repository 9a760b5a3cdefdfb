"""The NB201 search space: arch strings, NB201's isomorphism classes, shared-weight functional classes.

Oracles:

* the ground-truth table (``shared/data/nb201``): its ``ArchitectureString`` and ``UniqueString``
  columns (skipped with a reason when the table is absent);
* the counts published with NB201 (6,466 isomorphism classes) and those derived in the protocol
  (9,445 functional classes with zero propagation, 12,205 without, 341 zero-output archs);
* independent re-implementations written out below: graph reachability for "zero output", and a
  symbolic evaluation of the cell (per-edge op names, so shared weights are told apart) for the
  functional classes.

Functional vs isomorphism classes (checked, not assumed): with running-statistics BN
(``zero_propagates=False``) every functional class lies inside one NB201 isomorphism class. With
zero propagation it does NOT: 85 functional classes span several ``UniqueString`` values, because
NB201 keeps ``(#+#)@op`` and ``#`` terms in its strings instead of simplifying zero nodes away.
Once zero terms are simplified (``_zero_simplified_iso`` below) the refinement holds again.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from supernetbench.spaces.nb201.space import ArchStringError, NB201Space
from supernetbench.spaces import get_space

SPACE = NB201Space()
NONE, SKIP, C1, C3, POOL = range(5)
ALL = SPACE.all_archs()
ALL_TUPLES = [tuple(int(v) for v in a) for a in ALL]

BEST_C100 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
# node 2 has only `none` inputs and node 3 reads only node 2: output identically zero (batch BN)
ZERO_OUT = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|nor_conv_3x3~2|"




# ------------------------------------------------------------------------------ independent oracles
def _reaches_output(arch) -> bool:
    """Depth-first search from node 0 over non-``none`` edges: is node 3 reachable?"""
    succ = defaultdict(list)
    for e, (to, frm) in enumerate(SPACE.EDGES):
        if arch[e] != NONE:
            succ[frm].append(to)
    stack, seen = [0], {0}
    while stack:
        n = stack.pop()
        for m in succ[n]:
            if m not in seen:
                seen.add(m)
                stack.append(m)
    return 3 in seen


def _expression(arch, zero_propagates: bool) -> str:
    """Symbolic cell output. Ops carry their edge index (weights are per edge, shared by all archs);
    sums keep edge order (float addition is not associative). ``0`` is the exact zero tensor:
    ``none`` contributes nothing, ``skip`` and ``avg_pool`` map 0 to 0 in every BN mode, a
    ReLU-Conv-BN maps 0 to 0 only with batch/recalibrated statistics (``zero_propagates``)."""
    nodes = ["x"]
    for i in range(1, 4):
        terms = []
        for e, (to, frm) in enumerate(SPACE.EDGES):
            if to != i or arch[e] == NONE:
                continue
            h = nodes[frm]
            if arch[e] == SKIP:
                t = h
            elif h == "0" and (zero_propagates or arch[e] == POOL):
                t = "0"
            else:
                t = f"{SPACE.ops[arch[e]]}@e{e}({h})"
            if t != "0":
                terms.append(t)
        nodes.append("+".join(terms) if terms else "0")
    return nodes[-1]


def _zero_simplified_iso(arch) -> str:
    """NB201's ``UniqueString`` recipe, but an all-zero node is ``#`` and zero terms are dropped."""
    strs = ["0"]
    for i in range(1, 4):
        terms = []
        for e, (to, frm) in enumerate(SPACE.EDGES):
            if to != i or arch[e] == NONE or strs[frm] == "#":
                continue
            terms.append(strs[frm] if arch[e] == SKIP else f"({strs[frm]})@{SPACE.ops[arch[e]]}")
        strs.append("+".join(sorted(terms)) if terms else "#")
    return strs[-1]


def _partition_refines(fine_labels, coarse_keys) -> list:
    """Classes of ``fine_labels`` whose members have more than one ``coarse_keys`` value."""
    groups = defaultdict(set)
    for f, c in zip(fine_labels, coarse_keys):
        groups[f].add(c)
    return [f for f, cs in groups.items() if len(cs) > 1]


# ------------------------------------------------------------------------------------------ strings
def test_format_parse_round_trip_without_table():
    for a in ALL_TUPLES:
        assert SPACE.parse(SPACE.format(a)) == a
    assert len({SPACE.format(a) for a in ALL_TUPLES}) == 15_625


def test_table_strings_round_trip(gt):
    codes = SPACE.encode(np.array([SPACE.parse(s) for s in gt.strings]))
    np.testing.assert_array_equal(np.sort(codes), np.arange(15_625))  # every arch exactly once
    for s, a in zip(gt.strings, gt.archs):
        assert SPACE.format(tuple(int(v) for v in a)) == s


@pytest.mark.parametrize(
    "bad, fragment",
    [
        pytest.param("|none~0|+|none~0|none~1|", "expected 3 '+'-separated nodes", id="two-nodes"),
        pytest.param(ALL_NONE + "+|none~0|", "expected 3 '+'-separated nodes", id="four-nodes"),
        pytest.param("", "expected 3 '+'-separated nodes", id="empty"),
        pytest.param("|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op 'conv_5x5'", id="unknown-op"),
        pytest.param("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "should be 'op~0'", id="input-index-1-for-0"),
        pytest.param("|none~0|+|none~0|none~2|+|none~0|none~1|none~2|", "should be 'op~1'", id="input-index-swapped"),
        pytest.param("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2 needs 2 inputs, got 1", id="node-too-few-inputs"),
        pytest.param("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|none~3|", "node 3 needs 3 inputs, got 4",
                     id="node-too-many-inputs"),
        pytest.param("none~0+|none~0|none~1|+|none~0|none~1|none~2|", "node 1 must be '|...|'", id="missing-bars"),
        pytest.param("|none0|+|none~0|none~1|+|none~0|none~1|none~2|", "token 'none0'", id="missing-tilde"),
    ],
)
def test_malformed_strings_raise_with_reason(bad, fragment):
    with pytest.raises(ArchStringError) as ei:
        SPACE.parse(bad)
    assert fragment in str(ei.value)
    assert isinstance(ei.value, ValueError)  # callers may catch ValueError


@pytest.mark.parametrize("bad, typename", [(123, "int"), (None, "NoneType"), (ALL_NONE.encode(), "bytes"),
                                           ((0,) * 6, "tuple")])
def test_non_string_raises(bad, typename):
    with pytest.raises(ArchStringError, match=f"must be str, got {typename}"):
        SPACE.parse(bad)


@pytest.mark.parametrize("bad", [(0,) * 5, (0,) * 7, (0, 0, 0, 0, 0, 5), (-1, 0, 0, 0, 0, 0)])
def test_invalid_tuples_raise(bad):
    with pytest.raises(ArchStringError, match="6 op indices in 0..4"):
        SPACE.format(bad)


def test_get_space_unknown_lists_choices():
    assert isinstance(get_space("nb201"), NB201Space)
    with pytest.raises(ValueError, match="valid choices: nb201, darts, darts-s1"):
        get_space("nas-bench-301")


# ------------------------------------------------------------------------------ isomorphism classes
def test_iso_string_matches_table_unique_string(gt):
    mismatches = [(s, u) for a, s, u in zip(gt.archs, gt.strings, gt.unique_strings)
                  if SPACE.iso_string(tuple(int(v) for v in a)) != u]
    assert not mismatches, f"{len(mismatches)} rows differ, e.g. {mismatches[:3]}"
    assert len(set(gt.unique_strings)) == 6_466


def test_iso_class_count_without_table():
    assert len({SPACE.iso_string(a) for a in ALL_TUPLES}) == 6_466


# ------------------------------------------------------------------------------- functional classes
@pytest.mark.parametrize("zero_propagates, n_classes", [(True, 9_445), (False, 12_205)],
                         ids=["zero-propagates", "running-bn"])
def test_functional_class_counts(zero_propagates, n_classes):
    labels, reps = SPACE.functional_classes(ALL, zero_propagates)
    assert len(reps) == n_classes
    assert labels.shape == (15_625,) and set(labels.tolist()) == set(range(n_classes))
    # each representative is its own key and labels agree with keys
    keys = [SPACE.functional_key(a, zero_propagates) for a in ALL_TUPLES]
    for a, lab, k in zip(ALL_TUPLES, labels, keys):
        assert tuple(int(v) for v in reps[lab]) == k


def test_info_counts():
    assert SPACE.info() == {
        "archs": 15_625,
        "isomorphism_classes": 6_466,
        "functional_classes": 9_445,
        "functional_classes_running_bn": 12_205,
        "zero_output_archs": 341,
    }


def test_zero_output_matches_reachability():
    got = np.array([SPACE.is_zero_output(a) for a in ALL_TUPLES])
    want = np.array([not _reaches_output(a) for a in ALL_TUPLES])
    np.testing.assert_array_equal(got, want)
    assert got.sum() == 341
    assert SPACE.is_zero_output(SPACE.parse(ZERO_OUT)) and SPACE.is_zero_output(SPACE.parse(ALL_NONE))
    assert not SPACE.is_zero_output(SPACE.parse(BEST_C100))


def test_zero_output_archs_form_one_class():
    labels, reps = SPACE.functional_classes(ALL, zero_propagates=True)
    zero = np.array([SPACE.is_zero_output(a) for a in ALL_TUPLES])
    assert len(set(labels[zero].tolist())) == 1
    assert tuple(reps[labels[zero][0]]) == (NONE,) * 6
    assert not np.any(labels[~zero] == labels[zero][0])  # and nothing else is in that class
    # with running BN a conv on a zero input is a nonzero constant: those archs split up
    labels_r, _ = SPACE.functional_classes(ALL, zero_propagates=False)
    assert len(set(labels_r[zero].tolist())) > 1


@pytest.mark.parametrize("zero_propagates", [True, False], ids=["zero-propagates", "running-bn"])
def test_functional_key_idempotent_and_sound(zero_propagates):
    """key(key(a)) == key(a), and archs with one key compute one symbolic function (soundness).

    The key is not complete (e.g. a ``skip`` chain 0->1->3 and a direct ``skip`` 0->3 compute the
    same function but keep different keys), so only this direction is asserted; the counts above
    pin the rest.
    """
    exprs: dict[tuple, str] = {}
    for a in ALL_TUPLES:
        k = SPACE.functional_key(a, zero_propagates)
        assert SPACE.functional_key(k, zero_propagates) == k
        e = _expression(a, zero_propagates)
        assert exprs.setdefault(k, e) == e, f"{SPACE.format(a)} shares key {k} but computes {e} != {exprs[k]}"
    assert _expression(SPACE.parse(ZERO_OUT), True) == "0"
    assert _expression(SPACE.parse(ZERO_OUT), False) != "0"


def test_running_bn_key_is_stricter_than_zero_propagation():
    """Two archs with one running-BN key share the zero-propagation key (never the reverse check)."""
    zp: dict[tuple, tuple] = {}
    for a in ALL_TUPLES:
        kr = SPACE.functional_key(a, zero_propagates=False)
        kz = SPACE.functional_key(a, zero_propagates=True)
        assert zp.setdefault(kr, kz) == kz


def test_functional_vs_isomorphism_classes(gt):
    """Running-BN functional classes refine NB201's isomorphism classes; zero-propagation classes
    do not (NB201 keeps zero terms), but they refine the zero-simplified isomorphism classes."""
    iso = gt.unique_strings
    labels_r, _ = SPACE.functional_classes(gt.archs, zero_propagates=False)
    assert _partition_refines(labels_r, iso) == []

    labels_z, _ = SPACE.functional_classes(gt.archs, zero_propagates=True)
    spanning = _partition_refines(labels_z, iso)
    assert len(spanning) == 85
    i = gt.index_of(ZERO_OUT)
    j = gt.index_of(ALL_NONE)
    assert labels_z[i] == labels_z[j] and iso[i] != iso[j]  # a concrete counterexample
    simplified = [_zero_simplified_iso(tuple(int(v) for v in a)) for a in gt.archs]
    assert _partition_refines(labels_z, simplified) == []
    # iso equivalence does not imply functional equivalence (weights are per edge)
    assert len(set(iso)) < len(set(labels_z.tolist()))


# ----------------------------------------------------------------------------- probabilities, sampling
@st.composite
def edge_distributions(draw: st.DrawFn) -> np.ndarray:
    """Positive (6, 5) matrices, each row normalised to sum to 1."""
    m = draw(hnp.arrays(np.float64, (6, 5), elements=st.floats(1e-3, 1.0, allow_nan=False)))
    return m / m.sum(axis=1, keepdims=True)


@settings(max_examples=40, deadline=None)
@given(p=edge_distributions())
def test_arch_probs_sum_to_one(p):
    probs = SPACE.arch_probs(ALL, {"cell": p})
    assert probs.shape == (15_625,) and np.all(probs > 0)
    assert abs(probs.sum() - 1.0) < 1e-12
    # the product formula, written out for one arch
    a = ALL_TUPLES[1234]
    assert probs[1234] == pytest.approx(np.prod([p[e, a[e]] for e in range(6)]), rel=1e-12)


def test_arch_probs_one_hot_is_indicator():
    a = SPACE.parse(BEST_C100)
    probs = SPACE.arch_probs(ALL, SPACE.one_hot(a))
    assert probs.sum() == 1.0 and probs[SPACE.encode(np.array(a))[0]] == 1.0
    assert SPACE.discretize(SPACE.one_hot(a)) == a


@pytest.mark.parametrize("bad", [np.ones((5, 5)), -np.ones((6, 5)), np.full((6, 5), np.nan)],
                         ids=["shape", "negative", "nan"])
def test_arch_probs_rejects_bad_probabilities(bad):
    with pytest.raises(ValueError, match="(6, 5)|finite and non-negative"):
        SPACE.arch_probs(ALL, {"cell": bad})


def _seeded_probs() -> np.ndarray:
    p = np.random.default_rng(7).random((6, 5)) + 0.05
    p[2, 4] = 0.0  # an impossible op on one edge
    return p / p.sum(axis=1, keepdims=True)


def _logits(p: dict) -> dict:
    with np.errstate(divide="ignore"):
        return {k: np.log(v) for k, v in p.items()}


def test_sample_is_reproducible():
    p = {"cell": _seeded_probs()}
    a = SPACE.sample(_logits(p), 200, np.random.default_rng(3))
    b = SPACE.sample(_logits(p), 200, np.random.default_rng(3))
    c = SPACE.sample(_logits(p), 200, np.random.default_rng(4))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.shape == (200, 6) and a.dtype == np.int64


def test_sample_frequencies_match_probs():
    p = _seeded_probs()
    n = 20_000
    archs = SPACE.sample(_logits({"cell": p}), n, np.random.default_rng(11))
    freq = np.stack([np.bincount(archs[:, e], minlength=5) / n for e in range(6)])
    tol = 5 * np.sqrt(p * (1 - p) / n) + 1e-12
    assert np.all(np.abs(freq - p) <= tol), np.abs(freq - p) / tol
    assert freq[2, 4] == 0.0
    # edges are drawn independently: a joint frequency is the product of the marginals
    joint = np.mean((archs[:, 0] == 3) & (archs[:, 5] == 1))
    pj = p[0, 3] * p[5, 1]
    assert abs(joint - pj) <= 5 * np.sqrt(pj * (1 - pj) / n)
