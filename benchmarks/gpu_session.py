"""One-shot GPU session (issue 20): the CUDA tests, the engine table and a paper-size signal run, as
ONE time-boxed command that writes ``report.json`` + ``report.md`` (and the tests' log) to ``--out``.

Parts, in order, each with its own time box inside a global budget (default 450 s, under the 8 min a
lent H200 allows); a part that would pass its box is cut and says so, a failing part is recorded
with its error and the others still run, and the report is rewritten atomically after every part:

1. ``tests``: ``pytest -m gpu`` on the CUDA tests (subprocess, output captured to ``pytest-gpu.log``);
2. ``ceilings``: the device's measured copy bandwidth and fp32 / bf16 matmul rates (the floors' peaks);
3. ``engine``: at the paper setting (C=16, N=5, CIFAR-10) on one supernet, the naive per-arch path on
   a class sample and the batched engine (exact, exact with a ReLU per edge and op instead of per node,
   bf16) on a larger one, on the 1,664 scoring images and on the 25,000-image valid half: time, peak
   memory, archs/s, ratio to naive, distance to the compute and memory floors
   (:func:`benchmarks.physical_limits.per_image_work`);
4. ``signal``: an ``rsps`` supernet (C=16, N=5) trained on the 25k train half through the harness's
   own loop (``engine.train_supernet``) until a wall budget (about 3 min; it stops at the end of the
   epoch that passes it), then batched exact scoring (batch-statistics BN, 1,664 images) of the
   functional classes in a seeded random order until its box ends, and the Stage-1 metrics
   (Kendall, Spearman, a1 levels, precision@top-5 %) against NB201; the same for the untrained
   supernet (the same initial weights) as the floor, compared on the classes both scored. A cut
   scoring is a uniform random sample of classes: the metrics are then computed on the archs of
   those classes, with threshold groups scaled to 625 x (scored archs / 15,625), and say so.

``--tiny`` (C=4, N=1, a few hundred images, a handful of classes, seconds of training) runs every part
end to end on a CPU in well under a minute (``tests/test_gpu_session.py``). Data: the protocol split
of CIFAR-10 from ``--pack`` (a *device pack*, below), else from a device pack under the data root,
else through the package loader. The full JPEG pack (73 MiB) is over the device tool's 64 MiB
transfer limit, so ``--make-device-data shared/data`` writes a train-only copy (the 25k + 25k search
rows, lossless pixels kept for the scoring images) and the ground-truth table into the checkout's
ignored ``shared/data`` (``benchmarks/README.md`` has the exact device command)::

    python benchmarks/gpu_session.py --make-device-data shared/data     # here, once (ignored folder)
    python benchmarks/gpu_session.py --out $OUT [--device auto|cuda|cpu] [--tiny] [--budget 450]
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the repository root holds `benchmarks` and the package
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

DEVICE_PACK = "cifar10/cifar10-train-device-pack.npz"
HALF = 25_000  # CIFAR-10 protocol split: rows [0, 25k) train, [25k, 50k) valid


@dataclass(frozen=True)
class SessionConfig:
    """Sizes and time boxes (seconds) of one session; ``FULL`` for a GPU, ``TINY`` for a CPU test."""

    C: int = 16
    N: int = 5
    train_rows: int = HALF  # per half, from the device pack
    score_images: int = 1664
    score_batch: int = 1664
    valid_images: int = HALF  # the whole valid half
    valid_batch: int = 1000
    naive_classes: int = 16  # naive path on 1,664 images
    sample_classes: int = 256  # batched on 1,664 images
    valid_naive_classes: int = 2  # naive on the valid half
    valid_sample_classes: int = 32  # batched on the valid half
    epochs: int = 10  # the cosine schedule's length; the wall budget may stop earlier
    train_budget: float = 180.0
    block: int = 512  # classes per scoring block (the cut granularity)
    score_box: float | None = None  # cap on each signal scoring (None: what the budget leaves)
    budget: float = 450.0  # the whole session
    tests_box: float = 75.0
    engine_box: float = 100.0
    reserve: float = 10.0  # kept for the last report write

    def replace(self, **kw) -> "SessionConfig":
        return dataclasses.replace(self, **kw)


FULL = SessionConfig()
TINY = SessionConfig(C=4, N=1, train_rows=128, score_images=16, score_batch=16, valid_images=128, valid_batch=64,
                     naive_classes=2, sample_classes=4, valid_naive_classes=1, valid_sample_classes=2, epochs=2,
                     train_budget=1.0, block=16, score_box=4.0, budget=90.0, tests_box=40.0, engine_box=20.0,
                     reserve=2.0)


# ---------------------------------------------------------------------------------------- report
class Report:
    """The session's report, rewritten atomically (JSON + Markdown) after every part."""

    def __init__(self, out: Path, cfg: SessionConfig, args: dict):
        self.out, self.t0 = out, time.perf_counter()
        self.data: dict = {"issue": 20, "config": dataclasses.asdict(cfg), "args": args, "parts": {},
                           "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "env": _env()}

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def save(self) -> None:
        from supernetbench.harness.store import atomic_write_json, atomic_write_text

        self.data["elapsed_s"] = round(self.elapsed(), 2)
        atomic_write_json(self.out / "report.json", self.data)
        atomic_write_text(self.out / "report.md", render_markdown(self.data))

    @contextlib.contextmanager
    def part(self, name: str):
        """Record a part: ``ok``, ``cut`` (set by the part) or ``failed`` with its error; never raises."""
        rec = self.data["parts"].setdefault(name, {})
        rec["status"] = "running"
        t = time.perf_counter()
        self.save()
        try:
            yield rec
            if rec["status"] == "running":
                rec["status"] = "ok"
        except Exception as e:  # one part's failure must not lose the others
            rec["status"] = "failed"
            rec["error"] = f"{type(e).__name__}: {e}"
            rec["traceback"] = traceback.format_exc()[-3000:]
            print(f"[gpu_session] part {name} failed: {rec['error']}", file=sys.stderr, flush=True)
        finally:
            rec["seconds"] = round(time.perf_counter() - t, 2)
            self.save()
            print(f"[gpu_session] {name}: {rec['status']} in {rec['seconds']} s "
                  f"(session {self.elapsed():.0f} s)", file=sys.stderr, flush=True)


def _env() -> dict:
    rev = None
    with contextlib.suppress(Exception):
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             timeout=10).stdout.strip() or None
    return {"torch": torch.__version__, "python": sys.version.split()[0], "git_revision": rev,
            "cuda": torch.version.cuda, "device_name": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"}


def _cut(rec: dict, why: str) -> None:
    rec["status"] = "cut"
    rec.setdefault("cuts", []).append(why)


# ------------------------------------------------------------------------------------------ data
def make_device_data(dest: Path, src_root: Path | None = None, rows: int = HALF, exact_valid: int = 1664) -> Path:
    """Write ``dest/cifar10/cifar10-train-device-pack.npz`` and ``dest/nb201/`` (the ground-truth table
    and the CIFAR split file) from the data root: the pack's first ``rows`` train-half rows and first
    ``rows`` valid-half rows (protocol split) as the JPEGs they are, in the pack's own key format (so
    :func:`decode_cifar10_pack` reads it), with the known lossless pixels of the first ``exact_valid``
    valid rows only (all of them would cost 16.7 MB more than the device tool carries)."""
    from supernetbench.spaces.nb201.benchmark import FILENAME, default_table_path
    from supernetbench.harness.data.cifar import PACKS
    from supernetbench.harness.data.common import _verify_sha256, candidate_roots
    from supernetbench.harness.store import atomic_write_bytes

    roots = [Path(src_root)] if src_root else [r for r, _ in candidate_roots()]
    src = next((r / PACKS["cifar10"][0] for r in roots if (r / PACKS["cifar10"][0]).is_file()), None)
    if src is None:
        raise FileNotFoundError(f"no {PACKS['cifar10'][0]} under {', '.join(map(str, roots))}; "
                                "set SUPERNETBENCH_DATA to the folder that holds it")
    _verify_sha256(src, PACKS["cifar10"][1])
    if not 1 <= rows <= HALF:
        raise ValueError(f"rows must lie in [1, {HALF}], got {rows}")
    with np.load(src, allow_pickle=False) as z:
        jpeg, off, y = z["jpeg_train"], z["jpeg_offsets_train"], z["y_train"]
        ex_idx, ex_x = z["exact_index_train"], z["exact_x_train"]
    idx = np.concatenate([np.arange(rows), HALF + np.arange(rows)])
    parts = [jpeg[off[i]:off[i + 1]] for i in idx]
    offsets = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)
    pos = {int(i): k for k, i in enumerate(idx)}
    keep = [j for j, i in enumerate(ex_idx) if HALF <= i < HALF + min(exact_valid, rows)]
    out = dest / DEVICE_PACK
    out.parent.mkdir(parents=True, exist_ok=True)
    import io
    buf = io.BytesIO()
    np.savez(buf, jpeg_train=np.concatenate(parts), jpeg_offsets_train=offsets, y_train=y[idx],
             exact_index_train=np.array([pos[int(ex_idx[j])] for j in keep], dtype=np.int64),
             exact_x_train=ex_x[keep].reshape(-1, 32, 32, 3), source_index=idx.astype(np.int64))
    atomic_write_bytes(out, buf.getvalue())
    table = default_table_path()
    nb = dest / "nb201"
    nb.mkdir(parents=True, exist_ok=True)
    for f in (table, table.with_name(FILENAME + ".sha256"), table.parent / "splits" / "cifar-split.txt"):
        if f.is_file() and f.resolve() != (nb / f.relative_to(table.parent)).resolve():
            (nb / f.relative_to(table.parent)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, nb / f.relative_to(table.parent))
    return out


def load_data(pack: Path | None, rows: int):
    """CIFAR-10 protocol-split SearchData: from a device pack (first ``rows`` of each half) when one is
    given or found under the data roots, else through :func:`load_search_data`."""
    from supernetbench.harness.data import DataConfig, load_search_data
    from supernetbench.harness.data.common import candidate_roots

    if pack is None:
        pack = next((r / DEVICE_PACK for r, _ in candidate_roots() if (r / DEVICE_PACK).is_file()), None)
    if pack is None:
        return load_search_data(DataConfig("cifar10", train_size=rows, valid_size=rows))
    from supernetbench.harness.data import MEAN, STD
    from supernetbench.harness.data.search import SearchData

    with np.load(pack, allow_pickle=False) as z:
        n = len(z["y_train"])
    half = n // 2
    if rows > half:
        raise ValueError(f"{pack} holds {half:,} rows per half, {rows:,} asked; rebuild it with --make-device-data")
    idx = np.concatenate([np.arange(rows), half + np.arange(rows)])
    x, y = _decode(pack, idx)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    return SearchData("cifar10", 10, 32, MEAN["cifar10"], STD["cifar10"], x[:rows], y[:rows], x[rows:], y[rows:],
                      f"CIFAR-10 device pack {pack.name} (JPEG pixels; lossless rows kept for the first scoring "
                      f"images), protocol split, {rows:,} train / {rows:,} valid images", "pack", str(pack.parent))


def _decode(pack: Path, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`decode_cifar10_pack` of ``idx``, in up to 8 processes for large packs (50,000 JPEGs take
    ~30 s on one core): the same pixels, in order."""
    from supernetbench.harness.data.cifar import decode_cifar10_pack

    workers = min(8, os.cpu_count() or 1)
    if len(idx) < 5000 or workers < 2:
        return decode_cifar10_pack(pack, "train", idx, exact=True, verify=False, progress=False)
    import concurrent.futures as cf
    import multiprocessing as mp

    from functools import partial

    one = partial(decode_cifar10_pack, pack, "train", exact=True, verify=False, progress=False)  # picklable
    with cf.ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as ex:
        res = list(ex.map(one, np.array_split(idx, workers)))
    return np.concatenate([r[0] for r in res]), np.concatenate([r[1] for r in res])


# ------------------------------------------------------------------------------------ measuring
def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _timed(dev: torch.device, fn):
    _sync(dev)
    t = time.perf_counter()
    out = fn()
    _sync(dev)
    return out, time.perf_counter() - t


def _peak_reset(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)


def _peak_gib(dev: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(dev) / 2**30 if dev.type == "cuda" else None


def measure_ceilings(dev: torch.device, tiny: bool) -> dict:
    """Measured peaks: device-to-device copy (bytes read + written per s), fp32 matmul with TF32 off,
    and bf16 matmul where the hardware has it (the median of 5 after 2 warm-ups)."""
    from supernetbench.harness.precision import bf16_supported

    def rate(fn, work):
        for _ in range(2):
            fn()
        ts = sorted(_timed(dev, fn)[1] for _ in range(5))
        return work / ts[2]

    n = (1 << 22) if tiny else (1 << 30)  # bytes
    a = torch.empty(n // 4, device=dev)
    b = torch.empty_like(a)
    out = {"copy_bytes_per_s": rate(lambda: b.copy_(a), 2 * n)}
    del a, b
    m = 256 if tiny else 8192
    old = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        x = torch.randn(m, m, device=dev)
        out["fp32_flops"] = rate(lambda: x @ x, 2 * m**3)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old
    if bf16_supported(dev):
        xb = x.to(torch.bfloat16)
        out["bf16_flops"] = rate(lambda: xb @ xb, 2 * m**3)
    return out


def floors(reps: np.ndarray, cfg: SessionConfig, images: int, ceilings: dict, precision: str) -> dict:
    """Compute and memory floors (s) of scoring ``reps`` on ``images`` images with these peaks."""
    from benchmarks.physical_limits import per_image_work

    if not ceilings:
        return {"compute_floor_s": None, "memory_floor_s": None}
    act = 2 if precision == "bf16" else 4
    work = np.array([per_image_work(r, cfg.C, cfg.N, act) for r in reps]).sum(0) * images
    flops = ceilings.get("bf16_flops" if precision == "bf16" else "fp32_flops") or ceilings["fp32_flops"]
    return {"compute_floor_s": 2 * work[0] / flops, "memory_floor_s": work[1] / ceilings["copy_bytes_per_s"]}


# -------------------------------------------------------------------------------------- scoring
class Space:
    """The NB201 space, its functional classes (batch-statistics BN) and the ground truth."""

    def __init__(self):
        from supernetbench.spaces.nb201.benchmark import load_ground_truth
        from supernetbench.spaces.nb201.space import NB201Space

        self.gt = load_ground_truth()
        self.archs = self.gt.archs
        self.labels, self.reps = NB201Space().functional_classes(self.archs, zero_propagates=True)
        self.sizes = np.bincount(self.labels, minlength=len(self.reps))
        self.test_acc = self.gt.test_acc("cifar10")


def score_classes(net, data, space: Space, order: np.ndarray, images: int, batch: int, deadline: float,
                  block: int, precision: str = "exact", share_relu: bool = True) -> dict:
    """Batched scores of the classes ``order`` in blocks (each block lexicographically sorted for
    prefix sharing) until ``deadline`` (perf_counter). After a one-class warm-up (not timed), a first
    block of at most 16 classes measures the rate; a block is started only if, at that rate, it ends
    before the deadline. Returns per-class scores (NaN = not scored), classes done, seconds, peak memory."""
    from supernetbench.spaces.nb201.batched import BatchedScorer
    from supernetbench.oneshot.scoring import ScoreConfig, _prepared, make_scoring_data

    dev = next(net.parameters()).device
    scores = np.full(len(space.reps), np.nan)
    if time.perf_counter() >= deadline:
        return {"scores": scores, "classes": 0, "seconds": 0.0, "chunk": None, "peak_gib": None}
    cfg = ScoreConfig(bn_mode="batch", images=images, batch_size=batch)
    sd = make_scoring_data(data, cfg, dev)
    scorer = BatchedScorer(_prepared(net, cfg), sd, cfg, precision=precision, share_relu=share_relu)
    scorer.accuracy(space.reps[order[:1]])  # warm-up: cuDNN autotuning, allocator
    _peak_reset(dev)
    t0, rate, done = time.perf_counter(), None, 0
    while done < len(order):  # the first (probe) block always runs: every started scoring reports a rate
        b = order[done : done + (min(16, block) if rate is None else block)]
        if rate is not None and time.perf_counter() + rate * len(b) > deadline:
            break
        b = b[np.lexsort(space.reps[b].T[::-1])]
        tb = time.perf_counter()
        scores[b] = scorer.accuracy(space.reps[b])
        _sync(dev)
        rate, done = (time.perf_counter() - tb) / len(b), done + len(b)
    return {"scores": scores, "classes": done, "seconds": time.perf_counter() - t0, "chunk": scorer.chunk,
            "peak_gib": _peak_gib(dev)}


def stage1_metrics(space: Space, class_scores: np.ndarray) -> dict:
    """Kendall, Spearman, a1 (first 5 levels) with its random baseline, precision@top-5 % over the
    archs whose class was scored; groups of 625 x (scored / 15,625) archs when that is a sample."""
    from supernetbench.harness import metrics as M

    sc = class_scores[space.labels]
    m = ~np.isnan(sc)
    n = int(m.sum())
    acc, sc = space.test_acc[m], sc[m]
    group = max(1, round(625 * n / len(space.archs)))
    return {"archs": n, "complete": n == len(space.archs), "group_size": group,
            "kendall": float(M.kendall_tau(acc, sc)), "spearman": float(M.spearman(acc, sc)),
            "a1": M.top_id_rate(acc, sc, group)[:5].tolist(), "a1_random": M.random_baseline(acc, group)[:5].tolist(),
            "precision_top5pct": float(M.precision_at_top(acc, sc, 0.05)),
            "score_mean": float(np.mean(sc)), "score_max": float(np.max(sc))}


# ---------------------------------------------------------------------------------------- parts
def part_tests(rec: dict, out: Path, box: float) -> None:
    cmd = [sys.executable, "-m", "pytest", "-m", "gpu", "tests/test_gpu.py", "tests/test_data.py", "-q",
           "-p", "no:cacheprovider", "-o", "addopts=--strict-markers -ra"]
    env = {**os.environ, "SUPERNETBENCH_GPU_ONLY": "1", "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    rec["command"] = " ".join(cmd[1:])
    try:
        p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=box)
        text, rec["returncode"] = p.stdout + p.stderr, p.returncode
    except subprocess.TimeoutExpired as e:
        text = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        rec["returncode"] = None
        _cut(rec, f"pytest passed its {box:.0f} s box and was stopped")
    (out / "pytest-gpu.log").write_text(text)
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    rec["summary"] = lines[-1] if lines else ""
    rec["output_tail"] = text[-3000:]
    if rec.get("returncode") not in (0, 5, None):  # 5: nothing collected (no gpu tests selected)
        raise RuntimeError(f"pytest -m gpu exited {rec['returncode']}: {rec['summary']}")


def part_engine(rec: dict, net, data, space: Space, cfg: SessionConfig, ceilings: dict, dev, deadline: float) -> None:
    """The engine table on one supernet: naive vs batched (exact, exact without shared ReLU, bf16)."""
    from supernetbench.harness.precision import bf16_supported
    from supernetbench.oneshot.scoring import ScoreConfig, make_scoring_data, score_archs

    rng = np.random.default_rng(0)
    rows = rec.setdefault("rows", [])
    n_all, n_cls = len(space.archs), len(space.reps)
    precisions = [("exact", True), ("exact", False)] + ([("bf16", True)] if bf16_supported(dev) else [])
    if not bf16_supported(dev):
        rec["bf16"] = "not measured: no native bf16 on this device"
    for images, batch, n_naive, n_sample in ((cfg.score_images, cfg.score_batch, cfg.naive_classes, cfg.sample_classes),
                                             (cfg.valid_images, cfg.valid_batch, cfg.valid_naive_classes,
                                              cfg.valid_sample_classes)):
        sample = np.sort(rng.choice(n_cls, n_sample, replace=False))
        naive_idx = sample[:n_naive]
        if time.perf_counter() > deadline:
            _cut(rec, f"{images}-image rows not measured: the engine box ended")
            continue
        sc = ScoreConfig(bn_mode="batch", images=images, batch_size=batch)
        sd = make_scoring_data(data, sc, dev)
        score_archs(net, space.reps[naive_idx[:1]], sd, sc)  # warm-up
        naive, t = _timed(dev, lambda: score_archs(net, space.reps[naive_idx], sd, sc))
        del sd
        s_arch = t / n_naive
        base = {"images": images, "classes": n_naive, "archs_covered": n_naive, "seconds": t, "s_per_class": s_arch,
                "archs_per_s": 1 / s_arch, "full_space_s": s_arch * n_all, "peak_gib": None}
        rows.append({"engine": "naive", "precision": "exact", **base, **floors(space.reps[naive_idx], cfg, images,
                                                                                 ceilings, "exact")})
        for precision, share in precisions:
            if time.perf_counter() > deadline:
                _cut(rec, f"batched {precision} on {images} images not measured: the engine box ended")
                continue
            r = score_classes(net, data, space, sample, images, batch, deadline, n_sample, precision, share)
            done = r["classes"]
            if done == 0:
                _cut(rec, f"batched {precision} on {images} images: no block fitted the box")
                continue
            got = sample[:done]
            s_cls = r["seconds"] / done
            row = {"engine": "batched" if share else "batched (per-op ReLU)", "precision": precision,
                   "images": images, "classes": done, "archs_covered": int(space.sizes[got].sum()),
                   "seconds": r["seconds"], "s_per_class": s_cls,
                   "archs_per_s": float(space.sizes[got].sum()) / r["seconds"], "full_space_s": s_cls * n_cls,
                   "peak_gib": r["peak_gib"], "chunk": r["chunk"],
                   "speedup_vs_naive_per_evaluation": s_arch / s_cls,
                   "speedup_vs_naive_full_space": s_arch * n_all / (s_cls * n_cls),
                   "counts_differing_from_naive": int(np.sum(r["scores"][naive_idx] != naive)),
                   "max_abs_diff_vs_naive_pp": float(np.max(np.abs(r["scores"][naive_idx] - naive))),
                   **floors(space.reps[got], cfg, images, ceilings, precision)}
            rows.append(row)
        for row in rows:
            if row.get("compute_floor_s") is not None:
                row["x_floor"] = row["seconds"] / max(row["compute_floor_s"], row["memory_floor_s"])


def train_rsps(cfg: SessionConfig, data, dev, runs_root: Path, deadline: float, rec: dict):
    """The rsps supernet trained through ``engine.train_supernet`` one epoch per call (each call
    resumes from the last checkpoint) until ``cfg.epochs`` or the end of the epoch that passes
    ``deadline``; returns the trained net (from the run, or from the last checkpoint when cut)."""
    from unittest import mock

    from supernetbench.oneshot import train as engine
    from supernetbench.harness.profiles import get_profile
    from supernetbench.harness.store import load_weights
    from supernetbench.spaces.nb201.supernet import SupernetConfig, build_supernet

    prof = get_profile("paper", {"C": cfg.C, "N": cfg.N, "epochs": cfg.epochs})
    spec = engine.RunSpec("rsps", "cifar10", 0, prof)
    run = None
    # the harness loop on this session's data (the device pack is not the registered pack: the loader's
    # sha256 check would refuse it)
    with mock.patch.object(engine, "cached_search_data", lambda _cfg: data):
        for e in range(cfg.epochs):
            try:
                run = engine.train_supernet(spec, runs_root=runs_root, device=dev, progress=False,
                                            stop_after_epoch=e if e < cfg.epochs - 1 else None)
            except KeyboardInterrupt as k:
                if "stop_after_epoch" not in str(k):
                    raise
            if run is None and time.perf_counter() > deadline:
                _cut(rec, f"training stopped after epoch {e + 1} of {cfg.epochs}: the wall budget "
                          f"({cfg.train_budget:.0f} s) passed")
                break
        untrained = engine.train_supernet(engine.RunSpec("untrained", "cifar10", 0, prof), runs_root=runs_root,
                                          device=dev, progress=False)
    rd = engine.run_dir_for(spec, runs_root)
    if run is not None:
        net, log = run.load_supernet(dev), run.log
    else:
        ck = load_weights(rd / "checkpoint.pt", engine.CHECKPOINT_KEYS)
        net = build_supernet(SupernetConfig(C=cfg.C, N=cfg.N, num_classes=10)).to(dev)
        net.load_state_dict(ck["net"])
        log = list(ck["log"])
    rec["epochs_reached"] = len(log)
    rec["epochs_planned"] = cfg.epochs
    rec["train_log"] = [{k: ep.get(k) for k in ("epoch", "lr", "train_loss", "train_acc", "valid_acc", "seconds")}
                        for ep in log]
    rec["train_seconds"] = float(sum(ep["seconds"] for ep in log))
    return net, untrained.load_supernet(dev)


def part_signal(rec: dict, trained, untrained, data, space: Space, cfg: SessionConfig, end: float) -> None:
    """Full-space (or time-boxed sample) scoring of the trained and the untrained supernet; metrics."""
    order = np.random.default_rng(1).permutation(len(space.reps))
    box = max(0.0, end - time.perf_counter())
    res = {}
    for name, net, share in (("trained", trained, 0.6), ("untrained", untrained, 1.0)):
        left = share * max(0.0, end - time.perf_counter())
        deadline = time.perf_counter() + min(left, cfg.score_box or left)
        r = score_classes(net, data, space, order, cfg.score_images, cfg.score_batch, deadline, cfg.block)
        res[name] = r
        rec[name] = {"classes_scored": r["classes"], "classes_total": len(space.reps), "seconds": r["seconds"],
                     "peak_gib": r["peak_gib"], "chunk": r["chunk"],
                     "full_space_s": r["seconds"] if r["classes"] == len(space.reps)
                     else (r["seconds"] / r["classes"] * len(space.reps) if r["classes"] else None),
                     "full_space_s_is": "measured" if r["classes"] == len(space.reps) else "extrapolated"}
        if r["classes"] < len(space.reps):
            _cut(rec, f"{name}: {r['classes']:,} of {len(space.reps):,} classes scored in the box "
                      f"(a uniform random sample; metrics on its archs)")
        if r["classes"]:
            rec[name]["metrics"] = stage1_metrics(space, r["scores"])
    rec["box_s"] = box
    common = order[: min(res["trained"]["classes"], res["untrained"]["classes"])]
    if len(common):
        both = {}
        for name in ("trained", "untrained"):
            s = np.full(len(space.reps), np.nan)
            s[common] = res[name]["scores"][common]
            both[name] = stage1_metrics(space, s)
        rec["paired"] = both
        rec["kendall_trained_above_untrained"] = bool(both["trained"]["kendall"] > both["untrained"]["kendall"])


# ------------------------------------------------------------------------------------- markdown
def _f(v, fmt="{:.3g}") -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return fmt.format(v)
    return str(v)


def render_markdown(d: dict) -> str:
    c, env = d["config"], d["env"]
    L = [f"# GPU session (issue 20): {env['device_name']}", "",
         f"torch {env['torch']} (CUDA {env['cuda']}), git {env['git_revision']}, started {d['started']}, "
         f"{_f(d.get('elapsed_s'), '{:.0f}')} s of a {c['budget']:.0f} s budget. "
         f"Supernet C={c['C']}, N={c['N']}; {'TINY (CPU check) ' if d['args'].get('tiny') else ''}sizes in `report.json`.", "",
         "| part | status | seconds | notes |", "|---|---|---|---|"]
    for name, p in d["parts"].items():
        notes = "; ".join(p.get("cuts", [])) + (f" ERROR {p['error']}" if "error" in p else "")
        L.append(f"| {name} | {p['status']} | {_f(p.get('seconds'), '{:.1f}')} | {notes} |")
    t = d["parts"].get("tests")
    if t:
        L += ["", "## CUDA tests", "", f"`{t.get('command', '')}`: exit {t.get('returncode')}, `{t.get('summary', '')}`"]
    ce = d["parts"].get("ceilings", {})
    if "copy_bytes_per_s" in ce:
        L += ["", "## Device ceilings (measured)", "",
              f"copy {ce['copy_bytes_per_s'] / 1e12:.3g} TB/s (read + write), fp32 matmul (TF32 off) "
              f"{ce['fp32_flops'] / 1e12:.3g} TFLOP/s" + (f", bf16 matmul {ce['bf16_flops'] / 1e12:.3g} TFLOP/s"
                                                        if "bf16_flops" in ce else "")]
    e = d["parts"].get("engine", {})
    if e.get("rows"):
        L += ["", "## Engine table (one supernet, batch-statistics BN)", "",
              "| engine | precision | images | classes | s | s/class | archs/s | full space s (from rate) | peak GiB "
              "| x naive (full space) | compute floor s | memory floor s | x floor | counts != naive |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in e["rows"]:
            L.append(f"| {r['engine']} | {r['precision']} | {r['images']} | {r['classes']} | {_f(r['seconds'])} | "
                     f"{_f(r['s_per_class'])} | {_f(r['archs_per_s'])} | {_f(r['full_space_s'], '{:.0f}')} | "
                     f"{_f(r['peak_gib'])} | {_f(r.get('speedup_vs_naive_full_space'))} | {_f(r['compute_floor_s'])} | "
                     f"{_f(r['memory_floor_s'])} | {_f(r.get('x_floor'))} | {_f(r.get('counts_differing_from_naive'))} |")
    s = d["parts"].get("signal", {})
    if "epochs_reached" in s:
        L += ["", "## Signal run (rsps, trained on the 25k train half for a wall budget)", "",
              f"{s['epochs_reached']} of {s['epochs_planned']} planned epochs in {_f(s['train_seconds'], '{:.0f}')} s; "
              "last epoch: " + ", ".join(f"{k} {_f(v)}" for k, v in (s["train_log"][-1] if s["train_log"] else {}).items())]
    for label, block in (("own scored classes", {k: s[k].get("metrics") for k in ("trained", "untrained") if k in s}),
                         ("the classes both scored (paired)", s.get("paired", {}))):
        block = {k: v for k, v in block.items() if v}
        if not block:
            continue
        L += ["", f"Stage-1 metrics on {label}:", "",
              "| supernet | archs | complete | Kendall | Spearman | p@top-5% | a1 levels 0-4 | random a1 |",
              "|---|---|---|---|---|---|---|---|"]
        for k, m in block.items():
            L.append(f"| {k} | {m['archs']} | {m['complete']} | {m['kendall']:.3f} | {m['spearman']:.3f} | "
                     f"{m['precision_top5pct']:.3f} | {' / '.join(f'{v:.3f}' for v in m['a1'])} | "
                     f"{' / '.join(f'{v:.3f}' for v in m['a1_random'])} |")
    for k in ("trained", "untrained"):
        if k in s:
            L.append(f"\n{k}: {s[k]['classes_scored']:,} of {s[k]['classes_total']:,} classes in "
                     f"{_f(s[k]['seconds'], '{:.1f}')} s; full space {_f(s[k]['full_space_s'], '{:.0f}')} s "
                     f"({s[k]['full_space_s_is']}), peak {_f(s[k]['peak_gib'])} GiB")
    return "\n".join(L) + "\n"


# ------------------------------------------------------------------------------------------ main
def run_session(out: Path, device: str = "auto", tiny: bool = False, budget: float | None = None,
                pack: Path | None = None, parts: tuple[str, ...] = ("tests", "ceilings", "engine", "signal")) -> dict:
    from supernetbench.harness.device import resolve_device, tiny_op_threads

    cfg = TINY if tiny else FULL
    if budget is not None:
        cfg = cfg.replace(budget=budget)
    dev = resolve_device(device)
    out.mkdir(parents=True, exist_ok=True)
    rep = Report(out, cfg, {"device": str(dev), "tiny": tiny, "pack": str(pack) if pack else None,
                            "parts": list(parts)})
    with tiny_op_threads(dev):  # one intra-op thread on CPU (tiny ops), as is on CUDA
        _run_parts(rep, cfg, dev, out, tiny, pack, parts)
    rep.save()
    return rep.data


def _run_parts(rep: Report, cfg: SessionConfig, dev: torch.device, out: Path, tiny: bool, pack: Path | None,
               parts: tuple[str, ...]) -> None:
    from supernetbench.oneshot.train import set_seed
    from supernetbench.spaces.nb201.supernet import build_supernet
    from supernetbench.spaces.nb201.supernet import SupernetConfig

    end = rep.t0 + cfg.budget - cfg.reserve

    def box(seconds: float) -> float:
        return min(time.perf_counter() + seconds, end)

    if "tests" in parts:
        with rep.part("tests") as rec:
            part_tests(rec, out, max(1.0, box(cfg.tests_box) - time.perf_counter()))
    state: dict = {}
    with rep.part("setup") as rec:
        t = time.perf_counter()
        state["data"] = load_data(pack, cfg.train_rows)
        rec["data"] = state["data"].description
        rec["data_seconds"] = time.perf_counter() - t
        state["space"] = Space()
        rec["classes"] = len(state["space"].reps)
    if "data" not in state or "space" not in state:
        return
    data, space = state["data"], state["space"]
    ceilings = {}
    if "ceilings" in parts:
        with rep.part("ceilings") as rec:
            ceilings = measure_ceilings(dev, tiny)
            rec.update(ceilings)
    if "engine" in parts:
        with rep.part("engine") as rec:
            if not ceilings:
                rec["floors"] = "not computed: no measured device ceilings (that part did not run)"
            set_seed(0)  # the untrained rsps initialisation (same seed as the signal run)
            net = build_supernet(SupernetConfig(C=cfg.C, N=cfg.N, num_classes=10)).to(dev)
            rec["supernet"] = "randomly initialised (seed 0): speed and agreement do not depend on training"
            part_engine(rec, net, data, space, cfg, ceilings, dev, box(cfg.engine_box))
    if "signal" in parts:
        with rep.part("signal") as rec:
            # a fresh run each session (the budget decides the epochs), outside --out (the device tool
            # brings back only a few files from there)
            runs = Path(tempfile.mkdtemp(prefix="gpu-session-runs-"))
            try:
                trained, untrained = train_rsps(cfg, data, dev, runs, box(cfg.train_budget), rec)
                rep.save()
                part_signal(rec, trained, untrained, data, space, cfg, end)
            finally:
                shutil.rmtree(runs, ignore_errors=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="report folder (report.json, report.md, pytest-gpu.log)")
    ap.add_argument("--device", default="auto", choices=("auto", "cuda", "cpu"))
    ap.add_argument("--tiny", action="store_true", help="C=4, N=1, a few hundred images: an end-to-end CPU check")
    ap.add_argument("--budget", type=float, default=None, help="seconds for the whole session (default 450; tiny 90)")
    ap.add_argument("--pack", type=Path, default=None, help="a device pack (default: found under the data roots)")
    ap.add_argument("--parts", nargs="+", default=["tests", "ceilings", "engine", "signal"],
                    choices=("tests", "ceilings", "engine", "signal"))
    ap.add_argument("--make-device-data", type=Path, metavar="DIR",
                    help="write the device pack and the NB201 table under DIR (e.g. shared/data) and exit")
    ap.add_argument("--rows", type=int, default=HALF, help="with --make-device-data: rows per half (default 25000)")
    a = ap.parse_args(argv)
    try:
        if a.make_device_data:
            p = make_device_data(a.make_device_data, rows=a.rows)
            print(f"wrote {p} ({p.stat().st_size / 2**20:.1f} MiB) and {a.make_device_data / 'nb201'}")
            return 0
        if not a.out:
            raise ValueError("--out DIR is required (or --make-device-data DIR)")
        if a.budget is not None and not a.budget > 0:
            raise ValueError(f"--budget must be > 0 seconds, got {a.budget}")
        if a.device == "cuda" and not torch.cuda.is_available():
            raise ValueError("--device cuda but no CUDA device is visible: use --device cpu (or auto)")
        res = run_session(Path(a.out), a.device, a.tiny, a.budget, a.pack, tuple(a.parts))
    except (ValueError, FileNotFoundError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    failed = [k for k, p in res["parts"].items() if p["status"] == "failed"]
    print(f"report: {Path(a.out) / 'report.md'}; parts " + ", ".join(f"{k} {p['status']}" for k, p in res["parts"].items()))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
