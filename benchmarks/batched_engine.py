"""The batched engine's shared ReLU against one ReLU per edge and op, and the naive path, in one run (CPU or GPU).

On one randomly initialised float32 supernet and random images (``benchmarks/common.py`` builders),
the same sample of functional classes is scored by ``score_archs`` (naive), the batched engine with the
per-(edge, op) ReLU of its first version, and with one ReLU per node (the default); the variants are
interleaved over ``--repeats`` rounds and the minimum time of each is kept (a loaded machine adds only
positive noise). Prints and optionally writes JSON: seconds, ratios, and whether all counts agree::

    python -m benchmarks.batched_engine [--C 8 --N 1 --images 64 --classes 64 --repeats 3 --device cpu]
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--C", type=int, default=8)
    ap.add_argument("--N", type=int, default=1)
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--classes", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    from benchmarks.common import random_scoring_data, random_supernet
    from supernetbench.spaces.nb201.batched import BatchedScorer
    from supernetbench.harness.device import torch_threads
    from supernetbench.oneshot.scoring import ScoreConfig, ScoringData, _prepared, score_archs
    from supernetbench.spaces.nb201.space import NB201Space

    dev = torch.device(a.device)
    space = NB201Space()
    _, reps = space.functional_classes(space.all_archs())
    sample = reps[np.sort(np.random.default_rng(0).choice(len(reps), a.classes, replace=False))]
    net = random_supernet(a.C, a.N).to(dev)
    sd = random_scoring_data(a.images)
    sd = ScoringData(sd.x.to(dev), sd.y.to(dev), (), sd.description)
    cfg = ScoreConfig(images=a.images, batch_size=a.images)
    prepared = _prepared(net, cfg)
    runs = {"naive": lambda: score_archs(net, sample, sd, cfg),
            "batched_per_op_relu": lambda: BatchedScorer(prepared, sd, cfg, share_relu=False).accuracy(sample),
            "batched_shared_relu": lambda: BatchedScorer(prepared, sd, cfg, share_relu=True).accuracy(sample)}
    times: dict[str, list[float]] = {k: [] for k in runs}
    scores = {}
    with torch_threads(1 if dev.type == "cpu" else None):
        for _ in range(a.repeats):
            for k, fn in runs.items():
                if dev.type == "cuda":
                    torch.cuda.synchronize()
                t = time.perf_counter()
                scores[k] = fn()
                if dev.type == "cuda":
                    torch.cuda.synchronize()
                times[k].append(time.perf_counter() - t)
    best = {k: min(v) for k, v in times.items()}
    out = {"C": a.C, "N": a.N, "images": a.images, "classes": a.classes, "device": str(dev),
           "repeats": a.repeats, "seconds_min": best, "seconds_all": times,
           "shared_vs_per_op_relu": best["batched_per_op_relu"] / best["batched_shared_relu"],
           "shared_relu_vs_naive": best["naive"] / best["batched_shared_relu"],
           "per_op_relu_vs_naive": best["naive"] / best["batched_per_op_relu"],
           "counts_equal": {k: bool(np.array_equal(scores[k], scores["naive"])) for k in runs}}
    print(json.dumps(out, indent=1))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(out, f, indent=1)
    return out


if __name__ == "__main__":
    main()
