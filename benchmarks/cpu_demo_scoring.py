"""CPU full-space scoring in the demo setting (issue 9 targets), engines side by side on one trained run.

Trains (or reuses, from the cache) the ``demo`` run - DARTS, C=8, N=1, 4 epochs on real CIFAR-10 -
then scores all 15,625 archs (64 fixed validation images, batch-statistics BN) with each engine in
one process, back to back, checks that every engine gives the same scores, and runs the adaptive
successive-halving option against the full evaluation (cost and a1 agreement)::

    python -m benchmarks.cpu_demo_scoring --out cpu-demo.json [--engines dedup:1 fast:2] [--block 8]

``ENGINE:WORKERS``: ``dedup:1`` is the per-class loop on one thread (the issue's 261 s baseline).
``--block K`` times the engines on one contiguous K-th of the lexicographically sorted functional
classes (the order every engine visits them in, so prefix sharing is as in the full space) and
scales by K; the ``--full`` engine then scores the whole space for real.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engines", nargs="+", default=["dedup:1", "prefix:1", "fast:1", f"fast:{os.cpu_count()}"])
    ap.add_argument("--profile", default="demo")
    ap.add_argument("--adaptive", action="store_true", help="also the successive-halving option")
    ap.add_argument("--block", type=int, default=1, help="time the engines on 1/K of the classes, scaled by K")
    ap.add_argument("--full", default=f"fast:{os.cpu_count()}", help="ENGINE:WORKERS timed on the whole space")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)

    from supernetbench.oneshot.adaptive import adaptive_score_space
    from supernetbench.spaces.nb201.benchmark import load_ground_truth
    from supernetbench.oneshot.train import RunSpec, cached_search_data, train_supernet
    from supernetbench.harness.metrics import precision_agreement, top_id_rate
    from supernetbench.harness.profiles import get_profile
    from supernetbench.oneshot.scoring import ScoreConfig, make_scoring_data, score_space
    from supernetbench.harness.store import cache_dir

    spec = RunSpec("darts", "cifar10", 0, get_profile(a.profile))
    run = train_supernet(spec, runs_root=cache_dir() / "runs", device="cpu", progress=False)
    gt = load_ground_truth()
    cfg = ScoreConfig.from_profile(spec.profile)
    sd = make_scoring_data(cached_search_data(spec.data_config()), cfg, "cpu", spec.profile.torch_dtype)
    net = run.load_supernet("cpu")
    res: dict = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
                 "run": str(run.path), "score_images": cfg.images, "engines": {}}
    from supernetbench.spaces.nb201.space import NB201Space

    _, reps = NB201Space().functional_classes(gt.archs, zero_propagates=True)
    reps = reps[np.lexsort(reps.T[::-1])]
    block = reps[: int(np.ceil(len(reps) / a.block))]
    res["block"] = {"classes": int(len(block)), "of": int(len(reps)), "scale": len(reps) / len(block)}
    scores = {}
    for item in a.engines:
        engine, workers = item.split(":")
        t0 = time.perf_counter()
        scores[item] = score_space(net, block, sd, cfg, progress=False, engine=engine, workers=int(workers))
        t = time.perf_counter() - t0
        res["engines"][item] = {"seconds": t, "full_space_estimate_s": t * res["block"]["scale"]}
        print(item, res["engines"][item], flush=True)
    first = next(iter(scores.values()))
    base = res["engines"][a.engines[0]]["seconds"]
    for item, s in scores.items():
        res["engines"][item]["speedup_vs_first"] = base / res["engines"][item]["seconds"]
        res["engines"][item]["scores_equal_first"] = bool(np.array_equal(s, first))
    engine, workers = a.full.split(":")
    t0 = time.perf_counter()
    ref = score_space(net, gt.archs, sd, cfg, progress=False, engine=engine, workers=int(workers))
    res["full_space"] = {"engine": a.full, "seconds": time.perf_counter() - t0}
    print("full", res["full_space"], flush=True)
    if a.adaptive:
        t0 = time.perf_counter()
        ad = adaptive_score_space(net, gt.archs, sd, cfg, workers=os.cpu_count() or 1)
        acc = gt.test_acc("cifar10")
        res["adaptive"] = {"seconds": time.perf_counter() - t0, "cost": ad.cost, "rounds": ad.rounds,
                           "a1_full": top_id_rate(acc, ref)[:3].tolist(),
                           "a1_adaptive": top_id_rate(acc, ad.rank_key)[:3].tolist(),
                           "agreement": precision_agreement(ref, ad.rank_key, acc)}
        print("adaptive", res["adaptive"], flush=True)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    return res


if __name__ == "__main__":
    main()
