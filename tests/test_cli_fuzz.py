"""Fuzzing the command line in-process (hypothesis, bounded: a few seconds under ``HYPOTHESIS_PROFILE=ci``).

Property, for every input: the command ends in status 0 with the result a strict, independent reading
of the input implies, or in status 2 with exactly one ``error:`` line that names what was wrong;
never a traceback, never a silently different value. Inputs: malformed arch strings, per-arch
arrays of every dtype and shape, and junk values for every profile field and method option.
"""
from __future__ import annotations

import dataclasses
import io
import json
import math
import re
import warnings

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from scipy import stats

from supernetbench.algorithms import ALGORITHMS
from supernetbench.oneshot import train as engine
from supernetbench.harness.profiles import Profile
from supernetbench.spaces.nb201.space import NB201Space

try:
    from tests.helpers import error_line, run_cli
except ImportError:  # pragma: no cover - run from inside tests/
    from helpers import error_line, run_cli

OPS = NB201Space().ops
TRICKY = ["１", "٢", "0\n", " ", "\t", "~", "|", "+", "00", "-1", "x" * 300, "\x00", "é", "NONE"]


@pytest.fixture(scope="session")
def torch_single_thread_session():
    """One intra-op thread (see conftest's torch_single_thread), for the whole hypothesis run."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# ------------------------------------------------------------------------------------ arch strings
@st.composite
def arch_strings(draw) -> str:
    """A valid arch string, then maybe a few edits: replaced/inserted/deleted characters, often tricky."""
    chosen = [draw(st.sampled_from(OPS)) for _ in range(6)]
    it = iter(chosen)
    s = "+".join("|" + "|".join(f"{next(it)}~{j}" for j in range(i)) + "|" for i in range(1, 4))
    for _ in range(draw(st.integers(0, 3))):
        pos = draw(st.integers(0, len(s)))
        piece = draw(st.one_of(st.sampled_from(TRICKY), st.text(max_size=3)))
        s = draw(st.sampled_from([s[:pos] + piece + s[pos:], s[:pos] + piece + s[pos + 1:], s[:pos] + s[pos + 1:]]))
    return s


def _strict_arch(s: str) -> str | None:
    """The canonical string when ``s`` (surrounding whitespace aside) is exactly an NB201 arch."""
    op = "(" + "|".join(map(re.escape, OPS)) + ")"
    pattern = rf"\|{op}~0\|\+\|{op}~0\|{op}~1\|\+\|{op}~0\|{op}~1\|{op}~2\|"
    return s.strip() if re.fullmatch(pattern, s.strip()) else None


@settings(max_examples=60)
@given(st.one_of(arch_strings(), st.text(max_size=40)))
def test_fuzz_arch_strings(torch_single_thread_session, s):
    rc, out, err = run_cli("model-info", f"--arch={s}", "--C", "4", "--N", "1", "--json")
    canonical = _strict_arch(s)
    if canonical is not None:
        assert rc == 0 and json.loads(out)["arch"] == canonical, err
    else:
        assert rc == 2 and "arch" in error_line(err) and len(err) < 500 and out == ""


# ------------------------------------------------------------------------------------ user arrays
N_ARCHS = 15_625
DTYPES = ["?", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "g", "c8", "c16",
          "M8[D]", "m8[s]", "U5", "S5", "V8", [("a", "f8")]]
SHAPES = [(N_ARCHS,), (N_ARCHS - 1,), (N_ARCHS + 1,), (N_ARCHS, 1), (1, N_ARCHS), (), (0,), (3,)]
SPECIALS = [None, None, np.nan, np.inf, -np.inf, 2**60 + 1, -1e300, 1j, 0.5]


def _array(dtype, shape, seed: int, special) -> np.ndarray:
    dt = np.dtype(dtype)
    rng = np.random.default_rng(seed)
    if dt.kind in "iu":
        a = rng.integers(0, 10_000, size=shape).astype(dt)
    elif dt.kind in "fcb":
        a = rng.uniform(0, 100, size=shape).astype(dt)
    else:
        return np.zeros(shape, dtype=dt)
    if special is not None and a.size:
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                a.reshape(-1)[seed % a.size] = special
        except (OverflowError, TypeError, ValueError):
            pass  # the special value does not fit this dtype
    return a


def _strictly_real(a: np.ndarray) -> np.ndarray | None:
    """``a`` as float64 when it is one finite real number per arch, each converted exactly."""
    if a.shape != (N_ARCHS,) or a.dtype.kind not in "iuf":
        return None
    b = a.astype(np.float64)
    if a.dtype.kind in "iu":
        exact = all(int(x) == int(y) for x, y in zip(a.tolist(), b.tolist()) if math.isfinite(y))
    else:
        exact = bool(np.all((a.astype(np.longdouble) == b.astype(np.longdouble)) | np.isnan(b)))
    return b if exact and np.all(np.isfinite(b)) else None


def _file(kind: str, dtype, shape, seed: int, special) -> tuple[bytes, np.ndarray | None]:
    """The bytes of a --scores file and the array it holds (None: not one array)."""
    buf = io.BytesIO()
    if kind == "npy":
        a = _array(dtype, shape, seed, special)
        np.save(buf, a)
        return buf.getvalue(), a
    if kind == "npz":
        np.savez(buf, scores=np.zeros(N_ARCHS))
    elif kind == "object":
        np.save(buf, np.array([object()] * 3, dtype=object), allow_pickle=True)
    elif kind == "garbage":
        buf.write(np.random.default_rng(seed).bytes(seed % 64))
    return buf.getvalue(), None


anything = st.tuples(st.sampled_from(["npy"] * 6 + ["npz", "empty", "garbage", "object"]), st.sampled_from(DTYPES),
                     st.sampled_from(SHAPES), st.integers(0, 2**16), st.sampled_from(SPECIALS))
plausible = st.tuples(st.just("npy"), st.sampled_from([d for d in DTYPES if np.dtype(d).kind in "iuf"]),
                      st.just((N_ARCHS,)), st.integers(0, 2**16), st.sampled_from(SPECIALS))


@settings(max_examples=30)
@given(st.one_of(anything, plausible))
def test_fuzz_metrics_arrays(gt, tmp_path_factory, case):
    """Descriptors, not arrays, are drawn (small failure reports); the file is built from them."""
    blob, arr = _file(*case)
    path = tmp_path_factory.mktemp("fuzz") / "scores.npy"
    path.write_bytes(blob)
    rc, out, err = run_cli("metrics", "--scores", str(path), "--json")
    expected = _strictly_real(arr) if arr is not None else None
    event("rejected" if expected is None else "accepted")
    if expected is None:
        assert rc == 2 and str(path) in error_line(err) and out == ""
        return
    assert rc == 0, err
    acc = gt.test_acc("cifar10")
    got = json.loads(out)
    for key, ref in (("kendall", stats.kendalltau(acc, expected).statistic),
                     ("spearman", stats.spearmanr(acc, expected).statistic)):
        assert got[key] == pytest.approx(ref, abs=1e-9, nan_ok=True), key


# ------------------------------------------------------------------------------ override values
PROFILE_FIELDS = {f.name: str(f.type) for f in dataclasses.fields(Profile)}
DARTS_OPTIONS = {f.name: str(f.type) for f in dataclasses.fields(ALGORITHMS.get("darts").Config)}
BOOLS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}
INVALID = object()


def _strict_value(v: str, typ: str):
    """What a careful reader takes ``v`` to mean for a field of type ``typ``, or INVALID."""
    v = v.strip()
    number = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?"
    if v.lower() in ("none", "null"):
        return None if "None" in typ else INVALID
    if "bool" in typ:
        return BOOLS.get(v.lower(), INVALID)
    if "tuple" in typ:
        parts = v.strip("()").split(",")
        ok = len(parts) == typ.count(",") + 1 and all(re.fullmatch(number, p.strip()) for p in parts)
        vals = tuple(float(p) for p in parts) if ok else ()
        return vals if ok and all(map(math.isfinite, vals)) else INVALID
    if "int" in typ and "float" not in typ:
        return int(v) if re.fullmatch(r"[+-]?[0-9]{1,30}", v) else INVALID
    if "float" in typ:
        return float(v) if re.fullmatch(number, v) and math.isfinite(float(v)) else INVALID
    return v


junk = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["maybe", "ture", "nan", "-inf", "1e400", "None", "null", "", "１６", "3.0", "1e3", "-0",
                     "0x10", "1_000", "(0.5,0.9)", "0.5,0.9,0.1", "float16", "protocol", "nb201", "running"]),
    st.integers(-10**6, 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


def _spec_of(*argv: str):
    """``(status, RunSpec reaching Stage 1 or None, stderr)``: Stage 1 itself is replaced by a recorder."""
    specs = []

    def record(spec, **kw):
        specs.append(spec)
        raise KeyboardInterrupt("recorded")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(engine, "train_supernet", record)
        rc, _, err = run_cli("train", "--algo", "darts", *argv)
    assert (rc == 130) == bool(specs), err
    return rc, (specs[0] if specs else None), err


@settings(max_examples=120)
@given(st.sampled_from([("--set", f) for f in PROFILE_FIELDS] + [("--opt", f) for f in DARTS_OPTIONS]), junk)
def test_fuzz_overrides(flag_field, value):
    flag, field = flag_field
    rc, spec, err = _spec_of(flag, f"{field}={value}")
    meant = _strict_value(value, (PROFILE_FIELDS if flag == "--set" else DARTS_OPTIONS)[field])
    if spec is not None:  # accepted: Stage 1 was reached with exactly the value meant
        got = getattr(spec.profile, field) if flag == "--set" else dict(spec.method_options)[field]
        assert meant is not INVALID and got == meant and type(got) is type(meant), (value, got)
    else:
        assert rc == 2 and field in error_line(err)


def test_overrides_accept_sensible_values():
    """The other half of the fuzz property: ordinary values of every field are accepted as meant."""
    sensible = {"name": "mine", "C": "8", "N": "2", "epochs": "3", "batch_size": "32", "lr": "0.05",
                "lr_min": "1e-4", "momentum": "0.8", "weight_decay": "5e-4", "grad_clip": "3", "split": "nb201",
                "train_size": "none", "valid_size": "100", "score_images": "64", "score_batch_size": "64",
                "bn_mode": "running", "recalib_batches": "2", "score_augment": "yes", "num_samples": "10",
                "dtype": "float64", "reference": "on", "valid_images": "none", "jacob_batch": "8",
                "perturb_epochs": "0", "perturb_lr": "0.01", "perturb_valid_images": "32", "rsps_biased_epochs": "250",
                "gt_split": "papers", "jacob_bn": "first-train", "checkpoint_every": "5", "k": "2", "arch_lr": "6e-4"}
    assert set(sensible) == set(PROFILE_FIELDS)
    for field, value in sensible.items():
        _, spec, err = _spec_of("--set", f"{field}={value}")
        assert spec is not None and getattr(spec.profile, field) == _strict_value(value, PROFILE_FIELDS[field]), err
