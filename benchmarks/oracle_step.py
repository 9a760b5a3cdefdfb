"""Cost of the DARTS-space oracle (protocol §8): one training step and one test pass of NetworkCIFAR,
extrapolated to a whole from-scratch training of one genotype.

A step is what :func:`supernetbench.spaces.darts.oracle.train_genotype` does per batch: augmented
batch (crop + flip, cutout 16), forward with the auxiliary head, loss + 0.4 x auxiliary loss,
backward, gradient-norm clip 5, SGD (momentum, weight decay) - :func:`~supernetbench.spaces.darts.oracle.train_step`,
with drop-path at its mid-training value 0.15. Timed per step in wall-clock and process CPU seconds
(the CPU seconds are the ones to trust on a shared machine: another process on the core stretches the
wall clock, not the CPU time). The extrapolation: ``epochs x ceil(train_images / batch)`` steps plus
``epochs`` test passes of ``test_images``::

    python -m benchmarks.oracle_step --out oracle.json [--steps 10] [--formats nchw channels_last]
        [--threads 1] [--device cpu] [--C 36 --layers 20 --batch 64]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time

DARTS_V2 = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
            "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
            "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
            "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
            "('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    return s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default=DARTS_V2)
    ap.add_argument("--steps", type=int, default=10, help="timed steps per format (the first 2 are warm-up)")
    ap.add_argument("--formats", nargs="+", default=["nchw"], choices=["nchw", "channels_last"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--C", type=int, default=36)
    ap.add_argument("--layers", type=int, default=20)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--eval-images", type=int, default=256, help="images of the timed test pass")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)

    import torch

    from supernetbench.harness.augment import Augment
    from supernetbench.spaces.darts.network import NetworkCIFAR, NetworkConfig, count_parameters
    from supernetbench.spaces.darts.oracle import OracleConfig, cutout, evaluate_accuracy, train_step
    from supernetbench.spaces.darts.space import DartsSpace

    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    space = DartsSpace()
    arch = space.parse(args.arch)
    paper = OracleConfig()
    cfg = OracleConfig(C=args.C, layers=args.layers, batch_size=args.batch, dtype=args.dtype)
    g = torch.Generator().manual_seed(0)
    x8 = torch.randint(0, 256, (args.batch, 3, 32, 32), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (args.batch,), generator=g).to(dev)
    aug = Augment("cifar10")
    out: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.processor() or '?'}",
                 "torch": torch.__version__, "device": str(dev), "threads": args.threads, "dtype": args.dtype,
                 "C": args.C, "layers": args.layers, "batch": args.batch, "arch": space.format(arch),
                 "params": count_parameters(arch, space, C=args.C, layers=args.layers),
                 "loadavg_start": list(os.getloadavg()), "formats": {}}
    for fmt in args.formats:
        torch.manual_seed(0)
        net = NetworkCIFAR(arch, space, NetworkConfig(C=args.C, layers=args.layers)).to(dev, getattr(torch, args.dtype))
        if fmt == "channels_last":
            net = net.to(memory_format=torch.channels_last)
        opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        net.train()
        net.set_drop_path(0.15)
        wall, cpu = [], []
        for i in range(args.steps):
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t0, c0 = time.perf_counter(), time.process_time()
            xb = cutout(aug(x8, g).to(getattr(torch, args.dtype)), cfg.cutout, g).to(dev)
            if fmt == "channels_last":
                xb = xb.contiguous(memory_format=torch.channels_last)
            train_step(net, opt, xb, y, cfg)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            print(f"{fmt} step {i}: {wall[-1]:.3f} s wall, {cpu[-1]:.3f} s CPU", flush=True)
        xt = torch.randint(0, 256, (args.eval_images, 3, 32, 32), dtype=torch.uint8, generator=g)
        t0, c0 = time.perf_counter(), time.process_time()
        evaluate_accuracy(net, xt, torch.zeros(args.eval_images, dtype=torch.long), "cifar10")
        ev_wall, ev_cpu = time.perf_counter() - t0, time.process_time() - c0
        steady_w, steady_c = wall[2:] or wall, cpu[2:] or cpu
        steps = paper.epochs * math.ceil(50_000 / args.batch)
        res = {"step_wall_s": wall, "step_cpu_s": cpu,
               "step_wall_median_s": _median(steady_w), "step_wall_min_s": min(steady_w),
               "step_cpu_median_s": _median(steady_c), "step_cpu_min_s": min(steady_c),
               "test_pass_per_image_wall_s": ev_wall / args.eval_images,
               "test_pass_per_image_cpu_s": ev_cpu / args.eval_images}
        for kind in ("wall", "cpu"):
            per_step = res[f"step_{kind}_median_s"]
            train_s = steps * per_step
            test_s = paper.epochs * 10_000 * res[f"test_pass_per_image_{kind}_s"]
            res[f"paper_oracle_{kind}"] = {
                "steps": steps, "train_s": train_s, "test_passes_s": test_s, "total_s": train_s + test_s,
                "total_days": (train_s + test_s) / 86_400, "epoch_s": (train_s + test_s) / paper.epochs}
        out["formats"][fmt] = res
    out["loadavg_end"] = list(os.getloadavg())
    text = json.dumps(out, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    print(text)
    return out


if __name__ == "__main__":
    main()
