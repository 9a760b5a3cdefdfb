"""GPU full-space scoring benchmark (issue 9 targets): naive per-arch path vs the batched engine, side by side.

Trains a real supernet (RSPS, paper shape C=16, N=5 unless told otherwise) on CIFAR-10 on the GPU for a
few epochs, then on the valid half (``--images``, default the whole 25,000-image half):

* ``naive``: :func:`score_archs` on ``--naive-classes`` functional-class representatives;
* ``batched`` exact and bf16 on ``--sample-classes`` representatives (the naive ones included):
  time per class, peak GPU memory, count agreement with naive, bf16-vs-exact agreement;
* a whole-space batched run at ``--full-images`` images (all 9,445 classes), timed.

Full-space times on the 25,000 images are extrapolated from the per-class rates (stated as such).
Usage (``supernetbench`` importable; the pack may hold only the train part)::

    python -m benchmarks.gpu_scoring --pack cifar10-jpeg-pack.npz --out gpu.json
"""
from __future__ import annotations

import argparse
import json
import time
from unittest import mock

import numpy as np
import torch


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _timed(fn):
    _sync()
    t0 = time.perf_counter()
    out = fn()
    _sync()
    return out, time.perf_counter() - t0


def load_data(pack: str, dataset: str = "cifar10"):
    """CIFAR-10 train rows from the JPEG pack, protocol split (first / second half)."""
    from supernetbench.harness.data import MEAN, STD
    from supernetbench.harness.data.cifar import decode_cifar10_pack
    from supernetbench.harness.data.search import SearchData

    x, y = decode_cifar10_pack(pack, "train", exact=False, verify=False, progress=False)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    h = len(y) // 2
    return SearchData(dataset, 10, 32, MEAN[dataset], STD[dataset], x[:h], y[:h], x[h:], y[h:],
                      f"CIFAR-10 train rows from {pack} (JPEG pixels), protocol split", "pack")


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pack", required=True)
    ap.add_argument("--algo", default="rsps")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--C", type=int, default=16)
    ap.add_argument("--N", type=int, default=5)
    ap.add_argument("--images", type=int, default=25000)
    ap.add_argument("--batch-size", type=int, default=1000)
    ap.add_argument("--naive-classes", type=int, default=8)
    ap.add_argument("--sample-classes", type=int, default=256)
    ap.add_argument("--full-images", type=int, default=1664)
    ap.add_argument("--full-precisions", nargs="+", default=["exact", "bf16"])
    ap.add_argument("--chunk", type=int, default=None)
    ap.add_argument("--runs-root", default="/tmp/gpu-runs")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)

    from supernetbench.oneshot import train as engine
    from supernetbench.spaces.nb201.benchmark import load_ground_truth
    from supernetbench.harness.metrics import precision_agreement
    from supernetbench.harness.profiles import get_profile
    from supernetbench.oneshot.scoring import ScoreConfig, make_scoring_data, score_space
    from supernetbench.spaces.nb201.space import NB201Space

    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    res: dict = {"device": torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu",
                 "torch": torch.__version__, "args": vars(a)}
    t0 = time.perf_counter()
    data = load_data(a.pack)
    res["decode_s"] = time.perf_counter() - t0
    prof = get_profile("paper", {"C": a.C, "N": a.N, "epochs": a.epochs})
    spec = engine.RunSpec(a.algo, "cifar10", 0, prof)
    with mock.patch.object(engine, "cached_search_data", lambda cfg: data):
        run, res["train_s"] = _timed(lambda: engine.train_supernet(spec, runs_root=a.runs_root, device=dev, progress=False))
    res["train_log"] = [{k: e[k] for k in ("epoch", "train_acc", "valid_acc", "seconds")} for e in run.log]
    print(json.dumps(res, indent=1), flush=True)

    gt = load_ground_truth()
    space = NB201Space()
    labels, reps = space.functional_classes(gt.archs, zero_propagates=True)
    rng = np.random.default_rng(0)
    sample = reps[np.sort(rng.choice(len(reps), max(a.sample_classes, a.naive_classes), replace=False))]
    naive_idx = rng.choice(len(sample), a.naive_classes, replace=False)
    cfg = ScoreConfig(bn_mode="batch", images=a.images, batch_size=a.batch_size)
    sd = make_scoring_data(data, cfg, dev)
    net = run.load_supernet(dev)

    if a.sample_classes:
        _sample_section(a, res, net, sd, cfg, sample, naive_idx, len(gt.archs), len(reps), dev)
    if a.full_images:
        cfg_f = ScoreConfig(bn_mode="batch", images=a.full_images, batch_size=min(a.full_images, a.batch_size * 2))
        sd_f = make_scoring_data(data, cfg_f, dev)
        full = {}
        for precision in a.full_precisions:
            torch.cuda.reset_peak_memory_stats() if dev.type == "cuda" else None
            full[precision], t = _timed(lambda: score_space(net, gt.archs, sd_f, cfg_f, progress=False,
                                                            engine="batched", precision=precision, save_every=2048))
            res[f"full_space_{precision}_{a.full_images}img"] = {
                "seconds": t, "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if dev.type == "cuda" else None}
            print(json.dumps(res[f"full_space_{precision}_{a.full_images}img"]), flush=True)
        if len(full) == 2:
            res["full_space_bf16_agreement"] = precision_agreement(full["exact"], full["bf16"], gt.test_acc("cifar10"))
    print(json.dumps(res, indent=1), flush=True)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    return res


def _sample_section(a, res, net, sd, cfg, sample, naive_idx, n_archs, n_classes, dev) -> None:
    """Naive vs batched (exact, bf16) on a sample of classes, side by side; full-space extrapolation."""
    from supernetbench.spaces.nb201.batched import BatchedScorer
    from supernetbench.harness.metrics import precision_agreement
    from supernetbench.oneshot.scoring import _prepared, score_archs

    naive, t_naive = _timed(lambda: score_archs(net, sample[naive_idx], sd, cfg))
    res["naive"] = {"classes": int(len(naive_idx)), "seconds": t_naive, "s_per_arch": t_naive / len(naive_idx)}
    print(json.dumps(res["naive"]), flush=True)
    out = {}
    for precision in ("exact", "bf16"):
        scorer = BatchedScorer(_prepared(net, cfg), sd, cfg, precision=precision, chunk=a.chunk)
        scorer.accuracy(sample[:2])  # warm-up (cuDNN autotune, allocator)
        torch.cuda.reset_peak_memory_stats() if dev.type == "cuda" else None
        out[precision], t = _timed(lambda: scorer.accuracy(sample))
        res[f"batched_{precision}"] = {
            "classes": int(len(sample)), "chunk": scorer.chunk, "seconds": t, "s_per_class": t / len(sample),
            "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if dev.type == "cuda" else None,
            "naive_count_mismatches": int(np.sum(out[precision][naive_idx] != naive)),
            "max_abs_diff_vs_naive_pct": float(np.max(np.abs(out[precision][naive_idx] - naive))),
        }
        print(json.dumps(res[f"batched_{precision}"]), flush=True)
    res["bf16_vs_exact_on_sample"] = precision_agreement(out["exact"], out["bf16"])
    rate_naive, rate_b = res["naive"]["s_per_arch"], res["batched_exact"]["s_per_class"]
    res["extrapolated_full_space_s"] = {"naive_15625_archs": rate_naive * n_archs,
                                        "naive_dedup_9445_classes": rate_naive * n_classes,
                                        "batched_exact": rate_b * n_classes,
                                        "batched_bf16": res["batched_bf16"]["s_per_class"] * n_classes}
    res["speedup_per_arch_vs_naive"] = {"batched_exact": rate_naive / rate_b,
                                        "full_space_incl_dedup": rate_naive * n_archs / (rate_b * n_classes)}
    print(json.dumps(res["extrapolated_full_space_s"]), flush=True)


if __name__ == "__main__":
    main()
