"""The DARTS spaces' TrainedOracle (protocol §8): content keys, profiles, atomic per-epoch checkpoints,
a killed training resuming to the numbers of an uninterrupted one, damaged records. Tiny float64
trainings on synthetic images (seconds)."""
from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pytest
import torch

from supernetbench.harness.store import CorruptFileError
from supernetbench.spaces import TrainedOracle, get_space
from supernetbench.spaces.darts import oracle_store
from supernetbench.spaces.darts.oracle import (
    ORACLE_PROFILES, OracleConfig, get_oracle_profile, oracle_profile_name, train_genotype,
)
from supernetbench.spaces.darts.oracle_store import BEST_LABEL, DartsOracle, code_source, code_version
from supernetbench.spaces.darts.space import GenotypeError
from tests.test_darts_space import DARTS_V2

#: 3 epochs so that a training can be stopped in the middle; float64: bit-reproducible
#: a genotype of darts-s2 (skip_connect / sep_conv_3x3 on every edge)
S2_PAIRS = "[('sep_conv_3x3', 0), ('skip_connect', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 2), " \
           "('skip_connect', 1), ('sep_conv_3x3', 3), ('sep_conv_3x3', 0), ('skip_connect', 4)]"
S2_CELL = f"Genotype(normal={S2_PAIRS}, normal_concat=[2, 3, 4, 5], reduce={S2_PAIRS}, reduce_concat=[2, 3, 4, 5])"
TINY = OracleConfig(epochs=3, batch_size=16, C=4, layers=3, train_images=48, test_images=32, dtype="float64")


@pytest.fixture
def data(monkeypatch):
    """Synthetic uint8 CIFAR-shaped images in place of the dataset (the oracle's loader is patched)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (80, 3, 32, 32), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (80,), generator=g)
    tensors = (x[:48], y[:48], x[48:], y[48:])
    monkeypatch.setattr(oracle_store, "_data", lambda dataset, root: tensors)
    return tensors


@pytest.fixture
def oracle(tmp_path, data, torch_single_thread):
    return DartsOracle(get_space("darts"), TINY, root=tmp_path / "a")


def swapped(genotype: str) -> str:
    """The same cell with the two input pairs of the normal cell's first node in the other order."""
    space = get_space("darts")
    a = list(space.parse(genotype))
    a[0:2], a[2:4] = a[2:4], a[0:2]
    return space.format(a)


# ------------------------------------------------------------------------------------------ profiles
def test_profiles_are_frozen_presets():
    assert get_oracle_profile("paper") == OracleConfig()  # protocol §8
    smoke = get_oracle_profile("smoke")
    assert smoke.epochs <= 2 and smoke.train_images <= 512 and smoke.C <= 8 and smoke.dtype == "float64"
    assert (smoke.cutout, smoke.auxiliary_weight, smoke.drop_path_prob) == (16, 0.4, 0.3)  # every §8 mechanism on
    with pytest.raises(AttributeError):
        smoke.epochs = 5  # type: ignore[misc]
    with pytest.raises(ValueError, match="valid choices: paper, smoke"):
        get_oracle_profile("fast")
    assert oracle_profile_name(replace(ORACLE_PROFILES["smoke"], seed=3)) == "smoke"
    assert oracle_profile_name(TINY) is None
    with pytest.raises(ValueError, match="dtype"):
        OracleConfig(dtype="float16")


# ------------------------------------------------------------------------------------------ keys
def test_key_is_content_addressed(tmp_path):
    darts = get_space("darts")
    o = DartsOracle(darts, "smoke", root=tmp_path)
    assert isinstance(o, TrainedOracle) and isinstance(darts.benchmark(), TrainedOracle)
    k = o.key(DARTS_V2, "cifar10")
    assert len(k) == 16 and k == o.key(darts.parse(DARTS_V2), "cifar10", 0)
    assert o.key(swapped(DARTS_V2), "cifar10") == k  # one cell, one result (the canonical genotype is trained)
    others = {o.key(DARTS_V2, "cifar10", 1), o.key(DARTS_V2, "cifar100"),
              DartsOracle(darts, "paper", root=tmp_path).key(DARTS_V2, "cifar10"),
              DartsOracle(get_space("darts-s2"), "smoke").key(S2_CELL, "cifar10")}
    assert k not in others and len(others) == 4
    assert o.path(DARTS_V2, "cifar10") == tmp_path / "oracle" / k
    ident = o.identity(DARTS_V2, "cifar10")
    assert ident["space"] == "darts" and ident["config"]["epochs"] == 2 and ident["code"] == code_version()
    with pytest.raises(GenotypeError, match="malformed genotype"):
        o.key("Genotype(normal=[", "cifar10")
    with pytest.raises(ValueError, match="trains on CIFAR"):
        o.key(DARTS_V2, "imagenet16-120")


def test_code_version_ignores_docs_and_comments(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "sbn_m1.py").write_text('"""Doc §8 é."""\nx = "§"  # c §\ndef f():\n    """ü doc\n    more §"""; y = 1\n'
                                        '    return "#no"  # trailing\n', encoding="utf-8")
    (tmp_path / "sbn_m2.py").write_text('"""Other."""\n\nx = "§"\ndef f():\n    """new"""; y = 1\n\n    return "#no"\n',
                                        encoding="utf-8")
    assert code_source("sbn_m1") == code_source("sbn_m2") == 'x = "§"\ndef f():\n    ; y = 1\n    return "#no"'
    src = code_source("supernetbench.spaces.darts.oracle")
    assert "def train_genotype(" in src and "Protocol §8 (the papers'" not in src
    assert "# weights_only" not in src and "def cosine_lr(base: float" in src
    assert code_version()["version"] == "oracle-v1" and len(code_version()["source_sha256"]) == 64


def test_code_change_changes_the_key(tmp_path, monkeypatch):
    o = DartsOracle(get_space("darts"), "smoke", root=tmp_path)
    k = o.key(DARTS_V2, "cifar10")
    monkeypatch.setattr(oracle_store, "code_version", lambda: {"version": "oracle-v1", "source_sha256": "0" * 64})
    assert o.key(DARTS_V2, "cifar10") != k


# ------------------------------------------------------------------------------------------ training
def test_train_stores_and_reuses(oracle, tmp_path):
    assert oracle.cached(DARTS_V2, "cifar10") is None
    res, reused = oracle.train_result(DARTS_V2, "cifar10")
    assert not reused and len(res.test_acc) == 3 and res.final_test_acc == res.test_acc[-1]
    assert res.best_test_acc == max(res.test_acc) and res.config["dtype"] == "float64"
    assert oracle.cached(DARTS_V2, "cifar10") == res.final_test_acc == oracle.train(swapped(DARTS_V2), "cifar10")
    d = oracle.path(DARTS_V2, "cifar10")
    assert sorted(p.name for p in d.iterdir()) == [".lock", "checkpoint.pt", "config.json", "log.jsonl", "result.json"]
    rec = json.loads((d / "result.json").read_text())
    assert rec["key"] == d.name and rec["labels"]["best_test_acc"] == BEST_LABEL and len(rec["sha256"]) == 64
    assert json.loads((d / "config.json").read_text())["genotype"] == get_space("darts").format(
        oracle.canonical(DARTS_V2))
    assert oracle.epochs_done(DARTS_V2, "cifar10") == 3
    assert oracle.train_result(DARTS_V2, "cifar10") == (res, True)
    assert not list(d.glob(".*.tmp"))  # atomic writes leave no temp file


def test_a_killed_training_resumes_to_the_same_numbers(oracle, tmp_path):
    whole, _ = DartsOracle(get_space("darts"), TINY, root=tmp_path / "b").train_result(DARTS_V2, "cifar10")
    with pytest.raises(KeyboardInterrupt):
        oracle.train_result(DARTS_V2, "cifar10", stop_after_epoch=0)
    d = oracle.path(DARTS_V2, "cifar10")
    assert (d / "checkpoint.pt").is_file() and not (d / "result.json").exists()
    assert oracle.cached(DARTS_V2, "cifar10") is None and oracle.epochs_done(DARTS_V2, "cifar10") == 1
    with pytest.raises(KeyboardInterrupt):  # a second interruption, after epoch 2 of 3
        oracle.train_result(DARTS_V2, "cifar10", stop_after_epoch=1)
    resumed, reused = oracle.train_result(DARTS_V2, "cifar10")
    assert not reused
    for f in ("test_acc", "train_loss", "lr", "drop_path", "final_test_acc", "best_test_acc", "best_epoch", "params"):
        assert getattr(resumed, f) == getattr(whole, f), f
    a = torch.load(d / "checkpoint.pt", weights_only=True)["net"]
    b = torch.load(tmp_path / "b" / "oracle" / d.name / "checkpoint.pt", weights_only=True)["net"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # bit-identical weights


def test_a_damaged_result_is_rebuilt_from_the_checkpoint(oracle, capsys):
    res, _ = oracle.train_result(DARTS_V2, "cifar10")
    path = oracle.path(DARTS_V2, "cifar10") / "result.json"
    rec = json.loads(path.read_text())
    rec["result"]["final_test_acc"] = 99.0  # edited: the checksum no longer matches
    path.write_text(json.dumps(rec))
    assert oracle.cached(DARTS_V2, "cifar10") is None
    assert "checksum does not match" in capsys.readouterr().err
    again, reused = oracle.train_result(DARTS_V2, "cifar10")
    assert not reused and again == res  # same per-epoch seconds too: read from the checkpoint, not retrained
    path.write_text("{not json")
    assert oracle.cached(DARTS_V2, "cifar10") is None and "unreadable" in capsys.readouterr().err


def test_a_foreign_or_damaged_checkpoint_is_refused(oracle, tmp_path, data):
    with pytest.raises(KeyboardInterrupt):
        oracle.train_result(DARTS_V2, "cifar10", stop_after_epoch=0)
    ck = oracle.path(DARTS_V2, "cifar10") / "checkpoint.pt"
    arch = oracle.canonical(DARTS_V2)  # the arch the oracle trained
    with pytest.raises(CorruptFileError, match="checkpoint of another training"):
        train_genotype(arch, data, replace(TINY, seed=1), checkpoint=ck)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(ck.read_bytes()[:1000])
    with pytest.raises(CorruptFileError, match="cannot resume"):
        train_genotype(arch, data, TINY, checkpoint=bad)
    other = tmp_path / "other.pt"
    shutil.copy(ck, other)
    assert train_genotype(arch, data, TINY, checkpoint=other).test_acc[:1] == \
        tuple(json.loads(line)["test_acc"] for line in
              (oracle.path(DARTS_V2, "cifar10") / "log.jsonl").read_text().splitlines())


# ------------------------------------------------------------------------------------------ command line
def test_cli_oracle_trains_then_reuses(tmp_path, data, torch_single_thread):
    from tests.helpers import run_cli

    argv = ("oracle", "--space", "darts", "--arch", swapped(DARTS_V2), "--profile", "smoke", "--store", str(tmp_path),
            "--device", "cpu")
    rc, out, err = run_cli(*argv, "--json")
    assert rc == 0, err
    rec = json.loads(out)
    assert not rec["reused"] and rec["epochs"] == 2 and rec["profile"] == "smoke" and rec["dataset"] == "cifar10"
    assert rec["final_test_acc"] == rec["test_acc"][-1] and rec["best_test_acc"] == max(rec["test_acc"])
    assert rec["labels"]["best_test_acc"] == BEST_LABEL and rec["ground_truth"]["kind"] == "trained oracle"
    assert rec["arch"] == get_space("darts").format(get_space("darts").canonical(get_space("darts").parse(DARTS_V2)))
    assert rec["result"] == str(tmp_path / "oracle" / rec["key"] / "result.json")
    rc, out, err = run_cli(*argv)
    assert rc == 0 and f"final-epoch test accuracy: {rec['final_test_acc']:.2f}%" in out
    assert f"{BEST_LABEL}: {rec['best_test_acc']:.2f}% (epoch {rec['best_epoch'] + 1} of 2)" in out
    assert "(reused)" in out and "(canonical: each node's inputs sorted)" in out
    rc, out, _ = run_cli(*argv, "--seed", "1", "--set", "epochs=1", "--json")  # a custom config: its own key
    assert rc == 0 and json.loads(out)["profile"] == "custom" and json.loads(out)["epochs"] == 1


def test_cli_oracle_errors(tmp_path, monkeypatch):
    from tests.helpers import error_line, run_cli
    from tests.toyspace import register

    def err(*argv):
        rc, _, e = run_cli("oracle", "--store", str(tmp_path), *argv)
        assert rc == 2
        return error_line(e)

    assert "has a table" in err("--arch", DARTS_V2) and "use the table" in err("--space", "nb201", "--arch", "x")
    assert "--arch: malformed genotype" in err("--space", "darts", "--arch", "Genotype(normal=[")
    assert "is not a candidate of normal edge" in err("--space", "darts-s2", "--arch", DARTS_V2)
    assert "valid choices: paper, smoke" in err("--space", "darts", "--arch", DARTS_V2, "--profile", "fast")
    assert "not an oracle setting" in err("--space", "darts", "--arch", DARTS_V2, "--set", "seed=2")
    assert "trains on CIFAR" in err("--space", "darts", "--arch", DARTS_V2, "--dataset", "imagenet16-120")
    register(monkeypatch)
    assert "has no oracle" in err("--space", "toy", "--arch", "x")
    assert not (tmp_path / "oracle").exists()


def test_float32_resume_is_bit_identical_too(data, tmp_path, torch_single_thread):
    """float32 on CPU (channels-last, the paper profile's path) resumes to the same numbers as well."""
    cfg = replace(TINY, dtype="float32")
    arch = get_space("darts").parse(DARTS_V2)
    whole = train_genotype(arch, data, cfg, checkpoint=tmp_path / "a.pt")
    with pytest.raises(KeyboardInterrupt):
        train_genotype(arch, data, cfg, checkpoint=tmp_path / "b.pt", stop_after_epoch=1)
    resumed = train_genotype(arch, data, cfg, checkpoint=tmp_path / "b.pt")
    assert (resumed.train_loss, resumed.test_acc) == (whole.train_loss, whole.test_acc)
    a, b = (torch.load(tmp_path / f, weights_only=True)["net"] for f in ("a.pt", "b.pt"))
    assert all(torch.equal(a[k], b[k]) for k in a) and a["classifier.weight"].dtype == torch.float32
