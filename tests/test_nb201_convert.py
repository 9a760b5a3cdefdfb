"""``nb201-convert`` on the official formats: small files in the official structure (a few archs),
built with the official packages' own classes, read back through their APIs and converted.

NATS-Bench ``tss`` (package ``nats_bench``): the ``*-simple`` directory (``meta.pickle.pbz2`` with the
arch strings, one ``<index:06d>.pickle.pbz2`` per arch holding ``{hp: ArchResults.state_dict()}``)
and the single-file ``.pickle.pbz2`` (``{meta_archs, arch2infos, evaluated_indexes}``). NAS-Bench-201
(package ``nas-bench-201``, module ``nas_201_api``): the ``.pth`` release, a ``torch.save``d dict
``{meta_archs, arch2infos: {i: {"less": ..., "full": ...}}, evaluated_indexes}``.
"""
from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from supernetbench.cli import main
from supernetbench.spaces.nb201 import benchmark as B

ARCHS = ["|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
         "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
         "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"]
SEEDS = (777, 888)
EPOCHS = 200
#: NB201 dataset key -> evaluation sets it has (protocol §5.3)
EVAL_SETS = {"cifar10-valid": ("x-valid", "ori-test"), "cifar10": ("ori-test",),
             "cifar100": ("x-valid", "x-test", "ori-test"), "ImageNet16-120": ("x-valid", "x-test", "ori-test")}


def _acc(i: int, dataset: str, setname: str, seed: int) -> float:
    """A distinct, known accuracy per (arch, dataset, set, seed)."""
    d = list(EVAL_SETS).index(dataset)
    s = ("x-valid", "x-test", "ori-test").index(setname)
    return 30.0 + 10 * i + 3 * d + 1.5 * s + (0.25 if seed == SEEDS[1] else 0.0)


def _arch_results(pkg, i: int, epochs: int):
    res = pkg.ArchResults(i, ARCHS[i])
    for ds, sets in EVAL_SETS.items():
        for seed in SEEDS:
            r = pkg.ResultsCount(ds, None, [50.0] * epochs, [1.0] * epochs, 0.5, 10.0,
                                 {"channel": 16, "num_cells": 5, "arch_str": ARCHS[i], "class_num": 10}, seed,
                                 epochs, None)
            accs = {f"{n}@{e}": _acc(i, ds, n, seed) if e == epochs - 1 else 0.0 for n in sets for e in range(epochs)}
            r.update_eval(accs, {k: 1.0 for k in accs}, {k: 0.1 for k in accs})
            res.update(ds, seed, r)
    return res


def _expected(i: int, dataset: str, setname: str) -> float:
    return float(np.mean([_acc(i, dataset, setname, s) for s in SEEDS]))


def _check_rows(rows: list[dict]) -> None:
    assert [r["ArchitectureString"] for r in rows] == ARCHS
    for i, r in enumerate(rows):
        assert float(r["CIFAR10TestAccuracy200Epochs"]) == pytest.approx(_expected(i, "cifar10", "ori-test"))
        assert float(r["CIFAR100TestAccuracy200Epochs"]) == pytest.approx(_expected(i, "cifar100", "x-test"))
        assert float(r["CIFAR100OriTestAccuracy200Epochs"]) == pytest.approx(_expected(i, "cifar100", "ori-test"))
        assert float(r["ImageNetTestAccuracy200Epochs"]) == pytest.approx(_expected(i, "ImageNet16-120", "x-test"))
        assert float(r["ImageNetOriTestAccuracy200Epochs"]) == pytest.approx(
            _expected(i, "ImageNet16-120", "ori-test"))


@pytest.fixture(scope="module")
def nats_dir(tmp_path_factory):
    nats = pytest.importorskip("nats_bench")
    root = tmp_path_factory.mktemp("nats") / "NATS-tss-v1_0-3ffb9-simple"
    root.mkdir()
    nats.pickle_save({"meta_archs": ARCHS, "total_archs": len(ARCHS)}, str(root / "meta.pickle"))
    for i in range(len(ARCHS)):
        nats.pickle_save({"200": _arch_results(nats, i, EPOCHS).state_dict(), "12": _arch_results(nats, i, 12)
                          .state_dict()}, str(root / f"{i:06d}.pickle"))
    return root


@pytest.fixture(scope="module")
def nb201_pth(tmp_path_factory):
    api = pytest.importorskip("nas_201_api")
    import torch

    path = tmp_path_factory.mktemp("nb201") / "NAS-Bench-201-v1_1-096897.pth"
    torch.save({"meta_archs": ARCHS, "evaluated_indexes": list(range(len(ARCHS))),
                "arch2infos": {i: {"less": _arch_results(api, i, 12).state_dict(),
                                   "full": _arch_results(api, i, EPOCHS).state_dict()} for i in range(len(ARCHS))}},
               path)
    return path


def test_nats_simple_directory(nats_dir, tmp_path):
    out = B.convert_official(nats_dir, tmp_path / "t.csv", trust_pickle=True, require_full=False)
    _check_rows(list(csv.DictReader(io.StringIO(out.read_text()))))
    assert (tmp_path / "t.csv.sha256").read_text().split()[0] == B.file_sha256(out)


def test_nats_single_file(tmp_path):
    nats = pytest.importorskip("nats_bench")
    path = tmp_path / "NATS-tss-v1_0-3ffb9-full.pickle"
    nats.pickle_save({"meta_archs": ARCHS, "evaluated_indexes": list(range(len(ARCHS))),
                      "arch2infos": {i: {"200": _arch_results(nats, i, EPOCHS).state_dict()}
                                     for i in range(len(ARCHS))}}, str(path))
    _check_rows(B.read_official(str(path) + ".pbz2", trust_pickle=True))


def test_nb201_pth_release(nb201_pth, tmp_path):
    out = B.convert_official(nb201_pth, tmp_path / "t.csv", trust_pickle=True, require_full=False)
    _check_rows(list(csv.DictReader(io.StringIO(out.read_text()))))


def test_the_cli_refuses_partial_releases_and_untrusted_or_missing_files(nb201_pth, nats_dir, tmp_path, capsys):
    for argv, msg in ((["--source", str(nb201_pth)], "--trust-pickle"),
                      (["--source", str(nats_dir), "--trust-pickle"], "holds 3 architectures"),
                      (["--source", str(tmp_path / "nope"), "--trust-pickle"], "not found")):
        assert main(["nb201-convert", *argv, "--out", str(tmp_path / "x.csv")]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and msg in err and "\n" not in err
    assert not (tmp_path / "x.csv").exists()


def test_the_packages_need_no_torchvision():
    import subprocess
    import sys

    code = ("import sys, nats_bench, nas_201_api; from supernetbench.spaces.nb201 import benchmark; "
            "print(json.dumps('torchvision' in sys.modules))").replace("print(", "import json; print(")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    if r.returncode and "No module named" in r.stderr:
        pytest.skip(r.stderr.strip().splitlines()[-1])
    assert r.returncode == 0 and json.loads(r.stdout) is False, r.stderr
