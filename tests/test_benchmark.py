"""The NB201 ground-truth table: contents, index round trip, and refusal of broken copies.

Oracle: the sanity facts in ``shared/data/nb201/README.md``. Note the README's "best CIFAR-10
arch" (94.36 / 73.51 / 46.34) is not the CIFAR-10 test-accuracy argmax (94.37, one op differs);
it is the CIFAR-100 argmax. Both facts are asserted as written there.

``load_ground_truth`` caches by path (``lru_cache``), so every broken copy gets its own path.
``SUPERNETBENCH_OFFLINE=1`` keeps a missing table from triggering a download.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from supernetbench.spaces.nb201 import benchmark as B
from supernetbench.spaces.nb201.benchmark import BenchmarkTableError, load_ground_truth
from supernetbench.spaces.nb201.space import NB201Space

SPACE = NB201Space()
BEST_C10_README = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
C10_ARGMAX = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("SUPERNETBENCH_OFFLINE", "1")


@pytest.fixture(scope="module")
def gt():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SUPERNETBENCH_OFFLINE", "1")
        mp.delenv(B.ENV_VAR, raising=False)
        try:
            return load_ground_truth()
        except BenchmarkTableError as e:
            pytest.skip(f"NB201 ground-truth table unavailable: {e}")


def _assert_one_line_with_fix(err: BenchmarkTableError, path: Path) -> None:
    msg = str(err)
    assert "\n" not in msg
    assert str(path) in msg  # names the file
    assert B.ENV_VAR in msg and B.SHA256[:12] in msg  # and the fix: the right file, or point the env var at it


# ------------------------------------------------------------------------------------------ contents
def test_table_shape_and_datasets(gt):
    assert len(gt) == 15_625 and gt.archs.shape == (15_625, 6) and gt.archs.dtype == np.int8
    assert len(gt.strings) == len(gt.unique_strings) == 15_625
    assert B.DATASETS == ("cifar10", "cifar100", "imagenet16-120")
    for ds in B.DATASETS:
        acc = gt.test_acc(ds)
        assert acc.shape == (15_625,) and acc.dtype == np.float64 and not acc.flags.writeable
        assert np.all((acc >= 0) & (acc <= 100))
    assert not gt.archs.flags.writeable


def test_unknown_dataset_lists_choices(gt):
    with pytest.raises(ValueError, match="valid choices: cifar10, cifar100, imagenet16-120"):
        gt.test_acc("cifar10-valid")


def test_readme_sanity_facts(gt):
    i = gt.index_of(BEST_C10_README)
    assert gt.strings[i] == BEST_C10_README
    for ds, want in zip(B.DATASETS, (94.36, 73.51, 46.34)):
        assert gt.test_acc(ds)[i] == pytest.approx(want, abs=0.01)
    for ds, want in zip(B.DATASETS, (94.37, 73.51, 47.31)):
        assert gt.test_acc(ds).max() == pytest.approx(want, abs=0.01)
    assert int(np.argmax(gt.test_acc("cifar100"))) == i
    assert gt.strings[int(np.argmax(gt.test_acc("cifar10")))] == C10_ARGMAX


def test_index_of_round_trips(gt):
    idx = np.random.default_rng(0).choice(15_625, size=500, replace=False)
    for i in [0, 15_624, *idx.tolist()]:
        a = tuple(int(v) for v in gt.archs[i])
        assert gt.index_of(a) == i
        assert gt.index_of(gt.strings[i]) == i
        assert gt.index_of(SPACE.format(a)) == i
    # NB201 index 0 is not the all-`none` arch: the official order is not a base-5 enumeration
    assert gt.strings[0] == "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"


def test_index_of_all_rows(gt):
    assert [gt.index_of(tuple(int(v) for v in a)) for a in gt.archs] == list(range(15_625))


# ------------------------------------------------------------------------------------- broken copies
def _broken(gt, tmp_path: Path, name: str, mutate) -> Path:
    data = Path(gt.path).read_bytes()
    dest = tmp_path / name
    dest.write_bytes(mutate(data))
    return dest


def test_truncated_copy_is_refused(gt, tmp_path):
    path = _broken(gt, tmp_path, "truncated.csv", lambda d: d[: len(d) // 2])
    with pytest.raises(BenchmarkTableError, match="truncated or altered") as ei:
        load_ground_truth(path)
    _assert_one_line_with_fix(ei.value, path)


def test_altered_copy_is_refused(gt, tmp_path):
    def one_digit(d: bytes) -> bytes:
        k = d.index(b"94.36")  # inside an accuracy value
        return d[:k] + b"95" + d[k + 2 :]

    path = _broken(gt, tmp_path, "altered.csv", one_digit)
    assert path.stat().st_size == Path(gt.path).stat().st_size  # same length, one byte differs
    with pytest.raises(BenchmarkTableError, match="truncated or altered") as ei:
        load_ground_truth(path)
    _assert_one_line_with_fix(ei.value, path)


def test_row_count_checked_without_sha(gt, tmp_path):
    """With ``verify=False`` a copy cut at a line boundary still fails, on the row count."""
    def cut_rows(d: bytes) -> bytes:
        lines = d.splitlines(keepends=True)
        return b"".join(lines[:1001])  # header + 1,000 rows

    path = _broken(gt, tmp_path, "rows.csv", cut_rows)
    with pytest.raises(BenchmarkTableError, match="has 1000 rows, expected 15625") as ei:
        load_ground_truth(path, verify=False)
    _assert_one_line_with_fix(ei.value, path)


def test_missing_table_offline(tmp_path):
    path = tmp_path / "nowhere" / B.FILENAME
    with pytest.raises(BenchmarkTableError, match="not found") as ei:
        load_ground_truth(path)
    _assert_one_line_with_fix(ei.value, path)
    assert "SUPERNETBENCH_OFFLINE" in str(ei.value)  # says why no download happened
    assert not path.exists()


# ---------------------------------------------------------------------------------------- env var
def test_env_var_is_honoured(gt, tmp_path, monkeypatch):
    copy = tmp_path / "env-copy.csv"
    shutil.copyfile(gt.path, copy)
    monkeypatch.setenv(B.ENV_VAR, str(copy))
    assert B.default_table_path() == copy
    got = load_ground_truth()
    assert got.path == copy.resolve()
    np.testing.assert_array_equal(got.archs, gt.archs)


def test_env_var_pointing_nowhere_names_that_path(tmp_path, monkeypatch):
    missing = tmp_path / "env-missing.csv"
    monkeypatch.setenv(B.ENV_VAR, str(missing))
    with pytest.raises(BenchmarkTableError) as ei:
        load_ground_truth()
    _assert_one_line_with_fix(ei.value, missing)
