"""The SearchSpace interface: contract tests for every registered space and the toy second space,
which runs train -> select with no change to generic code; NB201 run identity is unchanged."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from supernetbench.oneshot.train import RunSpec, run_dir_for, train_supernet
from supernetbench.pipeline.evaluate import evaluate, select_run
from supernetbench.harness.profiles import get_profile
from supernetbench.spaces import SPACES, MissingCapability, get_space, space_names
from supernetbench.spaces.testing import SearchSpaceContract

from toyspace import ToySpace, register


@pytest.mark.parametrize("name", space_names())
class TestRegisteredSpaces(SearchSpaceContract):
    @pytest.fixture
    def space(self, name):
        return get_space(name)


class TestToySpace(SearchSpaceContract):
    @pytest.fixture
    def space(self, monkeypatch):
        return register(monkeypatch)


# ------------------------------------------------------------------------------------ registry
def test_get_space_lists_choices_and_the_toy_is_test_only(monkeypatch):
    assert "toy" not in SPACES and "nb201" in space_names()
    with pytest.raises(ValueError, match="unknown search space 'nope'; valid choices: .*nb201"):
        get_space("nope")
    register(monkeypatch)
    assert isinstance(get_space("toy"), ToySpace) and "toy" in space_names()


def test_capability_of_nb201():
    nb = get_space("nb201")
    assert {"table", "enumerable", "functional_classes"} <= nb.capabilities
    assert nb.benchmark().archs.shape == (15_625, 6)


# ------------------------------------------------------------------------------------ run identity
def test_nb201_run_keys_are_unchanged():
    """The space enters the run hash only when it is not nb201 (keys measured at 2414bdb, before
    issue 19 added the method's code identity to every key: the same hash with "code" left out)."""
    from supernetbench.oneshot.train import CODE_VERSION
    from supernetbench.harness.store import content_hash

    def before_code_identity(spec):
        return content_hash({**spec.to_dict(), "profile": spec.profile.stage1_dict()}, CODE_VERSION)

    assert before_code_identity(RunSpec("darts")) == "4192b2fd4d8072a3"
    assert before_code_identity(RunSpec("gdas", "cifar100", 3)) == "24e0afef9a3c8876"
    assert RunSpec("darts").key() == content_hash({**RunSpec("darts").to_dict(), "profile": RunSpec("darts").profile
                                                   .stage1_dict(), "code": RunSpec("darts").code()}, CODE_VERSION)
    assert "space" not in RunSpec("darts").to_dict()
    assert RunSpec("darts", space="toy").key() != RunSpec("darts").key()
    assert run_dir_for(RunSpec("darts"), "r").name == f"darts-cifar10-s0-smoke-{RunSpec('darts').key()}"
    assert run_dir_for(RunSpec("darts", space="toy"), "r").name.startswith("darts@toy-cifar10-s0-smoke-")


def test_nb201_refuses_partial_channels(tmp_path):
    """The NB201 supernet has no partial channels: k != 1 is one clear error (never run as k = 1);
    k = 1 (the default, every NB201 run) builds the same network as before the field existed."""
    nb = get_space("nb201")
    for prof in (get_profile("smoke", {"k": 2}), get_profile("darts-paper")):
        with pytest.raises(ValueError, match=r"profile field k=2: the nb201 supernet has no partial channels"):
            nb.build_supernet(prof, 10)
    with pytest.raises(ValueError, match="no partial channels"):
        train_supernet(RunSpec("darts", profile=get_profile("smoke", {"k": 2, "epochs": 1, "train_size": 32,
                                                                       "valid_size": 32})),
                       runs_root=tmp_path, device="cpu", progress=False)
    torch.manual_seed(0)
    a = nb.build_supernet(get_profile("smoke", {"C": 2}), 10).state_dict()
    torch.manual_seed(0)
    b = nb.build_supernet(get_profile("smoke", {"C": 2, "k": 1}), 10).state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ------------------------------------------------------------------------------------ the toy, end to end
TOY_RUN = {"C": 2, "epochs": 1, "train_size": 32, "valid_size": 32, "score_images": 8, "score_batch_size": 8,
           "num_samples": 6, "valid_images": 8, "jacob_batch": 8, "batch_size": 16, "dtype": "float32"}


@pytest.fixture
def toy(monkeypatch):
    return register(monkeypatch)


@pytest.mark.parametrize("algo", ["darts", "gdas", "rsps"])
def test_toy_space_trains_and_selects(toy, tmp_path, algo):
    """train -> select (prune, valid, synflow) on a space that is not NB201, through generic code only."""
    spec = RunSpec(algo, "cifar10", 0, get_profile("smoke", TOY_RUN), space="toy")
    run = train_supernet(spec, runs_root=tmp_path, device="cpu", progress=False)
    assert run.space_name == "toy" and json.loads((run.path / "config.json").read_text())["space"] == "toy"
    assert run.archprob.shape == (toy.num_archs,) and abs(run.archprob.sum() - 1) < 1e-9
    genotype = run.log[-1]["genotype"]
    if algo != "rsps":
        assert toy.parse(genotype) == toy.discretize(run.edge_probs)
    selectors = ["valid", "synflow"] + (["prune"] if algo != "rsps" else [])
    sels = select_run(run.path, selectors, device="cpu")
    for name, sel in sels.items():
        assert toy.format(toy.parse(sel.arch)) == sel.arch and sel.index is None and sel.test_acc is None, name
    if algo != "rsps":
        assert sels["prune"].arch == toy.format(toy.discretize(run.edge_probs))
    cand = sels["valid"].details["candidate_archs"]
    assert cand == sels["synflow"].details["candidate_archs"] and len(cand) == TOY_RUN["num_samples"]
    assert sels["valid"].arch in cand and sels["synflow"].arch in cand


def test_toy_space_skips_what_needs_a_table(toy, tmp_path):
    spec = RunSpec("darts", "cifar10", 0, get_profile("smoke", {**TOY_RUN, "perturb_valid_images": 8}), space="toy")
    with pytest.raises(MissingCapability, match="'table'"):
        train_supernet(RunSpec("rsps-biased", "cifar10", 0, spec.profile, space="toy"), runs_root=tmp_path,
                       device="cpu", progress=False)
    ev = evaluate(spec, ["prune", "valid", "perturb"], device="cpu", runs_root=tmp_path, progress=False)
    assert ev.scores is None and "needs a search space with 'table'" in ev.metrics["skipped"]
    assert set(ev.selections) == {"prune", "valid", "perturb"} and not ev.skipped
    # perturb through the generic plan: 3 events, each fixing one edge of both cell types (no topology)
    sel = ev.selections["perturb"]
    arch, events = toy.parse(sel.arch), sel.details["events"]
    assert [e["cell_type"] for e in events] == ["normal", "reduce"] * 3
    edges = [(k, e) for k in toy.cell_types for e in range(3)]
    assert sorted((e["cell_type"], e["edge_index"]) for e in events) == edges
    assert all(arch[3 * toy.cell_types.index(e["cell_type"]) + e["edge_index"]] == toy.ops.index(e["op"])
               for e in events)
    with pytest.raises(ValueError, match="'table'"):
        select_run(ev.run.path, ["valid"], device="cpu", distribution="rank-linear")


def test_toy_scoring_falls_back_to_the_generic_engine(toy):
    from supernetbench.oneshot.scoring import resolve_engine

    net = toy.build_supernet(get_profile("smoke", TOY_RUN), 10)
    assert resolve_engine("fast", net) == ("dedup", False)
    with pytest.raises(ValueError, match="not implemented for search space 'toy'"):
        resolve_engine("prefix", net)


def test_prefix_scorer_unrolls_the_nb201_cell_graph():
    """The hand-unrolled prefix scorer is tested against the ONE cell-graph description."""
    from supernetbench.spaces.nb201.prefix import PrefixScorer
    from supernetbench.spaces.nb201.space import NB201Space

    assert PrefixScorer.UNROLLED_EDGES == NB201Space.EDGES
    nb = NB201Space()
    assert [e for i in range(1, nb.num_nodes) for e, _ in nb.node_inputs(i)] == list(range(len(nb.EDGES)))


def test_random_arch_is_the_rsps_draw():
    """RSPS draws through the space; the draw is the one RSPS always made (goldens unchanged)."""
    nb = get_space("nb201")
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    for _ in range(5):
        assert nb.random_arch(g1) == tuple(int(i) for i in torch.randint(5, (6,), generator=g2))


def test_nb201_sample_of_log_probs_is_the_edge_law():
    nb = get_space("nb201")
    p = np.random.default_rng(0).dirichlet(np.ones(5), size=6)
    a = nb.sample({"cell": np.log(p)}, 10, np.random.default_rng(1))
    rng = np.random.default_rng(1)
    cols = [rng.choice(5, size=10, p=p[e] / p[e].sum()) for e in range(6)]
    np.testing.assert_array_equal(a, np.stack(cols, axis=1))
