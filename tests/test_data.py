"""Tests for supernetbench.harness.data / augment: real packs (skipped without them) and tiny files
written here in the official on-disk formats."""
from __future__ import annotations

import codecs
import hashlib
import io
import json
import math
import pickle
import re
import tarfile

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from supernetbench.harness import data as D
from supernetbench.harness.store import shared_data_dirs
from supernetbench.harness.augment import random_crop_flip

try:
    from tests.helpers import CodePayload
except ImportError:  # pragma: no cover - run from inside tests/
    from helpers import CodePayload

SHARED = next((d for d in shared_data_dirs() if (d / "cifar10" / "cifar10-jpeg-pack.npz").is_file()), None)
needs_shared = pytest.mark.skipif(SHARED is None, reason="shared data (shared/data/cifar10 pack) not found "
                                                         "above the working directory")
PACK10 = SHARED / "cifar10" / "cifar10-jpeg-pack.npz" if SHARED else None
PACK100 = SHARED / "cifar100" / "cifar100-partial.npz" if SHARED else None


@pytest.fixture
def iso(tmp_path, monkeypatch):
    """Private cache, downloads disabled, no $SUPERNETBENCH_DATA."""
    monkeypatch.setenv("SUPERNETBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SUPERNETBENCH_OFFLINE", "1")
    monkeypatch.delenv("SUPERNETBENCH_DATA", raising=False)
    return tmp_path


def _rand_rows(rng, n, size=32):
    return rng.integers(0, 256, size=(n, 3 * size * size), dtype=np.uint8)


def write_cifar10_batches(d, n_per_batch=3, seed=0, label=None):
    """The official cifar-10-batches-py layout: Python-2 style pickles with bytes keys."""
    rng = np.random.default_rng(seed)
    d.mkdir(parents=True, exist_ok=True)
    rows, labels = [], []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        x = _rand_rows(rng, n_per_batch)
        y = [int(v) for v in rng.integers(0, 10, n_per_batch)] if label is None else [label] * n_per_batch
        with open(d / name, "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"data": x, b"labels": y,
                         b"filenames": [b"x.png"] * n_per_batch}, f, protocol=2)
        rows.append(x)
        labels.append(y)
    return np.concatenate(rows), np.concatenate(labels)


# ------------------------------------------------------------------------------ real CIFAR-10 pack
@needs_shared
def test_pack_subset_decode_matches_labels_and_exact_rows():
    with np.load(PACK10) as z:
        y_all, ei, ex = z["y_train"], z["exact_index_train"], z["exact_x_train"]
        ei_t, ex_t, y_test = z["exact_index_test"], z["exact_x_test"], z["y_test"]
    assert len(y_all) == 50_000 and set(np.unique(y_all)) == set(range(10))
    idx = np.concatenate([ei[:300], [0, 1, 49_999]])
    x, y = D.decode_cifar10_pack(PACK10, "train", idx)
    assert x.shape == (len(idx), 3, 32, 32) and x.dtype == np.uint8 and y.dtype == np.int64
    np.testing.assert_array_equal(y, y_all[idx])
    np.testing.assert_array_equal(x[:300], ex[:300].transpose(0, 3, 1, 2))
    # Without the overwrite the JPEG decode is close to the exact pixels: orientation/channel order right.
    xj, _ = D.decode_cifar10_pack(PACK10, "train", ei[:300], exact=False)
    mse = ((xj.astype(np.float64) - ex[:300].transpose(0, 3, 1, 2)) ** 2).mean(axis=(1, 2, 3))
    psnr = 10 * np.log10(255.0 ** 2 / np.maximum(mse, 1e-9))
    assert np.median(psnr) > 25, np.median(psnr)
    assert not np.array_equal(xj, x[:300])  # and the overwrite really changed pixels
    xt, yt = D.decode_cifar10_pack(PACK10, "test", ei_t[:50])
    np.testing.assert_array_equal(xt, ex_t[:50].transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(yt, y_test[ei_t[:50]])
    with pytest.raises(IndexError):
        D.decode_cifar10_pack(PACK10, "train", [50_000])


@needs_shared
def test_full_pack_protocol_split_and_cache():
    """Uses the shared default decode cache (full decode once, ~5 s)."""
    sd = D.load_search_data(D.DataConfig("cifar10", root=str(SHARED)))
    assert sd.source == "pack" and sd.split == "protocol" and sd.num_classes == 10 and sd.image_size == 32
    assert sd.train_x.shape == (25_000, 3, 32, 32) and sd.valid_x.shape == (25_000, 3, 32, 32)
    assert sd.train_x.dtype == torch.uint8 and sd.train_y.dtype == torch.int64
    assert "CIFAR-10 jpeg pack" in sd.description and "protocol split" in sd.description
    assert "25,000 train / 25,000 valid" in sd.description
    with np.load(PACK10) as z:
        y_all, ei, ex = z["y_train"], z["exact_index_train"], z["exact_x_train"]
    y_cat = torch.cat([sd.train_y, sd.valid_y]).numpy()
    np.testing.assert_array_equal(y_cat, y_all)
    assert np.bincount(y_all).tolist() == [5000] * 10
    x_cat = torch.cat([sd.train_x, sd.valid_x]).numpy()
    np.testing.assert_array_equal(x_cat[ei], ex.transpose(0, 3, 1, 2))
    assert D._cifar10_pack_cache_path(D.PACKS["cifar10"][1]).is_file()
    xt, yt = D.load_test_data("cifar10", root=SHARED)
    assert xt.shape == (10_000, 3, 32, 32) and np.bincount(yt.numpy()).tolist() == [1000] * 10


@needs_shared
def test_protocol_subsets_deterministic_and_disjoint():
    sd = D.load_search_data(D.DataConfig("cifar10", root=str(SHARED), train_size=1024, valid_size=512))
    assert len(sd.train_x) == 1024 and len(sd.valid_x) == 512
    assert sd.train_index.tolist() == list(range(1024))
    assert sd.valid_index.tolist() == list(range(25_000, 25_512))
    assert "1,024 train / 512 valid" in sd.description
    full = D.load_search_data(D.DataConfig("cifar10", root=str(SHARED)))
    assert torch.equal(sd.valid_x, full.valid_x[:512]) and torch.equal(sd.train_y, full.train_y[:1024])
    with pytest.raises(ValueError, match="exceeds the 25,000"):
        D.load_search_data(D.DataConfig("cifar10", root=str(SHARED), valid_size=25_001))
    with pytest.raises(ValueError):
        D.load_search_data(D.DataConfig("cifar10", root=str(SHARED), split="random"))


@needs_shared
def test_nb201_split_files():
    sp = D.read_nb201_split(D.find_split_file("cifar-split.txt", SHARED))
    assert len(sp["train"]) == len(sp["valid"]) == 25_000
    assert not set(sp["train"].tolist()) & set(sp["valid"].tolist())
    assert sorted(np.concatenate([sp["train"], sp["valid"]]).tolist()) == list(range(50_000))
    assert sp["train"][:3].tolist() == [0, 5, 7] and sp["valid"][:3].tolist() == [1, 2, 3]
    im = D.read_nb201_split(D.find_split_file("ImageNet16-120-split.txt", SHARED))
    assert len(im["train"]) == len(im["valid"]) == 75_850
    assert sorted(np.concatenate([im["train"], im["valid"]]).tolist()) == list(range(151_700))

    sd = D.load_search_data(D.DataConfig("cifar10", root=str(SHARED), split="nb201",
                                         train_size=200, valid_size=100))
    assert sd.split == "nb201" and "NB201 split" in sd.description
    assert sd.train_index.tolist() == sp["train"][:200].tolist()
    with np.load(PACK10) as z:
        np.testing.assert_array_equal(sd.valid_y.numpy(), z["y_train"][sp["valid"][:100]])
    full = D.load_search_data(D.DataConfig("cifar10", root=str(SHARED)))
    allx = torch.cat([full.train_x, full.valid_x])
    assert torch.equal(sd.train_x, allx[torch.from_numpy(sp["train"][:200])])


def test_nb201_split_parse_errors(tmp_path):
    good = tmp_path / "good.txt"
    good.write_text('{\n  "train" : ["int", ["3", "1"]],\n  "valid" : ["int", ["0"]]\n}')
    assert D.read_nb201_split(good)["train"].tolist() == [3, 1]
    bad = tmp_path / "bad.txt"
    bad.write_text(json.dumps({"train": [1, 2, 3]}))
    with pytest.raises(D.DataIntegrityError, match="'train'"):
        D.read_nb201_split(bad)
    (tmp_path / "junk.txt").write_text("not json")
    with pytest.raises(D.DataIntegrityError):
        D.read_nb201_split(tmp_path / "junk.txt")


# ------------------------------------------------------------------------------ CIFAR-100 partial
@needs_shared
def test_cifar100_partial_pack():
    sd = D.load_search_data(D.DataConfig("cifar100", root=str(SHARED)))
    assert sd.source == "pack" and sd.num_classes == 100
    assert len(sd.train_x) == 558 and len(sd.valid_x) == 559
    assert "CIFAR-100 partial pack (1,117 of 50,000 train rows" in sd.description
    assert "1,117 available rows" in sd.description
    with np.load(PACK100) as z:
        x, y = z["x_train"], z["y_train"]
    np.testing.assert_array_equal(torch.cat([sd.train_x, sd.valid_x]).numpy(), x.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(torch.cat([sd.train_y, sd.valid_y]).numpy(), y)
    nb = D.load_search_data(D.DataConfig("cifar100", root=str(SHARED), split="nb201"))
    assert nb.split == "protocol" and "no CIFAR-100 search split" in nb.description
    with pytest.raises(ValueError, match="exceeds"):
        D.load_search_data(D.DataConfig("cifar100", root=str(SHARED), train_size=559))
    t = D.load_test_set("cifar100", root=SHARED)
    assert t.x.shape == (916, 3, 32, 32) and "partial" in t.description


# ------------------------------------------------------------------------------ standard formats
def test_cifar10_python_batches_written_here(iso):
    rows, labels = write_cifar10_batches(iso / "d" / "cifar-10-batches-py", n_per_batch=3)
    sd = D.load_search_data(D.DataConfig("cifar10", root=str(iso / "d")))
    assert sd.source == "python-batches" and "python batches" in sd.description
    assert len(sd.train_x) == 7 and len(sd.valid_x) == 8  # floor(0.5 * 15)
    np.testing.assert_array_equal(sd.train_x.numpy(), rows[:7].reshape(7, 3, 32, 32))
    np.testing.assert_array_equal(sd.valid_y.numpy(), labels[7:15])
    xt, yt = D.load_test_data("cifar10", root=iso / "d")
    np.testing.assert_array_equal(xt.numpy(), rows[15:].reshape(3, 3, 32, 32))
    np.testing.assert_array_equal(yt.numpy(), labels[15:])
    # the folder itself is accepted as root too
    assert D.load_search_data(D.DataConfig("cifar10", root=str(iso / "d" / "cifar-10-batches-py"))).train_x.shape[0] == 7
    with pytest.raises(ValueError, match="indexes rows up to"):
        D.load_search_data(D.DataConfig("cifar10", root=str(iso / "d"), split="nb201"))


def test_cifar100_python_written_here(iso):
    d = iso / "cifar-100-python"
    d.mkdir()
    rng = np.random.default_rng(1)
    for name, n in (("train", 10), ("test", 4)):
        with open(d / name, "wb") as f:
            pickle.dump({b"data": _rand_rows(rng, n), b"fine_labels": list(range(90, 90 + n)),
                         b"coarse_labels": [0] * n}, f, protocol=2)
    sd = D.load_search_data(D.DataConfig("cifar100", root=str(iso)))
    assert sd.source == "python-batches" and len(sd.train_x) == 5 and sd.valid_y.tolist() == [95, 96, 97, 98, 99]


def test_root_resolution_order(iso, monkeypatch):
    write_cifar10_batches(iso / "explicit" / "cifar-10-batches-py", label=1)
    write_cifar10_batches(iso / "env" / "cifar-10-batches-py", label=2)
    write_cifar10_batches(iso / "proj" / "shared" / "data" / "cifar-10-batches-py", label=3)
    work = iso / "proj" / "main" / "sub"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    assert D.load_search_data(D.DataConfig()).train_y.unique().tolist() == [3]  # walk-up from cwd
    monkeypatch.setenv("SUPERNETBENCH_DATA", str(iso / "env"))
    assert D.load_search_data(D.DataConfig()).train_y.unique().tolist() == [2]
    assert D.load_search_data(D.DataConfig(root=str(iso / "explicit"))).train_y.unique().tolist() == [1]
    roots = [r for r, _ in D.candidate_roots()]
    assert roots == [iso / "env", iso / "cache" / "data"]


def _write_in16(d, batches, val):
    d.mkdir(parents=True, exist_ok=True)
    for i, (x, y) in enumerate(batches, 1):
        (d / f"train_data_batch_{i}").write_bytes(pickle.dumps({"data": x, "labels": y, "mean": 0.0}, protocol=2))
    x, y = val
    (d / "val_data").write_bytes(pickle.dumps({"data": x, "labels": y}, protocol=2))


def test_imagenet16_reader_filters_and_rebases_labels(iso):
    rng = np.random.default_rng(0)
    batches = []
    for i in range(10):
        labels = [1, 120, 121, 1000, 60 + i]  # 121 and 1000 must be dropped
        batches.append((_rand_rows(rng, 5, 16), labels))
    val = (_rand_rows(rng, 4, 16), [120, 500, 2, 121])
    _write_in16(iso / "ImageNet16", batches, val)
    out = D.read_imagenet16(iso / "ImageNet16")
    assert out["x_train"].shape == (30, 3, 16, 16) and out["x_train"].dtype == np.uint8
    assert out["y_train"].tolist()[:3] == [0, 119, 59]
    assert out["y_train"].min() == 0 and out["y_train"].max() == 119
    kept = np.concatenate([x[[0, 1, 4]] for x, _ in batches])
    np.testing.assert_array_equal(out["x_train"], kept.reshape(-1, 3, 16, 16))  # CHW row order
    assert out["y_test"].tolist() == [119, 1]
    np.testing.assert_array_equal(out["x_test"], val[0][[0, 2]].reshape(2, 3, 16, 16))

    for root in (iso, iso / "ImageNet16"):  # parent root or the directory itself
        sd = D.load_search_data(D.DataConfig("imagenet16-120", root=str(root)))
        assert sd.source == "imagenet16-pickles" and sd.image_size == 16 and sd.num_classes == 120
        assert len(sd.train_x) == 15 and len(sd.valid_x) == 15
        assert "synthetic" not in sd.description and "151,700" in sd.description  # size warning
    (iso / "ImageNet16" / "STANDIN.txt").write_text("fake")
    _write_in16(iso / "wide", batches, (_rand_rows(rng, 4, 32), [1, 2, 3, 4]))  # 3072-wide rows: wrong
    with pytest.raises(D.DataIntegrityError, match=r"uint8 \[N,768\]"):
        D.read_imagenet16(iso / "wide")
    sd = D.load_search_data(D.DataConfig("imagenet16-120", root=str(iso)))
    assert sd.source == "standin" and "synthetic stand-in in ImageNet16 format" in sd.description


def test_write_imagenet16_standin_format(iso):
    d = D.write_imagenet16_standin(iso / "ImageNet16", n_train_per_batch=40, n_val=30, seed=3)
    assert (d / "STANDIN.txt").is_file()
    raw_labels = []
    for name in D.IMAGENET16_TRAIN_FILES:
        with open(d / name, "rb") as f:
            e = pickle.load(f, encoding="latin1")
        # NB201 reads rows with np.vstack(data).reshape(-1, 3, 16, 16): 768 bytes per 16x16 image
        assert e["data"].dtype == np.uint8 and e["data"].shape == (40, 3 * 16 * 16)
        assert isinstance(e["labels"], list) and min(e["labels"]) >= 1
        raw_labels += e["labels"]
    assert max(raw_labels) > 120  # some rows exercise the class filter
    sd = D.load_search_data(D.DataConfig("imagenet16-120", root=str(iso)))
    n_kept = sum(v <= 120 for v in raw_labels)
    assert len(sd.train_x) + len(sd.valid_x) == n_kept
    assert sd.source == "standin" and sd.description.startswith("synthetic stand-in in ImageNet16 format")
    with pytest.raises(ValueError, match="split='protocol'"):
        D.load_search_data(D.DataConfig("imagenet16-120", root=str(iso), split="nb201"))
    d2 = D.write_imagenet16_standin(iso / "again", n_train_per_batch=40, n_val=30, seed=3)
    assert (d2 / "val_data").read_bytes() == (d / "val_data").read_bytes()  # seeded


# ------------------------------------------------------------------------------ missing / corrupt
def test_missing_data_names_searched_paths(iso, monkeypatch):
    empty = iso / "empty"
    empty.mkdir()
    monkeypatch.setenv("SUPERNETBENCH_DATA", str(empty))
    monkeypatch.setattr(D.sources, "_download", lambda ds: pytest.fail("download attempted while offline"))
    for ds in D.DATASETS:
        with pytest.raises(D.DataNotFoundError) as ei:
            D.load_search_data(D.DataConfig(ds))
        msg = str(ei.value)
        assert isinstance(ei.value, FileNotFoundError)
        assert str(empty) in msg and str(iso / "cache" / "data") in msg and "Put " in msg
    with pytest.raises(D.DataNotFoundError) as ei:
        D.load_test_data("cifar10")
    assert str(empty / "cifar-10-batches-py") in str(ei.value)
    assert str(empty / "cifar10" / "cifar10-jpeg-pack.npz") in str(ei.value)
    assert "SUPERNETBENCH_OFFLINE" in str(ei.value)


def test_failed_download_is_data_not_found(iso, monkeypatch):
    monkeypatch.delenv("SUPERNETBENCH_OFFLINE")
    monkeypatch.setenv("SUPERNETBENCH_DATA", str(iso / "nothing"))
    url = (iso / "no-such-archive.tar.gz").as_uri()
    monkeypatch.setitem(D._DOWNLOADS, "cifar10", (url, "0" * 32, "cifar-10-batches-py"))
    with pytest.raises(D.DataNotFoundError, match="download failed"):
        D.load_search_data(D.DataConfig("cifar10"))


def _tarball(iso):
    src = iso / "src"
    rows, labels = write_cifar10_batches(src / "cifar-10-batches-py", n_per_batch=2, seed=5)
    tgz = iso / "cifar-10-python.tar.gz"
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(src / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    return tgz, hashlib.md5(tgz.read_bytes()).hexdigest(), rows, labels


def test_download_checks_md5_and_extracts(iso, monkeypatch):
    monkeypatch.delenv("SUPERNETBENCH_OFFLINE")
    monkeypatch.setenv("SUPERNETBENCH_DATA", str(iso / "nothing"))
    tgz, md5, rows, labels = _tarball(iso)
    monkeypatch.setitem(D._DOWNLOADS, "cifar10", (tgz.as_uri(), "f" * 32, "cifar-10-batches-py"))
    with pytest.raises(D.DataIntegrityError, match="md5"):
        D.load_search_data(D.DataConfig("cifar10"))
    assert not (iso / "cache" / "data" / "cifar-10-batches-py").exists()
    assert [p.name for p in (iso / "cache" / "data").iterdir()] == []  # no partial leftovers
    monkeypatch.setitem(D._DOWNLOADS, "cifar10", (tgz.as_uri(), md5, "cifar-10-batches-py"))
    sd = D.load_search_data(D.DataConfig("cifar10"))
    assert sd.source == "download" and "downloaded from" in sd.description
    assert (iso / "cache" / "data" / "cifar-10-batches-py" / "test_batch").is_file()
    np.testing.assert_array_equal(sd.train_x.numpy(), rows[:5].reshape(5, 3, 32, 32))
    tgz.unlink()  # second use reads the cache, no download
    assert D.load_search_data(D.DataConfig("cifar10")).source == "download"


def test_corrupt_packs_rejected(iso):
    for ds, rel in (("cifar10", "cifar10/cifar10-jpeg-pack.npz"), ("cifar100", "cifar100/cifar100-partial.npz")):
        p = iso / "d" / rel
        p.parent.mkdir(parents=True)
        buf = io.BytesIO()
        np.savez(buf, y_train=np.zeros(3, dtype=np.int64))
        p.write_bytes(buf.getvalue())
        with pytest.raises(D.DataIntegrityError, match="sha256") as ei:
            D.load_search_data(D.DataConfig(ds, root=str(iso / "d")))
        assert D.PACKS[ds][1] in str(ei.value)
    assert not (iso / "cache" / "decoded").exists()  # nothing decoded from a bad pack
    rows = D.summarise_data_sources(iso / "d")
    assert any(r["item"] == "cifar10" and "CORRUPT" in r["detail"] for r in rows)


class _Reduce:
    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


@pytest.mark.parametrize("dataset, name", [("cifar10", "data_batch_1"), ("imagenet16-120", "val_data")])
def test_batch_files_cannot_run_code(iso, monkeypatch, dataset, name):
    """A pickle payload planted in a batch file under $SUPERNETBENCH_DATA is refused, not run."""
    if dataset == "cifar10":
        d = iso / "d" / "cifar-10-batches-py"
        write_cifar10_batches(d)
    else:
        d = D.write_imagenet16_standin(iso / "d" / "ImageNet16", n_train_per_batch=4, n_val=4)
    marker = iso / "PWNED"
    with open(d / name, "wb") as f:
        pickle.dump({b"data": CodePayload(marker), b"labels": [1]}, f, protocol=2)
    monkeypatch.setenv("SUPERNETBENCH_DATA", str(iso / "d"))
    with pytest.raises(D.DataIntegrityError, match=f"{name} is not a valid dataset batch file .*refused to load") as ei:
        D.load_search_data(D.DataConfig(dataset))
    assert not marker.exists() and "\n" not in str(ei.value)


@pytest.mark.parametrize("protocol, numpy_module", [
    (0, "numpy.core"), (2, "numpy.core"), (0, "numpy._core"), (2, "numpy._core"),  # re-spelt GLOBAL lines
    (4, None), (5, None),  # framed protocols: as this numpy writes them
])
def test_batch_unpickler_reads_numpy_1_and_2_pickles(tmp_path, protocol, numpy_module):
    """The allow-list covers what the official files hold, under numpy 1.x and 2.x module names."""
    from supernetbench.harness.data.common import _unpickle

    entry = {b"data": np.arange(6, dtype=np.uint8).reshape(2, 3), b"labels": [1, np.int64(2)],
             b"mean": np.ones(3, dtype=np.float32), b"filenames": [b"a.png", "b.png"]}
    blob = pickle.dumps(entry, protocol=protocol)
    if numpy_module is not None:  # the module as the numpy 1.x (official files) or 2.x writer names it
        blob = re.sub(rb"cnumpy\.(_?core)\.", b"c" + numpy_module.encode() + b".", blob)  # GLOBAL opcodes
        assert numpy_module.encode() + b".multiarray" in blob
    (tmp_path / "b").write_bytes(blob)
    got = _unpickle(tmp_path / "b")
    np.testing.assert_array_equal(got["data"], entry[b"data"])
    assert got["labels"] == [1, 2] and got["mean"].dtype == np.float32 and got["filenames"] == [b"a.png", "b.png"]


@pytest.mark.parametrize("blob, msg", [
    (b"", "not a valid dataset batch file"),
    (pickle.dumps({b"data": 1})[:-5], "not a valid dataset batch file"),
    (pickle.dumps([1, 2]), "expected a pickled dict"),
    (pickle.dumps({b"x": __import__("collections").OrderedDict()}), "refused to load collections.OrderedDict"),
    (pickle.dumps(_Reduce(codecs.encode, ("a", "zlib_codec")), protocol=2), "encoding 'zlib_codec' is not allowed"),
])
def test_batch_unpickler_one_line_errors(tmp_path, blob, msg):
    from supernetbench.harness.data.common import _unpickle

    (tmp_path / "batch").write_bytes(blob)
    with pytest.raises(D.DataIntegrityError, match=msg) as ei:
        _unpickle(tmp_path / "batch")
    assert "batch" in str(ei.value) and "\n" not in str(ei.value)


@pytest.fixture
def fake_pack(iso, monkeypatch):
    """load_cifar10_pack without the real pack: checksum accepted, a counted cheap 'decode'."""
    from supernetbench.harness.data import cifar

    calls = []

    def decode(path, part, progress=None, verify=True):
        calls.append(part)
        n = 5 if part == "train" else 2
        return np.full((n, 3, 32, 32), 7, dtype=np.uint8), np.arange(n, dtype=np.int64)

    monkeypatch.setattr(cifar, "_verify_sha256", lambda path, sha: sha)
    monkeypatch.setattr(cifar, "decode_cifar10_pack", decode)
    return cifar._cifar10_pack_cache_path(D.PACKS["cifar10"][1]), calls


@pytest.mark.parametrize("damage", ["black-one-label", "truncated", "no-checksum"])
def test_decoded_cache_is_verified(fake_pack, capsys, damage):
    """An altered decoded-data cache (black images, one label) or a truncated one (BadZipFile) is
    reported in one line, deleted and decoded again; the rebuilt entry is used by the next run."""
    from supernetbench.harness.data.cifar import load_cifar10_pack

    cpath, calls = fake_pack
    first = load_cifar10_pack("pack.npz")
    assert calls == ["train", "test"] and cpath.is_file()
    assert load_cifar10_pack("pack.npz")["x_train"][0, 0, 0, 0] == 7 and len(calls) == 2  # a verified hit
    if damage == "black-one-label":
        with np.load(cpath) as z:
            arrays = {k: z[k] for k in z.files}
        arrays.update(x_train=np.zeros_like(arrays["x_train"]), y_train=np.zeros_like(arrays["y_train"]))
        np.savez(cpath, **arrays)
    elif damage == "truncated":
        cpath.write_bytes(cpath.read_bytes()[:-100])
    else:
        np.savez(cpath, **first)
    capsys.readouterr()
    again = load_cifar10_pack("pack.npz")
    assert len(calls) == 4  # decoded again, not trusted
    np.testing.assert_array_equal(again["x_train"], first["x_train"])
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(cpath) in err[0] and "deleted, recomputing" in err[0]
    load_cifar10_pack("pack.npz")
    assert len(calls) == 4 and capsys.readouterr().err == ""  # the rebuilt entry is whole


def test_concurrent_first_decodes_decode_once(fake_pack, monkeypatch):
    """Two workers missing the decode cache at once (a study's first tasks): one decodes, the other
    waits on the lock beside the entry and reads what it wrote."""
    import threading
    import time

    from supernetbench.harness.data import cifar

    cpath, calls = fake_pack
    decode = cifar.decode_cifar10_pack
    monkeypatch.setattr(cifar, "decode_cifar10_pack", lambda *a, **k: (time.sleep(0.3), decode(*a, **k))[1])
    out = [None, None]
    threads = [threading.Thread(target=lambda i=i: out.__setitem__(i, cifar.load_cifar10_pack("pack.npz")))
               for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == ["train", "test"]
    np.testing.assert_array_equal(out[0]["x_train"], out[1]["x_train"])


def test_unwritable_decoded_cache_still_returns_the_data(fake_pack, monkeypatch, capsys):
    """A read-only cache (after the decode) costs a warning, never the decoded images."""
    from supernetbench.harness import store
    from supernetbench.harness.data.cifar import load_cifar10_pack

    cpath, calls = fake_pack
    monkeypatch.setattr(store.os, "open", lambda *a, **k: (_ for _ in ()).throw(PermissionError(13, "Permission denied")))
    assert load_cifar10_pack("pack.npz")["x_train"].shape == (5, 3, 32, 32)
    err = capsys.readouterr().err.strip().splitlines()
    # one warning for the lock it could not take (locks.claim(required=False)), one for the entry
    assert [e.split(" ")[1:4] for e in err] == [["cannot", "create", "lock"], ["cannot", "write", "cache"]]
    assert all(e.startswith("warning: ") and "Permission denied" in e for e in err)
    assert not cpath.exists()


@needs_shared
def test_summarise_data_sources():
    rows = {r["item"]: r for r in D.summarise_data_sources(SHARED)}
    assert rows["cifar10"]["status"] == "found" and rows["cifar10"]["source"] == "pack"
    assert "sha256 ok" in rows["cifar10"]["detail"]
    assert "PARTIAL" in rows["cifar100"]["detail"]
    assert rows["imagenet16-120"]["status"] == "missing" and rows["imagenet16-120"]["searched"]
    assert rows["nb201 split cifar-split.txt"]["status"] == "found"


# ------------------------------------------------------------------------------ augmentation
MEAN_PROTOCOL = {
    "cifar10": ((0.49139968, 0.48215827, 0.44653124), (0.24703233, 0.24348505, 0.26158768)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "imagenet16-120": (tuple(v / 255 for v in (122.68, 116.66, 104.01)),
                       tuple(v / 255 for v in (63.22, 61.26, 65.09))),
}


def _reference_aug(x, dataset, seed):
    """Per-image loop with torchvision semantics, drawing the same random numbers as Augment."""
    size, pad, flip_first = D.IMAGE_SIZE[dataset], (4 if dataset != "imagenet16-120" else 2), dataset == "imagenet16-120"
    g = torch.Generator().manual_seed(seed)
    off = torch.randint(0, 2 * pad + 1, (len(x), 2), generator=g)
    fl = torch.randint(0, 2, (len(x),), generator=g)
    out = []
    for img, (oy, ox), f in zip(x, off.tolist(), fl.tolist()):
        if flip_first and f:
            img = img.flip(-1)
        img = F.pad(img, (pad, pad, pad, pad))[:, oy:oy + size, ox:ox + size]
        if not flip_first and f:
            img = img.flip(-1)
        out.append(img)
    return torch.stack(out), off, fl


@pytest.mark.parametrize("dataset", D.DATASETS)
def test_augment_matches_reference_and_is_deterministic(dataset):
    s = D.IMAGE_SIZE[dataset]
    x = torch.randint(0, 256, (64, 3, s, s), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    aug = D.Augment(dataset)
    out = aug(x, torch.Generator().manual_seed(7))
    assert out.shape == (64, 3, s, s) and out.dtype == torch.float32
    ref, off, fl = _reference_aug(x, dataset, 7)
    torch.testing.assert_close(out, D.normalize(ref, dataset), rtol=0, atol=0)
    assert 0 < fl.sum() < 64 and off.min() == 0 and off.max() == 2 * aug.pad  # both flips, full offset range
    assert torch.equal(out, aug(x, torch.Generator().manual_seed(7)))
    assert not torch.equal(out, aug(x, torch.Generator().manual_seed(8)))
    # zero padding → exactly -mean/std where a crop hangs over the border
    mean, std = MEAN_PROTOCOL[dataset]
    i = int(torch.nonzero(off[:, 0] == 0)[0])  # shifted down by pad: top rows are padding
    expect = torch.tensor([-m / sd for m, sd in zip(mean, std)])
    torch.testing.assert_close(out[i, :, 0, 0], expect)


def test_crop_is_translation_of_padded_image():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (32, 3, 32, 32), dtype=torch.uint8, generator=g)
    out = random_crop_flip(x, 4, flip_first=False, generator=torch.Generator().manual_seed(3))
    padded = F.pad(x, (4, 4, 4, 4))
    for k in range(len(x)):
        matches = [(oy, ox, f) for oy in range(9) for ox in range(9) for f in (0, 1)
                   if torch.equal(out[k], (lambda c: c.flip(-1) if f else c)(padded[k, :, oy:oy + 32, ox:ox + 32]))]
        assert len(matches) == 1, (k, matches)


def test_normalize_constants():
    for ds, (mean, std) in MEAN_PROTOCOL.items():
        assert D.MEAN[ds] == pytest.approx(mean, abs=1e-9) and D.STD[ds] == pytest.approx(std, abs=1e-9)
        v = torch.full((2, 3, 4, 4), 200, dtype=torch.uint8)
        y = D.normalize(v, ds)
        assert y.dtype == torch.float32
        torch.testing.assert_close(y[0, :, 0, 0], torch.tensor([(200 / 255 - m) / s for m, s in zip(mean, std)]))
    with pytest.raises(TypeError):
        D.normalize(torch.zeros(1, 3, 4, 4), "cifar10")
    with pytest.raises(ValueError):
        D.Augment("mnist")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_augment_cuda_matches_cpu():
    x = torch.randint(0, 256, (128, 3, 32, 32), dtype=torch.uint8)
    aug = D.Augment("cifar10")
    cpu = aug(x, torch.Generator().manual_seed(5))
    gpu = aug(x.cuda(), torch.Generator().manual_seed(5))
    assert gpu.is_cuda
    torch.testing.assert_close(gpu.cpu(), cpu)
    sd = D.SearchData("cifar10", 10, 32, D.MEAN["cifar10"], D.STD["cifar10"], x, torch.zeros(128, dtype=torch.int64),
                      x, torch.zeros(128, dtype=torch.int64), "t", "test").to("cuda")
    s = D.BatchStream(sd.train_x, sd.train_y, 50, augment=aug, seed=0, dataset="cifar10")
    xb, yb = next(iter(s.epoch()))
    assert xb.is_cuda and yb.is_cuda


# ------------------------------------------------------------------------------ batch stream
def _stream(n=130, bs=32, seed=0, augment=None, drop_last=False):
    x = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(9))
    return D.BatchStream(x, torch.arange(n), bs, augment=augment, seed=seed, dataset="cifar10", drop_last=drop_last)


def test_batch_stream_epochs_cover_data_once():
    s = _stream()
    assert len(s) == math.ceil(130 / 32) == 5
    e1 = list(s.epoch())
    assert [len(y) for _, y in e1] == [32, 32, 32, 32, 2]
    ids1 = torch.cat([y for _, y in e1])
    assert sorted(ids1.tolist()) == list(range(130))
    xb, yb = e1[0]
    torch.testing.assert_close(xb, D.normalize(s.x[yb], "cifar10"))  # no augment: plain normalisation
    ids2 = torch.cat([y for _, y in s.epoch()])
    assert sorted(ids2.tolist()) == list(range(130)) and not torch.equal(ids1, ids2)  # reshuffled
    assert s.epochs_completed == 2
    d = _stream(drop_last=True)
    assert len(d) == 4 and [len(y) for _, y in d.epoch()] == [32] * 4
    assert torch.equal(torch.cat([y for _, y in _stream().epoch()]), ids1)  # same seed, same order
    assert not torch.equal(torch.cat([y for _, y in _stream(seed=1).epoch()]), ids1)


def test_batch_stream_resume_is_bit_identical():
    a = _stream(augment=D.Augment("cifar10"))
    it = a.epoch()
    for _ in range(3):
        next(it)
    a.sample_batch()
    state = pickle.loads(pickle.dumps(a.state_dict()))  # survives serialisation
    rest_a = list(it) + list(a.epoch())
    sample_a = a.sample_batch()
    b = _stream(augment=D.Augment("cifar10"), seed=123)
    b.load_state_dict(state)
    rest_b = list(b.epoch()) + list(b.epoch())
    assert len(rest_a) == len(rest_b) == 2 + 5
    for (xa, ya), (xb, yb) in zip(rest_a, rest_b):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert all(torch.equal(p, q) for p, q in zip(sample_a, b.sample_batch()))
    with pytest.raises(ValueError):
        _stream(bs=16).load_state_dict(state)


def test_sample_batch_independent_of_epoch_order():
    a, b = _stream(), _stream()
    for _ in range(5):
        xs, ys = a.sample_batch()
        assert len(ys) == 32 and len(set(ys.tolist())) == 32  # distinct rows within a batch
    assert torch.equal(torch.cat([y for _, y in a.epoch()]), torch.cat([y for _, y in b.epoch()]))
    assert not torch.equal(a.sample_batch()[1], a.sample_batch()[1])


def test_search_data_to_device():
    x = torch.zeros(4, 3, 32, 32, dtype=torch.uint8)
    y = torch.zeros(4, dtype=torch.int64)
    sd = D.SearchData("cifar10", 10, 32, D.MEAN["cifar10"], D.STD["cifar10"], x, y, x, y, "d", "test")
    moved = sd.to("cpu")
    assert isinstance(moved, D.SearchData) and moved.description == "d" and moved.train_x.shape == x.shape
