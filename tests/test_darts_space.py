"""The DARTS cell spaces (``darts``, ``darts-s1`` .. ``darts-s4``): genotype strings, validity of every
discrete cell the space produces, DARTS' prune rule and the Stage-2 sampler's law (protocol §8).

Oracles: a validity check written out below (independent of ``DartsCellSpace.validate``); DARTS'
genotype rule re-implemented in the reference's own loop style (``model_search.py::genotype``); the
closed-form law of the papers' joint-softmax sampler (``search2.py::sample``):
``P(first=(e1, o1), second=(e2, o2)) = p[e1, o1] * p[e2, o2] / (1 - sum_o p[e1, o])``.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from supernetbench.spaces.darts.space import (
    ARCH_LEN, CELL_TYPES, DARTS_SPACES, EDGES, DartsSpace, GenotypeError,
)

SPACES = [cls() for cls in DARTS_SPACES.values()]
IDS = [s.name for s in SPACES]

# Public genotypes, as written in their repositories' genotypes.py.
DARTS_V2 = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
            "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
            "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
            "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
            "('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")  # quark0/darts cnn/genotypes.py
PC_DARTS = ("Genotype(normal=[('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 0), ('dil_conv_3x3', 1), "
            "('sep_conv_5x5', 0), ('sep_conv_3x3', 1), ('avg_pool_3x3', 0), ('dil_conv_3x3', 1)], "
            "normal_concat=range(2, 6), reduce=[('sep_conv_5x5', 1), ('max_pool_3x3', 0), ('sep_conv_5x5', 1), "
            "('sep_conv_5x5', 2), ('sep_conv_3x3', 0), ('sep_conv_3x3', 3), ('sep_conv_3x3', 1), "
            "('sep_conv_3x3', 2)], reduce_concat=range(2, 6))")  # yuhuixu1993/PC-DARTS genotypes.py
DRNAS = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_5x5', 1), ('sep_conv_3x3', 1), ('sep_conv_3x3', 2), "
         "('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 2), ('dil_conv_5x5', 3)], "
         "normal_concat=range(2, 6), reduce=[('max_pool_3x3', 0), ('sep_conv_5x5', 1), ('dil_conv_5x5', 2), "
         "('sep_conv_5x5', 1), ('sep_conv_5x5', 1), ('dil_conv_5x5', 3), ('skip_connect', 4), "
         "('sep_conv_5x5', 1)], reduce_concat=range(2, 6))")  # xiangning-chen/DrNAS DARTS-space/genotypes.py
PUBLIC = {"DARTS_V2": DARTS_V2, "PC_DARTS_cifar": PC_DARTS, "DrNAS_cifar10": DRNAS}


def assert_valid_cell(space, arch) -> None:
    """Two distinct in-edges per node, inputs before the node, candidate ops of the edge, no none."""
    arch = [int(x) for x in arch]
    assert len(arch) == ARCH_LEN
    pos = 0
    for ct in CELL_TYPES:
        for node in range(2, 6):
            (i1, o1), (i2, o2) = (arch[pos], arch[pos + 1]), (arch[pos + 2], arch[pos + 3])
            pos += 4
            assert i1 != i2 and 0 <= i1 < node and 0 <= i2 < node
            for inp, op in ((i1, o1), (i2, o2)):
                ops = space.candidates[ct][EDGES.index((node, inp))]
                assert 0 <= op < len(ops) and ops[op] != "none"


def logits_for(space, rng, scale=2.0):
    return {ct: rng.normal(scale=scale, size=shape) for ct, shape in space.weight_shapes.items()}


# ---------------------------------------------------------------- graph and description
def test_edges_in_darts_order():
    s = DartsSpace()
    assert s.edges("normal") == s.edges("reduce") == EDGES
    assert EDGES[:5] == ((2, 0), (2, 1), (3, 0), (3, 1), (3, 2)) and EDGES[-1] == (5, 4) and len(EDGES) == 14
    with pytest.raises(ValueError, match="cell type"):
        s.edges("cell")


@pytest.mark.parametrize("space", SPACES, ids=IDS)
def test_info_is_json_and_lists_candidates_per_edge(space):
    info = json.loads(json.dumps(space.info()))
    assert info["space"] == space.name and info["arch_length"] == 32 and info["capabilities"] == ["topology"]
    for ct in CELL_TYPES:
        rows = info["cells"][ct]
        assert [(r["to"], r["from"]) for r in rows] == list(EDGES)
        assert all(len(r["ops"]) == space.weight_shapes[ct][1] for r in rows)


def test_robustdarts_candidate_lists():
    s1, s3, s4 = (DARTS_SPACES[n]() for n in ("darts-s1", "darts-s3", "darts-s4"))
    assert s1.weight_shapes == {"normal": (14, 2), "reduce": (14, 2)}
    assert s1.op_names("normal", 0) == ("skip_connect", "dil_conv_3x3")
    assert s1.op_names("normal", 13) == ("dil_conv_3x3", "dil_conv_5x5")
    assert s1.op_names("reduce", 6) == ("max_pool_3x3", "sep_conv_3x3")
    assert s3.op_names("reduce", 5) == ("none", "skip_connect", "sep_conv_3x3")
    assert s4.op_names("normal", 9) == ("noise", "sep_conv_3x3")
    assert DartsSpace().weight_shapes["normal"] == (14, 7) and "none" not in DartsSpace().op_names("normal", 0)


# ---------------------------------------------------------------- strings
@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_public_genotypes_parse_and_format(name):
    s = DartsSpace()
    arch = s.parse(PUBLIC[name])
    assert_valid_cell(s, arch)
    text = s.format(arch)
    assert s.parse(text) == arch
    assert text == PUBLIC[name].replace("range(2, 6)", "[2, 3, 4, 5]")  # order of pairs kept exactly


def test_darts_v2_encoding():
    arch = DartsSpace().parse(DARTS_V2)
    # normal node 2: sep_conv_3x3 (index 3) from 0 and from 1; reduce node 5: skip (2) from 2, max_pool (0) from 1
    assert arch[:4] == (0, 3, 1, 3) and arch[-4:] == (2, 2, 1, 0)


@pytest.mark.parametrize("space", SPACES, ids=IDS)
def test_round_trip_random_archs(space):
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        arch = space.random_arch(g)
        assert space.parse(space.format(arch)) == arch
        assert space.canonical(space.parse(space.format(arch))) == space.canonical(arch)


BAD = {
    "not a call": "__import__('os').system('echo hi')",
    "attribute call": "genotypes.Genotype(normal=[], normal_concat=[], reduce=[], reduce_concat=[])",
    "syntax": "Genotype(normal=[('sep_conv_3x3', 0)",
    "positional": "Genotype([], [2, 3, 4, 5], [], [2, 3, 4, 5])",
    "missing keyword": DARTS_V2.replace(", reduce_concat=[2, 3, 4, 5]", ""),
    "duplicate keyword": DARTS_V2[:-1] + ", normal_concat=[2, 3, 4, 5])",
    "unknown op": DARTS_V2.replace("dil_conv_3x3", "conv_7x1_1x7"),
    "none op": DARTS_V2.replace("('dil_conv_3x3', 2)", "('none', 2)"),
    "input too large": DARTS_V2.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 5)"),
    "negative input": DARTS_V2.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', -1)"),
    "same input twice": DARTS_V2.replace("('sep_conv_3x3', 0), ('sep_conv_3x3', 1)", "('sep_conv_3x3', 0), ('sep_conv_3x3', 0)", 1),
    "seven pairs": DARTS_V2.replace("('sep_conv_3x3', 0), ", "", 1),
    "bad concat": DARTS_V2.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=[2, 3, 4, 5, 6]"),
    "call in concat": DARTS_V2.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=list(range(2, 6))"),
    "float input": DARTS_V2.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 2.0)"),
    "bool input": DARTS_V2.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', True)"),
    "name instead of string": DARTS_V2.replace("'dil_conv_3x3'", "dil_conv_3x3"),
    "too long": "Genotype(" + " " * 5000 + ")",
    "deep nesting": "Genotype(normal=" + "[" * 3000 + "]" * 3000 + ")",
    "empty": "",
}


@pytest.mark.parametrize("text", list(BAD.values()), ids=list(BAD))
def test_bad_strings_get_one_clear_error(text):
    with pytest.raises(GenotypeError) as info:
        DartsSpace().parse(text)
    msg = str(info.value)
    assert "\n" not in msg and len(msg) < 400 and msg


def test_non_string_and_bad_tuples():
    s = DartsSpace()
    with pytest.raises(GenotypeError, match="must be a str"):
        s.parse(42)  # type: ignore[arg-type]
    good = s.parse(DARTS_V2)
    for bad in (good[:-1], good[:-4] + (2, 2, 2, 9), good[:-4] + (1, 0, 1, 0), good[:-4] + (5, 0, 1, 0), ("a",) * 32):
        with pytest.raises(GenotypeError):
            s.validate(bad)


def test_s3_none_is_a_candidate_but_not_a_cell_op():
    s3 = DARTS_SPACES["darts-s3"]()
    text = DARTS_V2.replace("sep_conv_3x3", "none").replace("dil_conv_3x3", "skip_connect")
    text = text.replace("max_pool_3x3", "sep_conv_3x3")
    with pytest.raises(GenotypeError, match="none"):
        s3.parse(text)


def test_per_edge_op_index_in_s1():
    """S1's op index is into the edge's own candidates: the same name has different indices."""
    s1 = DARTS_SPACES["darts-s1"]()
    arch = s1.random_arch(torch.Generator().manual_seed(5))
    gene = s1.genotype(arch)
    for c, ct in enumerate(CELL_TYPES):
        for p in range(8):
            inp, op = arch[16 * c + 2 * p], arch[16 * c + 2 * p + 1]
            assert gene[ct][p] == (s1.candidates[ct][EDGES.index((2 + p // 2, inp))][op], inp)
    assert s1.op_names("normal", 0).index("skip_connect") == 0 and s1.op_names("normal", 5).index("skip_connect") == 1


# ---------------------------------------------------------------- discretize (prune)
def reference_prune(w: np.ndarray, ops_per_edge) -> list[tuple[int, int]]:
    """DARTS' ``Network.genotype._parse`` loop, written as the reference writes it."""
    gene, start, n = [], 0, 2
    for _ in range(4):
        end = start + n
        W = w[start:end]

        def best(x):
            return max(W[x][k] for k in range(len(W[x])) if ops_per_edge[start + x][k] != "none")
        for j in sorted(range(n), key=lambda x: -best(x))[:2]:
            k_best = None
            for k in range(len(W[j])):
                if ops_per_edge[start + j][k] != "none" and (k_best is None or W[j][k] > W[j][k_best]):
                    k_best = k
            gene.append((j, k_best))
        start, n = end, n + 1
    return gene


@settings(max_examples=40)
@given(seed=st.integers(0, 2**32 - 1), which=st.sampled_from(IDS), ties=st.booleans())
def test_discretize_is_darts_genotype_rule(seed, which, ties):
    space = DARTS_SPACES[which]()
    rng = np.random.default_rng(seed)
    probs = {ct: rng.dirichlet(np.ones(n), size=e) for ct, (e, n) in space.weight_shapes.items()}
    if ties:  # coarse values: many exact ties, broken as DARTS' stable sort does
        probs = {ct: np.round(p * 3) / 3 for ct, p in probs.items()}
    arch = space.discretize(probs)
    assert_valid_cell(space, arch)
    want = [x for ct in CELL_TYPES for pair in reference_prune(probs[ct], space.candidates[ct]) for x in pair]
    assert list(arch) == want


@pytest.mark.parametrize("space", SPACES, ids=IDS)
def test_discretize_recovers_a_one_hot_cell(space):
    g = torch.Generator().manual_seed(1)
    for _ in range(10):
        arch = space.random_arch(g)
        assert space.canonical(space.discretize(space.one_hot(arch))) == space.canonical(arch)


def test_discretize_rejects_bad_shapes():
    with pytest.raises(ValueError, match="shape"):
        DartsSpace().discretize({"normal": np.ones((14, 6)), "reduce": np.ones((14, 7))})
    with pytest.raises(ValueError, match="finite"):
        DartsSpace().discretize({"normal": np.full((14, 7), np.nan), "reduce": np.ones((14, 7))})


# ---------------------------------------------------------------- uniform cells and the sampler
@pytest.mark.parametrize("space", SPACES, ids=IDS)
def test_random_arch_valid_and_uniform(space):
    g = torch.Generator().manual_seed(2)
    archs = np.array([space.random_arch(g) for _ in range(1500)])
    for a in archs[:200]:
        assert_valid_cell(space, a)
    # node 5 of the normal cell (columns 12..15): each input appears with probability 2/5
    inputs = np.concatenate([archs[:, 12], archs[:, 14]])
    freq = np.bincount(inputs, minlength=5) / len(archs)
    assert np.allclose(freq, 0.4, atol=0.06)


@pytest.mark.parametrize("space", SPACES, ids=IDS)
def test_sample_gives_valid_cells(space):
    rng = np.random.default_rng(3)
    out = space.sample(logits_for(space, rng, scale=5.0), 300, rng)
    assert out.shape == (300, ARCH_LEN) and out.dtype == np.int64
    for a in out:
        assert_valid_cell(space, a)


def exact_pair_law(z: np.ndarray, allowed: np.ndarray) -> dict[tuple[int, int, int, int], float]:
    """Closed form of §8's sampler on one node's logit block ``z`` (edges x ops)."""
    p = np.where(allowed, np.exp(z - z.max()), 0.0)
    p /= p.sum()
    law = {}
    for e1, o1 in zip(*np.nonzero(p)):
        for e2, o2 in zip(*np.nonzero(p)):
            if e2 != e1:
                law[(e1, o1, e2, o2)] = p[e1, o1] * p[e2, o2] / (1.0 - p[e1].sum())
    return law


@pytest.mark.parametrize("name, node", [("darts", 2), ("darts", 5), ("darts-s3", 4), ("darts-s1", 3)])
def test_sampler_law_matches_protocol(name, node):
    space = DARTS_SPACES[name]()
    rng = np.random.default_rng(4)
    logits = logits_for(space, rng, scale=1.5)
    ct = "reduce" if node % 2 else "normal"
    rows = [EDGES.index((node, j)) for j in range(node)]
    allowed = np.array([[o != "none" for o in space.candidates[ct][r]] for r in rows])
    law = exact_pair_law(logits[ct][rows], allowed)
    assert abs(sum(law.values()) - 1.0) < 1e-12
    n = 60_000
    out = space.sample(logits, n, rng)
    col = (0 if ct == "normal" else 16) + 4 * (node - 2)
    inp1, op1, inp2, op2 = (out[:, col + i] for i in range(4))
    keys, counts = np.unique(np.stack([inp1, op1, inp2, op2], 1), axis=0, return_counts=True)
    seen = {tuple(int(v) for v in k): c / n for k, c in zip(keys, counts)}
    assert set(seen) <= set(law)  # never an impossible pair (none, same edge twice)
    for key, prob in law.items():
        sd = np.sqrt(prob * (1 - prob) / n)
        assert abs(seen.get(key, 0.0) - prob) <= 5 * sd + 1e-4, key
    # node law in the space: its own softmax equals the closed-form first-draw marginal
    first = space.node_law(logits, ct, node)
    marg = {}
    for (e1, o1, _, _), v in law.items():
        marg[(e1, o1)] = marg.get((e1, o1), 0.0) + v
    for (e1, o1), v in marg.items():
        assert abs(first[e1, o1] - v) < 1e-12


def test_sampler_survives_underflow_and_checks_input():
    space = DartsSpace()
    logits = {ct: np.zeros((14, 7)) for ct in CELL_TYPES}
    logits["normal"][0, 0] = 2000.0  # softmax of node 2 underflows to one entry; the second draw must still work
    out = space.sample(logits, 50, np.random.default_rng(0))
    assert (out[:, 0:2] == (0, 0)).all() and (out[:, 2] == 1).all()
    with pytest.raises(ValueError, match="shape"):
        space.sample({"normal": np.zeros((14, 2)), "reduce": np.zeros((14, 7))}, 3, np.random.default_rng(0))
    with pytest.raises(ValueError, match="non-negative"):
        space.sample(logits, -1, np.random.default_rng(0))
