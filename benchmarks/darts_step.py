"""Per-step time of a DARTS-space Stage-1 step at a profile's size (default: ``darts-paper``, protocol §8:
C=36, 20 cells, PC-DARTS k=2, batch 64, float32).

One step is what :func:`supernetbench.oneshot.train.train_step` does in the Stage-1 loop: the method's
architecture step on a validation batch, then one SGD step of the weights on a training batch (the
network, optimiser, memory format and method built as :func:`~supernetbench.oneshot.train._train`
builds them). Inputs are seeded random 32x32 images with random labels: the time of a step does
not depend on the pixel values. ``--warmup`` steps are run first and left out; the mean and each of
the ``--steps`` timed steps are printed (and written to ``--out`` as JSON) with the peak RSS: wall
seconds, and the process's CPU seconds (with one thread, the step's compute time even on a shared,
loaded machine, where wall time also counts the waits for a core).

    python -m benchmarks.darts_step --threads 1                       # §8 on CPU, 1 thread
    python -m benchmarks.darts_step --algo darts- --batch 16 --device cuda
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any


def measure(profile_name: str = "darts-paper", algo: str = "darts", space_name: str = "darts", batch: int | None = None,
            steps: int = 3, warmup: int = 1, threads: int = 1, device: str = "cpu", seed: int = 0) -> dict[str, Any]:
    """Seconds per Stage-1 step (architecture step + weight step) of ``algo`` on ``space_name`` at the
    profile's network size and batch (``batch`` overrides it)."""
    import torch

    from supernetbench.algorithms import ALGORITHMS, RunContext
    from supernetbench.harness.profiles import get_profile
    from supernetbench.oneshot.train import RunSpec, method_overrides, train_step, uses_aux_skip
    from supernetbench.spaces import get_space

    torch.set_num_threads(threads)
    prof = get_profile(profile_name, {"batch_size": batch} if batch else None)
    dev = torch.device(device)
    dtype = prof.torch_dtype
    space = get_space(space_name)
    cls = ALGORITHMS.get(algo)
    spec = RunSpec(algo, "cifar10", seed, prof, space=space_name)
    torch.manual_seed(seed)
    net = space.build_supernet(prof, 10, dtype)
    if uses_aux_skip(cls) and hasattr(net, "add_aux_skip"):
        net.add_aux_skip()
    net = net.to(dev)
    if dev.type == "cpu" and dtype == torch.float32:
        net = net.to(memory_format=torch.channels_last)  # as the Stage-1 loop does on CPU
    ctx = RunContext(dataset="cifar10", epochs=prof.epochs, device=dev, seed=seed, dtype=dtype)
    method = cls(cls.make_config(method_overrides(cls, spec)), space=space, ctx=ctx)
    method.prepare(net)
    method.on_epoch_start(net, 0)
    opt = torch.optim.SGD(net.parameters(), lr=prof.lr, momentum=prof.momentum, weight_decay=prof.weight_decay)
    method.weight_lr = prof.lr
    g = torch.Generator().manual_seed(seed)
    b = prof.batch_size

    def batch_pair():
        x = torch.randn(b, 3, 32, 32, generator=g, dtype=dtype).to(dev)
        return x, torch.randint(10, (b,), generator=g).to(dev)

    times, cpu = [], []
    net.train()
    for i in range(warmup + steps):
        train, valid = batch_pair(), batch_pair()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0, c0 = time.perf_counter(), time.process_time()
        loss, _, _ = train_step(method, net, opt, train, valid, prof.grad_clip)
        float(loss.detach())  # waits for the device
        if dev.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    return {
        "profile": profile_name, "algo": algo, "space": space_name, "batch": b, "C": prof.C,
        "layers": 3 * prof.N + 2, "k": prof.k, "dtype": prof.dtype, "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or cpu_name(),
        "threads": torch.get_num_threads(), "params": sum(p.numel() for p in net.parameters()),
        "warmup": warmup, "step_seconds": times, "mean_step_seconds": sum(times) / len(times),
        "step_cpu_seconds": cpu, "mean_step_cpu_seconds": sum(cpu) / len(cpu),
        "load_average": list(os.getloadavg()),
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20,
        "peak_cuda_gib": torch.cuda.max_memory_allocated(dev) / 2 ** 30 if dev.type == "cuda" else None,
        "torch": torch.__version__, "python": sys.version.split()[0],
    }


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="darts-paper")
    ap.add_argument("--algo", default="darts")
    ap.add_argument("--space", default="darts")
    ap.add_argument("--batch", type=int, default=None, help="default: the profile's batch_size")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args(argv)
    res = measure(a.profile, a.algo, a.space, a.batch, a.steps, a.warmup, a.threads, a.device)
    print(json.dumps(res, indent=1))
    if a.out is not None:
        a.out.write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
