"""Atomic writes and the content-addressed cache (``supernetbench.harness.store``).

Oracles: the directory listing (no temp files left behind), the previous file's bytes (a failed
write must not touch them), a pinned hash literal (cache keys must not drift silently between
versions), and a call counter on the ``compute`` callback of :func:`cached_npy`.
"""
from __future__ import annotations

import errno
import json
import os
import stat

import numpy as np
import pytest

from supernetbench.harness import store
from supernetbench.harness.store import (
    CorruptFileError,
    atomic_save_npy,
    atomic_torch_save,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    cached_npy,
    content_hash,
    file_sha256,
    load_cached_arrays,
)

try:
    from tests.helpers import CodePayload
except ImportError:  # pragma: no cover - run from inside tests/
    from helpers import CodePayload


def _listing(d) -> list[str]:
    return sorted(p.name for p in d.iterdir())


# ------------------------------------------------------------------------------------ atomic writes
def test_atomic_writes_leave_no_temp_files(tmp_path):
    atomic_write_bytes(tmp_path / "a.bin", b"\x00\x01")
    atomic_write_text(tmp_path / "b.txt", "héllo")
    atomic_write_json(tmp_path / "c.json", {"x": np.float32(1.5), "arr": np.arange(3), "p": tmp_path})
    atomic_save_npy(tmp_path / "d.npy", np.arange(5.0))
    atomic_torch_save(tmp_path / "e.pt", {"w": np.arange(2)})
    for _ in range(3):  # overwriting too
        atomic_write_bytes(tmp_path / "a.bin", os.urandom(100))
    assert _listing(tmp_path) == ["a.bin", "b.txt", "c.json", "d.npy", "e.pt"]
    assert (tmp_path / "b.txt").read_text(encoding="utf-8") == "héllo"
    assert json.loads((tmp_path / "c.json").read_text()) == {"arr": [0, 1, 2], "p": str(tmp_path), "x": 1.5}
    np.testing.assert_array_equal(np.load(tmp_path / "d.npy"), np.arange(5.0))


def test_atomic_write_creates_parent_dirs(tmp_path):
    p = atomic_write_text(tmp_path / "x" / "y" / "z.txt", "ok")
    assert p.read_text() == "ok" and _listing(p.parent) == ["z.txt"]


class _Unserialisable:
    pass


class _ExplodingPickle:
    def __reduce__(self):
        raise RuntimeError("cannot pickle this")


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(lambda p: atomic_write_json(p, {"bad": _Unserialisable()}), id="json-default-raises"),
        pytest.param(lambda p: atomic_save_npy(p, np.array([object()], dtype=object)), id="npy-object-array"),
        pytest.param(lambda p: atomic_torch_save(p, {"bad": _ExplodingPickle()}), id="torch-pickle-raises"),
    ],
)
def test_failed_serialisation_keeps_old_file(tmp_path, write):
    target = tmp_path / "result.dat"
    atomic_write_bytes(target, b"old contents")
    with pytest.raises((TypeError, ValueError, RuntimeError)):
        write(target)
    assert target.read_bytes() == b"old contents"
    assert _listing(tmp_path) == ["result.dat"]


@pytest.mark.parametrize("fail_in", ["fsync", "replace"])
def test_failure_during_write_keeps_old_file_and_removes_temp(tmp_path, monkeypatch, fail_in):
    """A crash after the temp file exists (disk full at fsync, a failing rename) must clean up."""
    target = tmp_path / "result.npy"
    atomic_save_npy(target, np.arange(3))
    seen_tmp = []

    def boom(*args, **kwargs):
        seen_tmp.extend(n for n in _listing(tmp_path) if n.endswith(".tmp"))
        raise OSError(f"simulated {fail_in} failure")

    monkeypatch.setattr(store.os, fail_in, boom)
    with pytest.raises(OSError, match=f"simulated {fail_in} failure"):
        atomic_save_npy(target, np.arange(1000))
    monkeypatch.undo()
    assert seen_tmp  # the failure really happened mid-write, with a temp file present
    np.testing.assert_array_equal(np.load(target), np.arange(3))
    assert _listing(tmp_path) == ["result.npy"]


def test_interrupt_during_write_removes_temp(tmp_path, monkeypatch):
    target = tmp_path / "t.bin"
    monkeypatch.setattr(store.os, "fsync", lambda fd: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(target, b"x")
    monkeypatch.undo()
    assert _listing(tmp_path) == []


def test_sweep_removes_only_orphans_of_killed_writers(tmp_path):
    """A writer SIGKILLed between write and rename leaves its temp file; the sweep (run at each
    study start) deletes such files once they are old, never a fresh one (a write in flight) nor
    a file of another name."""
    import subprocess
    import sys
    import time

    child = ("import os, signal; from supernetbench.harness import store; "
             "store.os.replace = lambda a, b: os.kill(os.getpid(), signal.SIGKILL); "
             f"store.atomic_write_bytes({str(tmp_path / 'sub' / 'r.json')!r}, b'{{}}')")
    assert subprocess.run([sys.executable, "-c", child]).returncode == -9
    (orphan,) = (tmp_path / "sub").iterdir()
    assert store.TEMP_FILE.match(orphan.name) and not (tmp_path / "sub" / "r.json").exists()
    fresh = tmp_path / ".s.json.0123abcd.tmp"
    other = tmp_path / ".notes.tmp"
    fresh.write_bytes(b"x")
    other.write_bytes(b"x")
    assert store.sweep_orphan_temps(tmp_path) == []  # all younger than an hour
    old = time.time() - 7200
    for f in (orphan, other):
        os.utime(f, (old, old))
    assert store.sweep_orphan_temps(tmp_path) == [orphan]
    assert not orphan.exists() and fresh.exists() and other.exists()
    assert store.sweep_orphan_temps(tmp_path / "absent") == []


# ------------------------------------------------------------------------------------- content_hash
def test_content_hash_is_stable():
    parts = ({"b": 1, "a": [1, 2]}, np.arange(6, dtype=np.int64).reshape(2, 3), b"raw", "text", 3.5)
    h = content_hash(*parts)
    assert h == content_hash(*parts)
    assert len(h) == 16 and int(h, 16) >= 0
    # pinned: a change of the hashing scheme silently orphans every cached score, so it must be seen
    assert h == "55aee0b2e4490938"  # little-endian array bytes
    assert content_hash({"a": [1, 2], "b": 1}) == content_hash({"b": 1, "a": [1, 2]})  # key order
    assert content_hash(np.arange(4)) == content_hash(np.arange(4)[::-1][::-1].copy())
    assert content_hash(np.arange(8)[::2]) == content_hash(np.array([0, 2, 4, 6]))  # non-contiguous


@pytest.mark.parametrize(
    "a, b",
    [
        pytest.param(({"x": 1},), ({"x": 2},), id="dict-value"),
        pytest.param(({"x": 1},), ({"y": 1},), id="dict-key"),
        pytest.param((np.arange(4),), (np.array([0, 1, 2, 4]),), id="array-element"),
        pytest.param((np.arange(4, dtype=np.int32),), (np.arange(4, dtype=np.int64),), id="array-dtype"),
        pytest.param((np.zeros((2, 3)),), (np.zeros((3, 2)),), id="array-shape"),
        pytest.param(("a", "b"), ("b", "a"), id="part-order"),
        pytest.param(("ab",), ("a", "b"), id="part-boundary"),
        pytest.param((b"ab",), ("ab",), id="bytes-vs-str"),
        pytest.param((1,), (1.0,), id="int-vs-float"),
        pytest.param(((),), ((), ()), id="part-count"),
    ],
)
def test_content_hash_is_sensitive(a, b):
    assert content_hash(*a) != content_hash(*b)


def test_file_sha256(tmp_path):
    p = atomic_write_bytes(tmp_path / "f", b"abc")
    assert file_sha256(p) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    big = atomic_write_bytes(tmp_path / "g", b"x" * 3_000_001)
    assert file_sha256(big, chunk=1 << 10) == file_sha256(big)


# ----------------------------------------------------------------------------------------- cached_npy
@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SUPERNETBENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _counted(value: np.ndarray):
    calls = []

    def compute():
        calls.append(1)
        return value.copy()

    return compute, calls


def test_cached_npy_computes_once(cache):
    value = np.linspace(0, 1, 7)
    compute, calls = _counted(value)
    np.testing.assert_array_equal(cached_npy("k1", compute), value)
    np.testing.assert_array_equal(cached_npy("k1", compute), value)
    assert len(calls) == 1
    assert _listing(cache / "arrays") == ["k1.npz"]
    cached_npy("k1", compute, subdir="other")  # a different subdir is a different entry
    assert len(calls) == 2


@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param(lambda b: b"this is not an npy file", id="garbage"),
        pytest.param(lambda b: b[: len(b) - 8], id="truncated-data"),
        pytest.param(lambda b: b[:20], id="truncated-header"),
        pytest.param(lambda b: b"", id="empty"),
        pytest.param("tampered", id="tampered"),  # rewritten as 100 - value, old checksum kept
        pytest.param("unchecked", id="no-checksum"),  # a plain npz (e.g. an older version's entry)
    ],
)
def test_cached_npy_recomputes_corrupt_entry(cache, corrupt, capsys):
    value = np.arange(10.0)
    compute, calls = _counted(value)
    cached_npy("k2", compute)
    path = cache / "arrays" / "k2.npz"
    if corrupt == "tampered":
        with np.load(path) as z:
            np.savez(path, value=100 - z["value"], __sha256__=z["__sha256__"])
    elif corrupt == "unchecked":
        np.savez(path, value=100 - value)
    else:
        path.write_bytes(corrupt(path.read_bytes()))
    np.testing.assert_array_equal(cached_npy("k2", compute), value)
    assert len(calls) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning: cache entry") and str(path) in err[0]
    np.testing.assert_array_equal(load_cached_arrays(path)["value"], value)  # the entry is whole again
    assert _listing(path.parent) == ["k2.npz"]


def test_unwritable_cache_warns_once_and_continues(cache, monkeypatch, capsys):
    """A read-only or full cache never fails the run that computed the entry (one warning)."""
    def no_space(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store.os, "fsync", no_space)
    compute, calls = _counted(np.arange(3.0))
    for _ in range(2):
        np.testing.assert_array_equal(cached_npy("k3", compute), np.arange(3.0))
    assert len(calls) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot write cache entry" in err[0] and "No space left" in err[0]


@pytest.mark.parametrize("dtype", ["<f8", ">f8", "<i8", "|u1", "<M8[s]", "<U3"])
def test_arrays_sha256_sees_names_dtypes_shapes_and_bytes(dtype):
    a = np.zeros(6, dtype=dtype)
    base = store.arrays_sha256({"a": a})
    assert base == store.arrays_sha256({"a": a.copy()})
    assert base != store.arrays_sha256({"b": a})
    assert base != store.arrays_sha256({"a": a.reshape(2, 3)})
    assert base != store.arrays_sha256({"a": a.view(f"|V{a.itemsize}")})
    b = a.copy()
    b.view(np.uint8)[0] ^= 1
    assert base != store.arrays_sha256({"a": b})


# ------------------------------------------------------------------------------- modes and errors
def test_written_files_follow_the_umask(tmp_path):
    """Files in a shared runs directory stay readable to colleagues (not mkstemp's 0600)."""
    old = os.umask(0o022)
    try:
        for write in (lambda p: atomic_write_bytes(p, b"x"), lambda p: atomic_save_npy(p, np.arange(2)),
                      lambda p: atomic_torch_save(p, {"w": 1}), lambda p: store.save_cached_arrays(p, a=np.ones(1))):
            target = tmp_path / f"f{len(_listing(tmp_path))}"
            write(target)
            assert stat.S_IMODE(target.stat().st_mode) == 0o644, target
        os.umask(0o077)
        atomic_write_bytes(tmp_path / "private", b"x")
        assert stat.S_IMODE((tmp_path / "private").stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_failed_write_names_the_target(tmp_path, monkeypatch):
    monkeypatch.setattr(store.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(OSError) as info:
        atomic_write_bytes(tmp_path / "ckpt.pt", b"x")
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(tmp_path / "ckpt.pt")
    assert _listing(tmp_path) == []


def test_load_weights_refuses_pickled_code(tmp_path):
    import torch

    marker = tmp_path / "PWNED"
    torch.save({"net": CodePayload(marker)}, tmp_path / "checkpoint.pt")
    with pytest.raises(CorruptFileError, match="checkpoint.pt is not a readable checkpoint.*could run code") as info:
        store.load_weights(tmp_path / "checkpoint.pt")
    assert not marker.exists() and "\n" not in str(info.value)
    torch.save({}, tmp_path / "empty.pt")
    with pytest.raises(CorruptFileError, match="empty.pt lacks net"):
        store.load_weights(tmp_path / "empty.pt", ["net"])


@pytest.mark.parametrize("content, reader, msg", [
    (b"{not json", store.read_json, "is not valid JSON"),
    (b"\xff\xfe", store.read_json, "is not valid JSON"),
    (b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, 'shape': (100,), }", store.read_npy,
     "is not a readable .npy array"),
    (b"", store.read_npy, "is not a readable .npy array"),
])
def test_readers_name_the_file(tmp_path, content, reader, msg):
    path = tmp_path / "thing"
    path.write_bytes(content)
    with pytest.raises(CorruptFileError, match=msg) as info:
        reader(path)
    assert str(path) in str(info.value)


def test_read_npy_rejects_npz_and_pickles(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.ones(2))
    with pytest.raises(CorruptFileError, match="an .npz archive"):
        store.read_npy(tmp_path / "a.npz")
    np.save(tmp_path / "o.npy", np.array([None, 1], dtype=object), allow_pickle=True)
    with pytest.raises(CorruptFileError, match="o.npy is not a readable .npy array"):
        store.read_npy(tmp_path / "o.npy")
