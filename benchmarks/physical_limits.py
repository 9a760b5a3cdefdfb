"""Physical-limit arithmetic for full-space scoring (``benchmarks/README.md`` quotes its output).

For every functional class representative (the work the dedup engines do), count per image:

* MACs of every convolution on the arch's single path (stem, cell ops, the two ResNet blocks, head);
* activation bytes of a minimal-traffic schedule: every computed op reads its input once and writes
  its output once, BatchNorm reads the conv output once more for its statistics and rewrites it once
  (batch-statistics BN needs the whole batch before it can normalise), and every node sum reads its
  terms and writes the node once. ``skip`` costs nothing but the sum; ``none`` costs nothing.

Then time = work / peak for compute and for memory, per device. Usage::

    python -m benchmarks.physical_limits [--C 16 --N 5 --images 25000 --bytes 4]
"""
from __future__ import annotations

import argparse
import json

import numpy as np

#: peak numbers (vendor sheets; the H100 copy rate is measured here, see benchmarks/README.md)
DEVICES = {
    "H100 SXM fp32 (CUDA cores)": {"flops": 67e12, "bytes_per_s": 3.0e12},
    "H100 SXM tf32 tensor cores": {"flops": 495e12, "bytes_per_s": 3.0e12},
    "H100 SXM bf16 tensor cores (2-byte activations)": {"flops": 990e12, "bytes_per_s": 3.0e12, "act_bytes": 2},
    "this CPU: 2 Zen3 cores fp32 (2x AVX2 FMA, ~2.5 GHz)": {"flops": 2 * 2.5e9 * 32, "bytes_per_s": 20e9},
}


def per_image_work(arch, C: int, N: int, act_bytes: int, hw: int = 32 * 32) -> tuple[float, float]:
    """(MACs, activation bytes) of one single-path forward of ``arch`` on one image."""
    macs = 3 * C * 9 * hw  # stem conv
    traffic = act_bytes * C * hw * 3  # stem: write, BN stats read, BN rewrite
    c, area = C, hw
    for stage in range(3):
        if stage:  # ResNet block: conv_a (s2) -> conv_b, shortcut avgpool + 1x1
            c_out, area_out = 2 * c, area // 4
            macs += c * c_out * 9 * area_out + c_out * c_out * 9 * area_out + c * c_out * area_out
            traffic += act_bytes * (c * area + 3 * c_out * area_out + 4 * c_out * area_out + c * area + 2 * c_out * area_out)
            c, area = c_out, area_out
        node = act_bytes * c * area
        for _ in range(N):
            for op in arch:
                if op == 2:
                    macs += c * c * area
                if op == 3:
                    macs += c * c * 9 * area
                if op in (2, 3):
                    traffic += 4 * node  # read input, write conv out, BN stats read, BN rewrite
                elif op == 4:
                    traffic += 2 * node  # pool: read, write
                if op != 0:
                    traffic += node  # the node sum reads this term
            traffic += 3 * node  # the three node writes
    return float(macs), float(traffic)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--C", type=int, default=16)
    ap.add_argument("--N", type=int, default=5)
    ap.add_argument("--images", type=int, default=25000)
    ap.add_argument("--bytes", type=int, default=4, help="bytes per activation (4 fp32, 2 bf16)")
    a = ap.parse_args(argv)
    from supernetbench.spaces.nb201.space import NB201Space

    space = NB201Space()
    archs = space.all_archs()
    _, reps = space.functional_classes(archs, zero_propagates=True)
    work = np.array([per_image_work(r, a.C, a.N, a.bytes) for r in reps])
    naive = np.array([per_image_work(r, a.C, a.N, a.bytes) for r in archs])
    macs, traffic = work.sum(0) * a.images
    out = {"C": a.C, "N": a.N, "images": a.images, "classes": len(reps), "act_bytes": a.bytes,
           "mean_macs_per_arch_image": float(naive[:, 0].mean()),
           "total_macs_dedup": macs, "total_macs_naive": float(naive[:, 0].sum() * a.images),
           "total_activation_bytes_dedup": traffic, "limits_s": {}}
    for name, d in DEVICES.items():
        scale = d.get("act_bytes", a.bytes) / a.bytes
        out["limits_s"][name] = {"compute": 2 * macs / d["flops"], "memory": traffic * scale / d["bytes_per_s"]}
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
