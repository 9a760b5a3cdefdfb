"""The DARTS cell spaces as registered search spaces (issue 17): the SearchSpace contract for each of
``darts``, ``darts-s1`` .. ``darts-s4``, the registry and capabilities, the profile -> search-network
mapping, the stand-alone network and ``model_info``, ``arch_probs`` against the closed-form law of the
§8 sampler, the CLI (``space info``, ``model-info``, ``list``) and Stage-1 training through the generic
loop (``darts``, ``rsps``, ``gdas``, ``snas``, ``drnas``, ``darts-`` with its auxiliary skip) at the ``smoke``
profile, the profile's partial channels ``k`` and the §8 preset ``darts-paper``.

Independent oracles: the public parameter counts of tests/test_darts_networks.py (DARTS V2:
3,349,342 without the auxiliary head at C=36 / 20 cells; the DARTS search network at C=16 / 8 cells:
1,930,618), the closed-form pair law and the validity check of tests/test_darts_space.py.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from supernetbench.cli import main
from supernetbench.oneshot.train import RunSpec, train_supernet
from supernetbench.harness.profiles import get_profile
from supernetbench.spaces import (
    CAPABILITIES, MissingCapability, SearchSpace, TabularBenchmark, TrainedOracle, get_space, missing_capability,
    space_names,
)
from supernetbench.spaces.darts.network import NetworkCIFAR, count_parameters
from supernetbench.spaces.darts.space import (
    CELL_TYPES, DARTS_SPACES, EDGES, NODE_ROWS, DartsCellSpace, DartsSpace, GenotypeError, supernet_config,
)
from supernetbench.spaces.darts.supernet import DartsSupernet, reduction_layers
from supernetbench.spaces.testing import SearchSpaceContract

from tests.test_darts_space import DARTS_V2, assert_valid_cell, exact_pair_law

NAMES = ("darts", "darts-s1", "darts-s2", "darts-s3", "darts-s4")


@pytest.fixture(autouse=True)
def _one_thread(torch_single_thread):
    """Tiny networks: one intra-op thread (on a loaded 2-core machine two threads made the contract's
    single-path check 40 s instead of 1 s, measured)."""


# ------------------------------------------------------------------------------------ the contract
class TestDarts(SearchSpaceContract):
    @pytest.fixture
    def space(self):
        return get_space("darts")


class TestDartsS1(SearchSpaceContract):
    @pytest.fixture
    def space(self):
        return get_space("darts-s1")


class TestDartsS2(SearchSpaceContract):
    @pytest.fixture
    def space(self):
        return get_space("darts-s2")


class TestDartsS3(SearchSpaceContract):
    @pytest.fixture
    def space(self):
        return get_space("darts-s3")


class TestDartsS4(SearchSpaceContract):
    @pytest.fixture
    def space(self):
        return get_space("darts-s4")


# ------------------------------------------------------------------------------------ registry, capabilities
@pytest.mark.parametrize("name", NAMES)
def test_registered_with_honest_capabilities(name):
    assert name in space_names()
    space = get_space(name)
    assert isinstance(space, SearchSpace) and isinstance(space, DARTS_SPACES[name]) and space.name == name
    assert space.capabilities == frozenset({"topology"}) and "trained oracle (protocol §8)" in space.ground_truth
    for cap in ("table", "enumerable", "functional_classes"):
        assert f"space {name!r} has topology" in missing_capability(space, cap, "x")
    with pytest.raises(MissingCapability, match="'enumerable'"):
        space.all_archs()
    oracle = space.benchmark("cifar10")  # the ground truth: training from scratch, not a table
    assert isinstance(oracle, TrainedOracle) and not isinstance(oracle, TabularBenchmark)
    assert oracle.space is space and oracle.profile == "paper"
    assert space.arch_length == 32 and space.model_shape == ("C", "layers")


def test_ops_is_the_edge_list_or_the_union():
    assert get_space("darts").ops == DartsSpace.candidates["normal"][0] and len(get_space("darts").ops) == 7
    assert get_space("darts-s3").ops == ("none", "skip_connect", "sep_conv_3x3")
    s1 = get_space("darts-s1")
    union = {o for ct in CELL_TYPES for e in range(14) for o in s1.op_names(ct, e)}
    assert set(s1.ops) == union and len(s1.ops) == 6 and s1.weight_shapes["normal"] == (14, 2)


def test_num_archs_counts_tuples_and_cells():
    """darts: per cell prod_nodes C(i, 2) * 7^2 = 180 * 7^8 cell graphs (the DARTS paper's ~10^18 for
    the pair), each written by 2^4 tuples per cell (the order of a node's two pairs)."""
    s = get_space("darts")
    assert s.num_archs == (180 * 7 ** 8 * 2 ** 4) ** 2
    assert s.info()["num_cell_pairs"] == (180 * 7 ** 8) ** 2
    assert get_space("darts-s3").num_archs == (180 * 2 ** 8 * 2 ** 4) ** 2  # none never in a cell


# ------------------------------------------------------------------------------------ the search network
@pytest.mark.parametrize("N", [1, 2, 5, 6])
def test_profile_maps_to_n_normal_cells_per_stage(N):
    cfg = supernet_config(get_profile("smoke", {"N": N}), 10)
    assert cfg.layers == 3 * N + 2 and cfg.k == 1 and cfg.C == 4
    r1, r2 = reduction_layers(cfg.layers)
    assert (r1, r2 - r1 - 1, cfg.layers - r2 - 1) == (N, N, N)  # N normal cells before, between, after


def test_build_supernet_is_the_darts_search_network():
    """N=2, C=16 is the DARTS paper's search network (8 cells): its published parameter count."""
    space = get_space("darts")
    with torch.device("meta"):
        net = space.build_supernet(get_profile("paper", {"C": 16, "N": 2}), 10)
    assert isinstance(net, DartsSupernet) and net.space is space and len(net.cells) == 8
    assert sum(p.numel() for p in net.parameters()) == 1_930_618


def test_profile_k_reaches_the_search_network():
    """The profile's k is the search network's partial channels (k=1: every channel, the default)."""
    space = get_space("darts")
    assert supernet_config(get_profile("smoke", {"k": 2}), 10).k == 2
    net = space.build_supernet(get_profile("smoke", {"k": 2}), 10)
    assert net.config.k == 2 and all(e.c_op == cell.c // 2 for cell in net.cells for e in cell.edges)
    x = torch.zeros(2, 3, 32, 32, dtype=torch.float64)
    assert net(x, arch=space.random_arch(torch.Generator().manual_seed(0))).shape == (2, 10)
    with pytest.raises(ValueError, match="multiple of 2\\*k"):
        space.build_supernet(get_profile("smoke", {"k": 4, "C": 4}), 10)


def test_darts_paper_preset_builds_the_section8_search_network():
    """darts-paper (protocol §8): 20 cells at C=36, reductions at cells 6 and 13, k=2; parameters as
    the network written out (tests/test_darts_networks.py); darts-search: DARTS' 8 cells, 1,930,618."""
    from tests.test_darts_networks import search_network_params

    space = get_space("darts")
    with torch.device("meta"):
        net = space.build_supernet(get_profile("darts-paper"), 10)
        small = space.build_supernet(get_profile("darts-search"), 10)
    assert (net.config.C, net.config.layers, net.config.k, len(net.cells)) == (36, 20, 2, 20)
    assert [i for i, c in enumerate(net.cells) if c.reduction] == [6, 13]
    assert {p.dtype for p in net.parameters()} == {torch.float32}
    n = sum(p.numel() for p in net.parameters())
    assert n == search_network_params(36, 20, 2) == 6_622_390
    assert sum(p.numel() for p in small.parameters()) == 1_930_618 and small.config.k == 1
    with torch.device("meta"):
        net.add_aux_skip()  # darts- at §8: + a FactorizedReduce on the 8 stride-2 edges of both reduction cells
    assert sum(p.numel() for p in net.parameters()) - n == 8 * (36 ** 2 + 72 ** 2)


def test_build_supernet_dtype_and_classes():
    space = get_space("darts-s2")
    old = torch.get_default_dtype()
    net = space.build_supernet(get_profile("smoke", {"C": 2}), 100)  # smoke: float64
    assert torch.get_default_dtype() == old
    assert {p.dtype for p in net.parameters()} == {torch.float64} and net.classifier.out_features == 100
    net32 = space.build_supernet(get_profile("smoke", {"C": 2}), 10, torch.float32)
    assert {p.dtype for p in net32.parameters()} == {torch.float32}


def test_functional_key_merges_the_two_orders_of_a_node():
    space = get_space("darts")
    a = space.parse(DARTS_V2)
    swapped = list(a)
    swapped[0:4] = a[2:4] + a[0:2]  # normal node 2: (1, op) first, then (0, op)
    swapped = tuple(swapped)
    assert swapped != a and space.validate(swapped) == swapped
    assert space.functional_key(swapped) == space.functional_key(a) == space.canonical(a)
    labels, reps = space.functional_classes(np.array([a, swapped, a]))
    assert labels.tolist() == [0, 0, 0] and len(reps) == 1
    torch.manual_seed(0)
    net = space.build_supernet(get_profile("smoke", {"C": 2}), 10).train()
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    assert torch.equal(net(x, arch=a), net(x, arch=swapped))


# ------------------------------------------------------------------------------------ the sampler's law
@pytest.mark.parametrize("name", NAMES)
def test_arch_probs_is_the_sampler_law_of_log_edge_probs(name):
    """arch_probs(edge_probs) = the product over nodes of the §8 sampler's closed-form pair law on the
    logits log(edge_probs) (tests/test_darts_space.py checks that law against draws of sample)."""
    space = get_space(name)
    rng = np.random.default_rng(7)
    probs = {ct: rng.dirichlet(np.ones(n), size=e) for ct, (e, n) in space.weight_shapes.items()}
    logits = {ct: np.log(p) for ct, p in probs.items()}
    archs = space.sample(logits, 40, rng)
    got = space.arch_probs(archs, probs)
    for a, p in zip(archs, got):
        want, col = 1.0, 0
        for ct in CELL_TYPES:
            for node in range(2, 6):
                rows = list(NODE_ROWS[node])
                allowed = np.array([[o != "none" for o in space.op_names(ct, r)] for r in rows])
                want *= exact_pair_law(logits[ct][rows], allowed)[tuple(int(v) for v in a[col:col + 4])]
                col += 4
        assert p == pytest.approx(want, rel=1e-12)
    # summed over every outcome of one node (normal node 3, the others fixed) the law leaves the
    # probability of the other nodes: that node's outcomes sum to 1
    base = archs[0]
    rows = list(NODE_ROWS[3])
    allowed = np.array([[o != "none" for o in space.op_names("normal", r)] for r in rows])
    law3 = exact_pair_law(logits["normal"][rows], allowed)
    variants = np.repeat(base[None], len(law3), axis=0)
    variants[:, 4:8] = np.array(list(law3))
    total = space.arch_probs(variants, probs).sum()
    rest = space.arch_probs(base[None], probs)[0] / law3[tuple(int(v) for v in base[4:8])]
    assert total == pytest.approx(rest, rel=1e-10)


def test_arch_probs_checks_its_input():
    space = get_space("darts")
    probs = {ct: np.full((14, 7), 1 / 7) for ct in CELL_TYPES}
    with pytest.raises(GenotypeError):
        space.arch_probs(np.zeros((1, 32), dtype=np.int64), probs)  # node 2 reads input 0 twice
    with pytest.raises(ValueError, match="shape"):
        space.arch_probs(np.array([space.parse(DARTS_V2)]), {**probs, "normal": np.ones((14, 6))})
    with pytest.raises(ValueError, match="non-negative"):
        space.arch_probs(np.array([space.parse(DARTS_V2)]), {**probs, "normal": -probs["normal"]})


# ------------------------------------------------------------------------------------ stand-alone network
def test_network_and_model_info_of_darts_v2():
    space = get_space("darts")
    net = space.network(DARTS_V2, 10, C=8, layers=5, auxiliary=False)
    assert isinstance(net, NetworkCIFAR) and net.space is space and len(net.cells) == 5
    assert space.network(space.parse(DARTS_V2), 10, C=8, layers=5).auxiliary_head is not None
    info = space.model_info(DARTS_V2, "cifar10")
    assert (info["params"], info["params_with_aux"], info["flops"]) == (3_349_342, 3_825_768, 528_359_040)
    assert (info["C"], info["layers"], info["num_classes"], info["space"]) == (36, 20, 10, "darts")
    assert info["arch"] == DARTS_V2 and info["flops_m"] == pytest.approx(528.35904)
    c100 = space.model_info(DARTS_V2, "CIFAR100")
    assert c100["params"] - info["params"] == 90 * (4 * 4 * 36 + 1)  # classifier on 4 * 144 channels
    assert c100["params_with_aux"] - info["params_with_aux"] == 90 * (768 + 1) + 90 * (4 * 4 * 36 + 1)
    small = space.model_info(DARTS_V2, "cifar10", C=16, layers=8)
    assert small["params"] == count_parameters(space.parse(DARTS_V2), space, C=16, layers=8)


@pytest.mark.parametrize("dataset, kw, match", [
    ("imagenet16-120", {}, "32x32 CIFAR"),
    ("cifar10", {"C": 35}, "C must be even"),
    ("cifar10", {"layers": 2}, "layers"),
])
def test_model_info_rejects_what_the_network_cannot_be(dataset, kw, match):
    with pytest.raises(ValueError, match=match):
        get_space("darts").model_info(DARTS_V2, dataset, **kw)


def test_model_info_in_s1_reads_its_own_candidates():
    s1 = get_space("darts-s1")
    arch = s1.random_arch(torch.Generator().manual_seed(3))
    info = s1.model_info(s1.format(arch), "cifar10", C=8, layers=5)
    assert info["params"] == count_parameters(arch, s1, C=8, layers=5) and info["arch"] == s1.format(arch)
    with pytest.raises(GenotypeError, match="not a candidate"):
        s1.model_info(DARTS_V2, "cifar10")


# ------------------------------------------------------------------------------------ CLI
def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def _error(capsys, argv) -> str:
    assert main(argv) == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("name", NAMES)
def test_cli_space_info_lists_each_edge_candidates(capsys, name):
    info = _json(capsys, ["space", "info", "--space", name, "--json"])
    space = get_space(name)
    assert info["space"] == name and info["capabilities"] == ["topology"] and info["arch_length"] == 32
    assert set(info["cells"]) == {"normal", "reduce"}
    for ct in CELL_TYPES:
        rows = info["cells"][ct]
        assert [r["edge"] for r in rows] == list(range(14))
        assert [(r["to"], r["from"]) for r in rows] == list(EDGES)
        assert [r["ops"] for r in rows] == [list(space.op_names(ct, e)) for e in range(14)]


def test_cli_space_info_darts_edges_and_ops(capsys):
    info = _json(capsys, ["space", "info", "--space", "darts", "--json"])
    ops = ["max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3",
           "dil_conv_5x5"]
    assert info["ops"] == ops and info["weight_shapes"] == {"normal": [14, 7], "reduce": [14, 7]}
    first = info["cells"]["normal"][:3]
    assert first == [{"edge": 0, "to": 2, "from": 0, "ops": ops}, {"edge": 1, "to": 2, "from": 1, "ops": ops},
                     {"edge": 2, "to": 3, "from": 0, "ops": ops}]
    s1 = _json(capsys, ["space", "info", "--space", "darts-s1", "--json"])
    assert s1["cells"]["normal"][0]["ops"] == ["skip_connect", "dil_conv_3x3"]
    assert s1["cells"]["reduce"][6]["ops"] == ["max_pool_3x3", "sep_conv_3x3"]


def test_cli_model_info_darts_v2(capsys):
    info = _json(capsys, ["model-info", "--space", "darts", "--arch", DARTS_V2, "--dataset", "cifar10", "--json"])
    assert info["params"] == 3_349_342 and info["params_with_aux"] == 3_825_768
    assert info["flops"] == 528_359_040 and (info["C"], info["layers"]) == (36, 20)
    small = _json(capsys, ["model-info", "--space", "darts", "--arch", DARTS_V2, "--C", "16", "--layers", "8",
                           "--json"])
    assert small["params"] == count_parameters(DartsSpace().parse(DARTS_V2), C=16, layers=8)
    assert (small["C"], small["layers"]) == (16, 8)
    main(["model-info", "--space", "darts", "--arch", DARTS_V2])
    text = capsys.readouterr().out
    assert "params: 3349342" in text and "params_with_aux: 3825768" in text


def test_cli_model_info_errors_are_one_line(capsys):
    err = _error(capsys, ["model-info", "--space", "darts", "--arch", DARTS_V2, "--N", "2"])
    assert "--N: not an option of search space 'darts'" in err and "--C, --layers" in err
    err = _error(capsys, ["model-info", "--arch", "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|",
                          "--layers", "8"])
    assert "--layers: not an option of search space 'nb201'" in err
    assert "malformed genotype" in _error(capsys, ["model-info", "--space", "darts", "--arch", "|nor_conv_3x3~0|"])
    assert "32x32 CIFAR" in _error(capsys, ["model-info", "--space", "darts", "--arch", DARTS_V2,
                                            "--dataset", "imagenet16-120"])
    assert "C must be even" in _error(capsys, ["model-info", "--space", "darts", "--arch", DARTS_V2, "--C", "35"])


def test_cli_list_shows_the_darts_spaces(capsys):
    out = _json(capsys, ["list", "--json"])
    for name in NAMES:
        assert out["spaces"][name]["capabilities"] == ["topology"]
        assert out["spaces"][name]["ground_truth"].startswith("trained oracle (protocol §8)")
    assert out["spaces"]["darts"]["ops"] == 7 and out["spaces"]["darts-s2"]["ops"] == 2
    assert set(out["space_capabilities"]) == set(CAPABILITIES)
    assert main(["list"]) == 0
    text = capsys.readouterr().out
    assert "  darts: capabilities topology; ground truth: trained oracle (protocol §8)" in text
    assert "  darts-s4: capabilities topology; ground truth: trained oracle (protocol §8)" in text


# ------------------------------------------------------------------------------------ Stage 1 on the space
#: the smoke profile (C=4, N=1: 5 cells, float64) on a few images: 2 weight steps of batch 16
DARTS_RUN = {"epochs": 1, "train_size": 32, "valid_size": 32, "batch_size": 16, "num_samples": 4,
             "valid_images": 16, "jacob_batch": 16, "score_images": 16, "score_batch_size": 16}


@pytest.mark.parametrize("algo", ["darts", "rsps", "gdas", "snas", "drnas"])
def test_stage1_trains_on_the_darts_space(tmp_path, algo):
    space = get_space("darts")
    spec = RunSpec(algo, "cifar10", 0, get_profile("smoke", DARTS_RUN), space="darts")
    run = train_supernet(spec, runs_root=tmp_path, device="cpu", progress=False)
    assert run.space_name == "darts" and json.loads((run.path / "config.json").read_text())["space"] == "darts"
    assert run.path.name.startswith(f"{algo}@darts-cifar10-s0-smoke-")
    assert run.archprob is None  # not enumerable: no stored law over the space
    assert len(run.log) == 1 and np.isfinite(run.log[0]["train_loss"])
    genotype = run.log[-1]["genotype"]
    arch = space.parse(genotype)
    assert_valid_cell(space, arch)
    assert space.format(arch) == genotype and arch == space.discretize(run.edge_probs)
    assert set(run.edge_probs) == set(CELL_TYPES) and all(v.shape == (14, 7) for v in run.edge_probs.values())
    if algo == "darts":  # the architecture steps moved the alphas away from their seeded start
        assert "arch_weights" in run.provides and run.log[0]["arch_loss"] is not None
        g = torch.Generator().manual_seed(0)  # Stage1Method.init_alphas: 1e-3 * N(0, 1) per cell type
        start = {ct: 1e-3 * torch.randn(14, 7, generator=g, dtype=torch.float64) for ct in CELL_TYPES}
        alphas = json.loads((run.path / "arch.json").read_text())["alphas"]
        for ct in CELL_TYPES:
            moved = np.abs(np.array(alphas[ct]) - start[ct].numpy())
            assert 1e-4 < moved.max() < 7e-4, ct  # 2 Adam steps of lr 3e-4 (a wrong start: ~4e-3 apart)
    elif algo == "rsps":
        assert run.log[0]["arch_loss"] is None
        assert all(np.array_equal(v, np.full((14, 7), 1 / 7)) for v in run.edge_probs.values())
    else:  # gdas (a hard op on all 14 edges), snas, drnas: their alphas moved too
        assert run.log[0]["arch_loss"] is not None
        assert any(np.ptp(v) > 0 for v in run.edge_probs.values())
    net = run.load_supernet("cpu")  # the trained weights load back into the space's supernet
    assert isinstance(net, DartsSupernet) and len(net.cells) == 5 and net.config.C == 4
    x = torch.zeros(2, 3, 32, 32, dtype=torch.float64)
    assert net.eval()(x, arch=arch).shape == (2, 10)


@pytest.mark.parametrize("k", [1, 2])
def test_darts_minus_trains_on_the_darts_space(tmp_path, k):
    """darts- at smoke (k=2: PC-DARTS' partial channels as §8): its auxiliary skip is built (the
    stride-2 edges' FactorizedReduce weights are in supernet.pt), beta is logged, and the stored
    supernet loads back with it; the profile's arch_lr reaches the method."""
    space = get_space("darts")
    prof = get_profile("smoke", {**DARTS_RUN, "epochs": 2, "k": k, "arch_lr": 6e-4})
    run = train_supernet(RunSpec("darts-", "cifar10", 0, prof, space="darts"), runs_root=tmp_path, device="cpu",
                         progress=False)
    config = json.loads((run.path / "config.json").read_text())
    assert config["method_config"]["arch_lr"] == 6e-4 and config["profile"].get("k", 1) == k  # k=1: left out
    assert [e["beta"] for e in run.log] == [0.5, 0.0]  # §8's linear decay (E - e - 1) / E over 2 epochs
    assert all(np.isfinite(e["train_loss"]) and e["arch_loss"] is not None for e in run.log)
    assert_valid_cell(space, space.parse(run.log[-1]["genotype"]))
    stored = torch.load(run.path / "supernet.pt", weights_only=True)
    aux = [key for key in stored if ".aux_skip." in key]
    assert aux and all(".edges." in key for key in aux)
    net = run.load_supernet("cpu")
    assert net.config.aux_skip and net.config.k == k and net.aux_skip_beta == 0.0
    arch = space.parse(run.log[-1]["genotype"])
    assert net.eval()(torch.zeros(2, 3, 32, 32, dtype=torch.float64), arch=arch).shape == (2, 10)


def test_the_auxiliary_skip_needs_its_modules():
    """A network built without the skip refuses a non-zero beta (never trains plain DARTS silently);
    beta = 0 (scoring, the end of a DARTS- forward) is always allowed."""
    net = get_space("darts").build_supernet(get_profile("smoke", {"C": 2}), 10)
    net.aux_skip_beta = 0.0
    assert net.aux_skip_beta == 0.0 and not net.config.aux_skip
    with pytest.raises(RuntimeError, match="auxiliary skip .* needs its modules"):
        net.aux_skip_beta = 0.5
    net.add_aux_skip()
    net.aux_skip_beta = 0.5
    assert net.aux_skip_beta == 0.5


def test_darts_cell_space_is_abstract_only_in_its_candidates():
    """Every DARTS space class is a complete SearchSpace (no abstract method left)."""
    for cls in DARTS_SPACES.values():
        assert issubclass(cls, DartsCellSpace) and not getattr(cls, "__abstractmethods__", None)


def test_stage2_candidates_follow_the_papers_joint_softmax_over_raw_alphas():
    """Protocol §8: per node, one softmax over the raw alphas of its (edge, op) block. Rows with
    different normalisers make log(softmax(alpha)) a different law, so the context must use alpha."""
    from types import SimpleNamespace

    from supernetbench.selectors.base import SelectionContext

    space = get_space("darts")
    rng = np.random.default_rng(3)
    alphas = {k: rng.normal(0, 2, shape) for k, shape in space.weight_shapes.items()}
    probs = {k: np.exp(a) / np.exp(a).sum(1, keepdims=True) for k, a in alphas.items()}
    run = SimpleNamespace(alphas=alphas, edge_probs=probs, algo="darts")
    ctx = SelectionContext(run, space=space)
    logits = ctx._edge_logits()
    for k in alphas:
        np.testing.assert_array_equal(logits[k], alphas[k])
    # direct §8 on node 2 of the normal cell: softmax over the 2 x 7 block of raw alphas
    block = alphas["normal"][:2]
    direct = np.exp(block) / np.exp(block).sum()
    np.testing.assert_allclose(space.node_law(logits, "normal", 2), direct, rtol=1e-12)
    shifted = {k: np.log(p) for k, p in probs.items()}  # what the context drew from before
    assert not np.allclose(space.node_law(shifted, "normal", 2), direct)
    # a law that is not softmax(alpha) (e.g. DrNAS' Dirichlet mean) keeps its own probabilities
    run2 = SimpleNamespace(alphas=alphas, edge_probs={k: np.full_like(p, 1 / p.shape[1]) for k, p in probs.items()},
                           algo="drnas")
    assert np.allclose(SelectionContext(run2, space=space)._edge_logits()["normal"], np.log(1 / 7))


def test_gdas_hard_edges_run_one_op_and_pass_gradients_to_all_logits():
    """GDAS on the DARTS network (protocol §2/§8): with straight-through one-hot weights the hard
    forward equals the mixture forward, and every edge's logits get a gradient."""
    space = get_space("darts")
    net = space.build_supernet(get_profile("smoke", {"C": 4}), 10)
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    logits = {ct: torch.randn(14, 7, dtype=torch.float64, requires_grad=True) for ct in CELL_TYPES}
    index = {ct: logits[ct].argmax(1) for ct in CELL_TYPES}
    weights = {}
    for ct in CELL_TYPES:
        p = logits[ct].softmax(1)
        weights[ct] = torch.zeros_like(p).scatter_(1, index[ct][:, None], 1.0) - p.detach() + p
    hard = {ct: [int(i) for i in index[ct]] for ct in CELL_TYPES}
    out = net(x, weights=weights, hard=hard)
    np.testing.assert_allclose(out.detach().numpy(), net(x, weights={k: w.detach() for k, w in weights.items()}).detach().numpy(),
                               rtol=1e-9, atol=1e-12)
    out.sum().backward()
    assert all(bool((logits[ct].grad.abs().sum(1) > 0).all()) for ct in CELL_TYPES)
    with pytest.raises(ValueError, match="needs the straight-through"):
        net(x, arch=space.random_arch(torch.Generator().manual_seed(0)), hard=hard)
