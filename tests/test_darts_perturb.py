"""``perturb`` (DARTS-PT) on the DARTS cell spaces (protocol §8; issue 17 item 3).

Oracles:

* op projection: a synthetic accuracy linear in the mixture, ``sum(w * v)``, from which masking op
  ``o`` of edge ``e`` takes exactly ``w[e, o] * v[e, o]``: the fixed op is the argmax of that product
  (first op on ties), never ``none`` (S3); the edge is the seeded RNG's draw over the undecided ones;
* topology projection: a synthetic accuracy summing per-edge importances of the edges present: each
  node keeps its 2 most important in-edges (on ties DARTS-PT deletes the later edge, so the first
  two stay);
* the real network: alpha with ~all mass on one op per edge and labels the mixture's own predictions:
  masking the dominant op is what hurts, so op projection recovers it on all 14 edges of both cells;
* end to end on a ``darts`` smoke run: a valid genotype whose every node keeps the 2 in-edges of its
  topology step, each with the op of its op step; the same selection for the same seed (on S2, two
  ops per edge, for time); ``rsps`` (uniform alpha, updated) and ``blank`` (alpha fixed) as on
  NB201 (P10);
* the schedule: ``paper`` gives §8's 81 epochs with events at 0, 5, .., 80; ``smoke`` stays 1 epoch.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from supernetbench.harness.profiles import get_profile
from supernetbench.oneshot.train import RunSpec, train_supernet
from supernetbench.pipeline.evaluate import select_run
from supernetbench.selectors import SELECTORS
from supernetbench.selectors.perturb import Perturb, Projection, mixture_accuracy, projection_steps
from supernetbench.spaces import get_space
from supernetbench.spaces.darts.space import CELL_TYPES, EDGES, NODE_ROWS

from tests.test_darts_space import assert_valid_cell

pytestmark = pytest.mark.usefixtures("torch_single_thread")

#: a darts smoke run small enough for a perturb selection in the unit tests: C=2, N=1 (5 cells),
#: 32/32 images, one Stage-1 epoch and one fine-tuning epoch of 2 steps; 8 projection images
RUN = {"C": 2, "epochs": 1, "train_size": 32, "valid_size": 32, "batch_size": 16, "num_samples": 4,
       "valid_images": 16, "jacob_batch": 16, "score_images": 16, "score_batch_size": 16, "perturb_valid_images": 8}


def _uniform(space) -> dict[str, torch.Tensor]:
    return {k: torch.full(s, 1.0 / s[1], dtype=torch.float64) for k, s in space.weight_shapes.items()}


def _project_all(proj: Projection, mixed: dict[str, torch.Tensor]) -> list[dict]:
    return [rec for event in proj.plan.events for rec in proj.project_event(event, mixed)]


def _inputs(space, arch) -> dict[tuple[str, int], set[int]]:
    """(cell type, node) -> the node's two inputs in the arch."""
    return {(ct, node): {pairs[0][0], pairs[1][0]} for ct, node, pairs in space._pairs(tuple(arch))}


# ------------------------------------------------------------------------------------ the plan
def test_plan_is_darts_pt_on_darts():
    """``pt_project`` on DARTS: 14 op events (normal, then reduce), then 3 topology events on nodes
    3, 4, 5 (``nid2eids`` = rows 2-4, 5-8, 9-13); ``tune_epochs = proj_intv * (14 + 3 - 1) + 1``."""
    plan = get_space("darts").projection_plan()
    assert plan.events == ((("op", "normal"), ("op", "reduce")),) * 14 + ((("edge", "normal"), ("edge", "reduce")),) * 3
    for ct in CELL_TYPES:
        assert dict(plan.nodes[ct]) == {3: (2, 3, 4), 4: (5, 6, 7, 8), 5: (9, 10, 11, 12, 13)} and plan.keep == 2
    assert [plan.tune_epochs(e) for e in (0, 1, 2, 4, 5, 10, 25, 29)] == [0, 1, 2, 4, 17, 33, 81, 81]
    nb = get_space("nb201").projection_plan()  # NB201: 6 one-edge events, the profile's epochs as they are
    assert nb.events == ((("op", "cell"),),) * 6 and not nb.nodes
    assert [nb.tune_epochs(e) for e in (0, 1, 25, 27)] == [0, 1, 25, 27]


def test_paper_schedule_is_81_epochs_and_smoke_stays_tiny():
    """Protocol §8: proj_intv 5, 81 tuning epochs, events at the start of epochs 0, 5, .., 80."""
    plan = get_space("darts").projection_plan()
    for profile, epochs in (("paper", 81), ("reference", 81), ("smoke", 1)):
        assert plan.tune_epochs(Perturb.config_from_profile(get_profile(profile)).epochs) == epochs
    assert [s // 3 for s in projection_steps(81, 3, len(plan.events))] == list(range(0, 81, 5))
    assert projection_steps(1, 16, 17) == [k * 16 // 17 for k in range(17)]  # smoke: spread over one epoch


# ------------------------------------------------------------------------------------ op projection
@pytest.mark.parametrize("name", ["darts", "darts-s1", "darts-s3"])
def test_op_projection_fixes_the_op_whose_masking_hurts_most(name):
    space = get_space(name)
    rng = np.random.default_rng(1)
    value = {k: rng.uniform(0.5, 1.5, s) for k, s in space.weight_shapes.items()}
    mixed = {k: torch.softmax(torch.tensor(rng.normal(0, 1, s)), 1) for k, s in space.weight_shapes.items()}
    seen = []

    def accuracy(w) -> float:
        seen.append({k: v.clone() for k, v in w.items()})
        return float(sum((w[k].numpy() * value[k]).sum() for k in w))

    proj = Projection(space, space.projection_plan(), accuracy, np.random.default_rng(0))
    normal, reduce = proj.project_event(proj.plan.events[0], mixed)
    draw = np.random.default_rng(0)  # the edges: the seeded RNG over the undecided rows, normal first
    assert normal["edge_index"] == int(draw.choice(range(14))) and reduce["edge_index"] == int(draw.choice(range(14)))
    for ct, rec in (("normal", normal), ("reduce", reduce)):
        e = rec["edge_index"]
        cost = mixed[ct][e].numpy() * value[ct][e]  # what masking each op takes from the accuracy
        allowed = [space.discrete_op(ct, e, o) for o in range(len(cost))]
        want = int(np.argmax(np.where(allowed, cost, -np.inf)))
        assert proj.decided[ct] == {e: want} and rec["op"] == space.op_names(ct, e)[want]
        assert rec["edge"] == f"{ct}:{EDGES[e][0]}<-{EDGES[e][1]}" and rec["cell_type"] == ct
        base = float(sum((mixed[k].numpy() * value[k]).sum() for k in mixed))
        if ct == "reduce":  # the reduction step sees the normal cell's projection (DARTS-PT's order)
            e0, o0 = normal["edge_index"], proj.decided["normal"][normal["edge_index"]]
            row = mixed["normal"][e0].numpy()
            base += value["normal"][e0][o0] - (row * value["normal"][e0]).sum()
            assert all(float(w["normal"][e0].sum()) == 1.0 == float(w["normal"][e0, o0]) for w in seen[-len(cost):])
        np.testing.assert_allclose(list(rec["accuracy_without_op"].values()), base - cost, rtol=1e-12)
        assert rec["guard"] == (want != int(np.argmax(cost)))


def test_op_projection_ties_go_to_the_first_op():
    space = get_space("darts")
    proj = Projection(space, space.projection_plan(), lambda w: 50.0, np.random.default_rng(3))
    recs = _project_all(proj, _uniform(space))
    assert all(proj.decided[ct] == {e: 0 for e in range(14)} for ct in CELL_TYPES)
    assert {r["op"] for r in recs if "op" in r} == {"max_pool_3x3"}


def test_none_is_never_fixed_in_s3():
    """S3's ``none`` ranks first everywhere here; the next op is fixed instead (harness rule, ``guard``)."""
    space = get_space("darts-s3")
    value = {k: np.tile([100.0, 1.0, 2.0], (14, 1)) for k in CELL_TYPES}  # none, skip_connect, sep_conv_3x3
    proj = Projection(space, space.projection_plan(),
                      lambda w: float(sum((w[k].numpy() * value[k]).sum() for k in w)), np.random.default_rng(0))
    recs = _project_all(proj, _uniform(space))
    ops = [r for r in recs if "op" in r]
    assert len(ops) == 28 and all(r["op"] == "sep_conv_3x3" and r["guard"] for r in ops)
    assert_valid_cell(space, proj.arch())


def test_op_projection_on_the_network_recovers_the_dominant_ops():
    """Alpha puts ~all mass on one op per edge, labels are the mixture's own predictions: masking a
    negligible op changes nothing (100 %), masking the dominant one is what hurts."""
    space = get_space("darts-s2")
    torch.manual_seed(0)
    net = space.build_supernet(get_profile("smoke", {"C": 2}), 10)
    dominant = {k: np.random.default_rng(i).integers(0, 2, 14) for i, k in enumerate(CELL_TYPES)}
    mixed = {}
    for k in CELL_TYPES:
        alpha = torch.full((14, 2), -8.0, dtype=torch.float64)
        alpha[torch.arange(14), torch.as_tensor(dominant[k])] = 8.0
        mixed[k] = torch.softmax(alpha, 1)
    x = torch.randn(24, 3, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(1))

    def predict() -> torch.Tensor:  # batch statistics over the projection batches of 8
        with torch.no_grad():
            net.train()
            return torch.cat([net(x[i:i + 8], mixed) for i in range(0, len(x), 8)])

    with torch.no_grad():
        net.classifier.bias -= predict().mean(0)  # centred logits: varied predictions
    y = predict().argmax(1)
    assert len(y.unique()) >= 4 and mixture_accuracy(net, mixed, x, y, 8) == 100.0
    proj = Projection(space, space.projection_plan(), lambda w: mixture_accuracy(net, w, x, y, 8),
                      np.random.default_rng(0))
    recs = [rec for event in proj.plan.events[:14] for rec in proj.project_event(event, mixed)]
    assert all(proj.decided[k] == dict(enumerate(dominant[k].tolist())) for k in CELL_TYPES)
    for r in recs:
        acc = r["accuracy_without_op"]
        assert acc[r["op"]] < 100.0 == min(v for o, v in acc.items() if o != r["op"]) and not r["guard"]


# ------------------------------------------------------------------------------------ topology projection
def _importance_accuracy(importance):
    """The summed importance of the edges present (a row with any weight)."""
    return lambda w: float(sum(importance[k][(w[k] != 0).any(1).numpy()].sum() for k in w))


def test_topology_projection_keeps_the_two_most_important_in_edges():
    space = get_space("darts")
    rng = np.random.default_rng(2)
    importance = {k: rng.permutation(14).astype(float) for k in CELL_TYPES}
    proj = Projection(space, space.projection_plan(), _importance_accuracy(importance), np.random.default_rng(5))
    recs = _project_all(proj, _uniform(space))
    topo = [r for r in recs if "node" in r]
    assert [r["cell_type"] for r in topo] == ["normal", "reduce"] * 3
    assert all(sorted(r["node"] for r in topo if r["cell_type"] == k) == [3, 4, 5] for k in CELL_TYPES)
    arch = proj.arch()
    assert_valid_cell(space, arch)
    inputs = _inputs(space, arch)
    for k in CELL_TYPES:
        assert inputs[(k, 2)] == {0, 1}
        for node in (3, 4, 5):
            rows = NODE_ROWS[node]
            by_importance = sorted(range(node), key=lambda j: -importance[k][rows[j]])
            assert inputs[(k, node)] == set(by_importance[:2])
            rec = next(r for r in topo if r["cell_type"] == k and r["node"] == node)
            assert rec["deleted_edges"] == [f"{k}:{node}<-{j}" for j in reversed(by_importance[2:])]  # least first
        w = proj.weights(_uniform(space))[k]  # deleted rows are 0, every kept row a one-hot
        present = (w != 0).any(1)
        assert all(int(present[list(rows)].sum()) == 2 for rows in NODE_ROWS.values())
        assert torch.equal(w[present].sum(1), torch.ones(8, dtype=torch.float64))


def test_topology_ties_delete_the_later_edge():
    """``project_edge``: ``not compare(crit, extremum)`` lets the later of equal edges be deleted."""
    space = get_space("darts")
    proj = Projection(space, space.projection_plan(), lambda w: 1.0, np.random.default_rng(0))
    _project_all(proj, _uniform(space))
    assert all(inp == {0, 1} for inp in _inputs(space, proj.arch()).values())
    assert proj.removed == {k: {4, 7, 8, 11, 12, 13} for k in CELL_TYPES}


# ------------------------------------------------------------------------------------ end to end
def _perturb(tmp_path, algo: str, space: str = "darts", seed: int = 0):
    spec = RunSpec(algo, "cifar10", 0, get_profile("smoke", RUN), space=space)
    run = train_supernet(spec, runs_root=tmp_path, device="cpu", progress=False)
    return select_run(run.path, ["perturb"], seed=seed, device="cpu")["perturb"], run


def test_perturb_on_a_darts_smoke_run_selects_a_valid_genotype(tmp_path):
    space = get_space("darts")
    sel, run = _perturb(tmp_path, "darts")
    SELECTORS.get("perturb").check_space(space)
    arch = space.parse(sel.arch)
    assert_valid_cell(space, arch) and space.format(arch) == sel.arch and sel.index is None and sel.test_acc is None
    d = sel.details
    assert d["epochs"] == 1 and d["fine_tune_steps"] == 2 and d["projection_images"] == 8
    assert d["initial_alpha"] == "learned alpha of the run" and d["update_alpha"]
    ops = [e for e in d["events"] if "op" in e]
    topo = [e for e in d["events"] if "node" in e]
    assert len(ops) == 28 and len(topo) == 6 and d["edge_order"] == [e["edge"] for e in ops]
    for k in CELL_TYPES:
        assert sorted(e["edge_index"] for e in ops if e["cell_type"] == k) == list(range(14))
        assert sorted(e["node"] for e in topo if e["cell_type"] == k) == [3, 4, 5]
    steps = projection_steps(1, 2, 17)  # each event: its normal step, then its reduce step
    assert [e["step"] for e in d["events"]] == [s for s in steps for _ in CELL_TYPES]
    # every node keeps the 2 in-edges of its topology step, each with the op its op step fixed
    fixed = {e["edge"]: e["op"] for e in ops}
    inputs = _inputs(space, arch)
    genotype = space.genotype(arch)
    for k in CELL_TYPES:
        kept = {2: [f"{k}:2<-0", f"{k}:2<-1"], **{e["node"]: e["kept_edges"] for e in topo if e["cell_type"] == k}}
        for node, labels in kept.items():
            assert inputs[(k, node)] == {int(lab.rsplit("<-", 1)[1]) for lab in labels}
            for lab in labels:
                assert (fixed[lab], int(lab.rsplit("<-", 1)[1])) in genotype[k]


def test_perturb_is_a_function_of_the_seed(tmp_path):
    """The same run and seed: the same selection, fine-tuning included; another seed: another edge
    order (darts-s2, two ops per edge, keeps the three selections cheap)."""
    a, run = _perturb(tmp_path, "darts", "darts-s2")
    b, again = _perturb(tmp_path, "darts", "darts-s2")  # the finished run is reused
    assert again.path == run.path and a.details["fine_tune_steps"] == 2
    assert a.arch == b.arch and json.dumps(a.details, sort_keys=True) == json.dumps(b.details, sort_keys=True)
    c, _ = _perturb(tmp_path, "darts", "darts-s2", seed=1)
    assert c.details["edge_order"] != a.details["edge_order"]


@pytest.mark.parametrize("algo, source, updated", [("rsps", "uniform (the method learns no alpha)", True),
                                                   ("blank", "learned alpha of the run", False),
                                                   ("blank-", "learned alpha of the run", False)])
def test_rsps_and_blank_as_on_nb201(tmp_path, algo, source, updated):
    """P10: a method without alpha starts from uniform weights and alpha is updated; ``blank`` keeps
    its alpha fixed ("Perturb w/ fix alpha"). darts-s2 keeps the network small."""
    space = get_space("darts-s2")
    sel, run = _perturb(tmp_path, algo, "darts-s2", seed=3)
    assert_valid_cell(space, space.parse(sel.arch))
    assert sel.details["initial_alpha"] == source and sel.details["update_alpha"] is updated
    assert len(sel.details["events"]) == 34


def test_s4_noise_draws_do_not_depend_on_what_ran_before(tmp_path):
    """S4's ``noise`` op draws from torch's global generator: a selection seeds it with its own seed (and
    restores it), so a study worker's earlier tasks never change a result (issue 18: before, darts and
    darts- at beta = 0 - the same supernet - gave different perturb genotypes on S4)."""
    spec = RunSpec("darts", "cifar10", 0, get_profile("smoke", RUN), space="darts-s4")
    run = train_supernet(spec, runs_root=tmp_path, device="cpu", progress=False)
    out = []
    for state in (1, 2):
        torch.manual_seed(state)
        before = torch.get_rng_state()
        out.append(select_run(run.path, ["perturb", "valid"], seed=0, device="cpu"))
        assert torch.equal(torch.get_rng_state(), before)  # restored for the caller
    for name in ("perturb", "valid"):
        assert out[0][name].arch == out[1][name].arch
        assert json.dumps(out[0][name].details, sort_keys=True) == json.dumps(out[1][name].details, sort_keys=True)
