"""Issue 15's fidelity options: the ground-truth split per statistic (protocol P8), the papers'
jacob_cov BN/batch behaviour (P5), and that adding their Profile fields moved no stored key."""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from supernetbench.cli import main
from supernetbench.spaces.nb201 import benchmark as B
from supernetbench.pipeline.artifacts import stage2_fields
from supernetbench.harness.data import SearchData
from supernetbench.oneshot.train import RunSpec
from supernetbench.spaces.nb201.supernet import build_supernet
from supernetbench.spaces.nb201.network import from_supernet
from supernetbench.harness.profiles import (HIDDEN_DEFAULTS, LATER_FIELDS, PROFILES, STAGE1_FIELDS, get_profile,
                                            profile_from_dict)
from supernetbench.harness.proxies import candidate_batches, jacob_cov_from_jacobian, jacob_cov_scores, jacob_cov_scores_p5
from supernetbench.harness.store import content_hash
from supernetbench.spaces.nb201.supernet import SupernetConfig

sys.path.insert(0, str(Path(__file__).parents[1] / "suites"))
from casegrid import REFERENCE_DIR, case_profile, stale_fields  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_single_thread")


# ------------------------------------------------------------------ the new fields are invisible at default
def test_new_profile_fields_are_invisible_at_their_default():
    for name in ("smoke", "demo", "paper"):
        p = PROFILES[name]
        assert all(getattr(p, f) == v for f, v in HIDDEN_DEFAULTS.items())
        full = dataclasses.asdict(p)
        assert p.to_dict() == {k: v for k, v in full.items() if k not in HIDDEN_DEFAULTS}
        assert set(p.stage1_dict()) <= set(STAGE1_FIELDS) - set(HIDDEN_DEFAULTS)
        assert set(stage2_fields(p)) == set(LATER_FIELDS) - set(HIDDEN_DEFAULTS)
    # every stored suite reference still matches its case's profile (no "stale")
    for ref in sorted(REFERENCE_DIR.glob("*.json")):
        d = json.loads(ref.read_text())
        assert stale_fields(d, case_profile(d["case"].rsplit("-", 1)[-1])) == [], ref.name
    # the run key is what it was: the hash of the same dict as before the fields existed
    spec = RunSpec("darts", profile=get_profile("smoke"))
    assert spec.key() == content_hash({**spec.to_dict(), "profile": spec.profile.stage1_dict(), "code": spec.code()},
                                      "0.1.0")
    assert "gt_split" not in json.dumps(spec.to_dict()) and "jacob_bn" not in json.dumps(spec.to_dict())


def test_a_set_field_is_visible_keys_and_round_trips():
    smoke = get_profile("smoke")
    p = smoke.replace(gt_split="papers")
    assert p.to_dict()["gt_split"] == "papers" and p.stage1_dict()["gt_split"] == "papers"
    assert RunSpec("darts", profile=p).key() != RunSpec("darts", profile=smoke).key()  # rsps-biased trains on it
    q = smoke.replace(jacob_bn="first-train")
    assert stage2_fields(q)["jacob_bn"] == "first-train" and RunSpec("darts", profile=q).key() == RunSpec(
        "darts", profile=smoke).key()  # Stage 2 only
    ref = get_profile("reference")
    assert ref.gt_split == "papers" and ref.jacob_bn == "first-train"
    assert get_profile("paper").gt_split == "table" and get_profile("paper").jacob_bn == "train"
    assert profile_from_dict(ref.to_dict()) == ref
    old = {k: v for k, v in ref.to_dict().items() if k not in HIDDEN_DEFAULTS}  # a run stored before the fields
    assert profile_from_dict(old).gt_split == "table" and profile_from_dict(old).jacob_bn == "train"
    for bad in ({"gt_split": "test"}, {"jacob_bn": "eval"}):
        with pytest.raises(ValueError, match="must be one of"):
            get_profile("smoke", bad)


# ------------------------------------------------------------------ ground-truth splits (P8)
@pytest.fixture(scope="module")
def both_splits(gt, tmp_path_factory):
    """The shipped table plus ori-test columns for CIFAR-100 / ImageNet16-120 (x-test + 1 / + 2)."""
    path = tmp_path_factory.mktemp("gt") / "table.csv"
    rows = list(csv.DictReader(io.StringIO(Path(gt.path).read_text())))
    cols = list(rows[0])
    c100, im = B.EXTRA_COLUMNS[("cifar100", "ori-test")], B.EXTRA_COLUMNS[("imagenet16-120", "ori-test")]
    buf = io.StringIO()
    w = csv.DictWriter(buf, [*cols[:3], c100, im, *cols[3:]], lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({**r, c100: min(100.0, float(r["CIFAR100TestAccuracy200Epochs"]) + 1),
                    im: min(100.0, float(r["ImageNetTestAccuracy200Epochs"]) + 2)})
    path.write_text(buf.getvalue())
    return B.load_ground_truth(path, verify=False)


def test_splits_of_the_shipped_table(gt):
    assert gt.splits("cifar10") == ["ori-test"] and gt.splits("cifar100") == ["x-test"]
    assert gt.test_acc("cifar100", "x-test") is gt.test_acc("cifar100")
    for ds in B.DATASETS:  # papers: each statistic on the split the table has
        assert B.describe_splits(gt, ds, "papers") == {"stage1": gt.splits(ds)[0], "stage2": gt.splits(ds)[0]}
        assert gt.accuracy(ds, "papers", "stage1") is gt.test_acc(ds)
    with pytest.raises(ValueError, match="no ori-test column for cifar100.*nb201-convert"):
        gt.accuracy("cifar100", "ori-test", "stage1")
    with pytest.raises(ValueError, match="no x-test column for cifar10"):
        B.resolve_split(gt, "cifar10", "x-test", "stage2")
    with pytest.raises(ValueError, match="unknown gt_split"):
        B.resolve_split(gt, "cifar10", "valtest", "stage2")


def test_a_table_with_both_splits(both_splits):
    g = both_splits
    assert g.splits("cifar100") == ["x-test", "ori-test"] and g.splits("cifar10") == ["ori-test"]
    x, o = g.test_acc("cifar100", "x-test"), g.test_acc("cifar100", "ori-test")
    assert np.allclose(np.minimum(100.0, x + 1), o)
    assert g.accuracy("cifar100", "papers", "stage1") is o and g.accuracy("cifar100", "papers", "stage2") is x
    assert g.accuracy("cifar100", "table", "stage1") is x and g.accuracy("cifar100", "ori-test", "stage2") is o
    rec = B.ground_truth_record(g, "imagenet16-120", "papers")
    assert rec["stage1_split"] == "ori-test" and rec["stage2_split"] == "x-test"
    assert rec["columns"] == {"stage1": "ImageNetOriTestAccuracy200Epochs", "stage2": "ImageNetTestAccuracy200Epochs"}
    assert B.describe_splits(g, "cifar10", "papers") == {"stage1": "ori-test", "stage2": "ori-test"}


def test_cli_names_the_split(gt, tmp_path, capsys):
    scores = tmp_path / "s.npy"
    np.save(scores, gt.test_acc("cifar10"))
    assert main(["metrics", "--dataset", "cifar10", "--scores", str(scores), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ground_truth"]["stage1_split"] == "ori-test" and out["kendall"] == pytest.approx(1.0)
    assert main(["metrics", "--dataset", "cifar10", "--scores", str(scores), "--gt-split", "x-test"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "no x-test column for cifar10" in err and "\n" not in err
    assert main(["data", "info", "--json"]) == 0
    items = {i["item"]: i for i in json.loads(capsys.readouterr().out)}
    assert items["cifar100"]["ground_truth"]["splits"] == {"x-test": "CIFAR100TestAccuracy200Epochs"}
    assert items["cifar10"]["ground_truth"]["default_split"] == "ori-test"


# ------------------------------------------------------------------ jacob_cov as the papers' code (P5)
def _warm_net(seed: int = 0) -> torch.nn.Module:
    """A tiny float64 supernet whose BN running statistics are not the initial (0, 1)."""
    torch.manual_seed(seed)
    net = build_supernet(SupernetConfig(C=2, N=1, num_classes=10), torch.float64).train()
    with torch.no_grad():
        for a in [(3, 2, 1, 3, 4, 2), (1, 3, 2, 3, 1, 2)]:
            net(torch.randn(8, 3, 32, 32, dtype=torch.float64) * 2 + 0.5, arch=a)
    return net


def _slow_jacob_cov(net, arch, x, train: bool) -> float:
    m = from_supernet(net, arch).train(train)
    xi = x.clone().requires_grad_(True)
    y = m(xi)
    y.backward(torch.ones_like(y))
    return jacob_cov_from_jacobian(xi.grad.reshape(len(x), -1).numpy())


def test_p5_first_candidate_train_mode_the_others_eval_mode():
    net = _warm_net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    archs = np.array([(3, 2, 1, 3, 4, 2), (3, 2, 1, 3, 4, 2), (1, 3, 2, 3, 1, 2), (2, 3, 3, 1, 3, 3)])
    g = torch.Generator().manual_seed(1)
    batches = [torch.randn(6, 3, 32, 32, generator=g, dtype=torch.float64) for _ in archs]
    got = jacob_cov_scores_p5(net, archs, batches)
    want = [_slow_jacob_cov(net, tuple(a), x, train=(i == 0)) for i, (a, x) in enumerate(zip(archs, batches))]
    np.testing.assert_allclose(got, want, rtol=1e-9)
    assert got[0] == pytest.approx(jacob_cov_scores(net, archs[:1], batches[0])[0], rel=1e-12)  # train mode
    assert got[1] != pytest.approx(jacob_cov_scores(net, archs[1:2], batches[1])[0], rel=1e-6)  # eval mode differs
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # the caller's buffers are kept


def test_p5_batches_are_fresh_per_candidate_and_seeded():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (40, 3, 32, 32), generator=g, dtype=torch.uint8)
    y = torch.randint(0, 10, (40,), generator=g)
    data = SearchData("cifar10", 10, 32, (0.5,) * 3, (0.25,) * 3, x[:20], y[:20], x[20:], y[20:], "random", "test")
    a = candidate_batches(data, 3, 8, seed=4, device="cpu", dtype=torch.float64)
    b = candidate_batches(data, 3, 8, seed=4, device="cpu", dtype=torch.float64)
    assert len(a) == 3 and all(t.shape == (8, 3, 32, 32) and t.dtype == torch.float64 for t in a)
    assert all(torch.equal(s, t) for s, t in zip(a, b))
    assert not torch.equal(a[0], a[1]) and not torch.equal(a[0], candidate_batches(data, 1, 8, seed=5, device="cpu",
                                                                                 dtype=torch.float64)[0])
    with pytest.raises(ValueError, match="jacob_batch"):
        candidate_batches(data, 1, 21, seed=0, device="cpu", dtype=torch.float64)


def test_requested_stage2_fields_win_over_a_reused_runs_stored_ones(gt):
    """A run is reused for any Stage-2 values (they are not in its key); the selectors must read the
    requested ones (e.g. ``--set jacob_bn=first-train``), not those stored in the run's config."""
    from types import SimpleNamespace

    from supernetbench.pipeline.evaluate import selection_context

    smoke = get_profile("smoke")
    run = SimpleNamespace(config={"profile": smoke.to_dict()}, seed=0, dataset="cifar10")
    asked = smoke.replace(jacob_bn="first-train", num_samples=7, epochs=99)  # epochs: Stage 1, the run's stays
    ctx = selection_context(run, gt, profile=asked)
    assert ctx.profile.jacob_bn == "first-train" and ctx.profile.num_samples == 7 and ctx.profile.epochs == smoke.epochs
    assert selection_context(run, gt).profile == smoke
