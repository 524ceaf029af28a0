#!/usr/bin/env python3
"""PyTorch's CPU matmul (f32) at the shapes fulgur's GemmQuick takes, one tab-separated line per shape:
size, median GFLOP/s, best GFLOP/s. A size is MxNxK[:NN|NT|TN|TT] (op(A) m×k, op(B) k×n; NT is x·Wᵀ of a linear
layer with W stored [out, in], passed to torch as a transposed view, not copied).

    python3 gemm_cpu_torch.py --threads 16 1024x1024x1024 64x3072x768:NT
"""
import argparse
import statistics
import sys
import time

import torch


def parse(s):
    size, _, layout = s.upper().partition(":")
    layout = layout or "NN"
    try:
        m, n, k = (int(x) for x in size.split("X"))
    except ValueError:
        sys.exit(f"gemm_cpu_torch: a size is MxNxK[:NN|NT|TN|TT], got '{s}'")
    if len(layout) != 2 or any(c not in "NT" for c in layout):
        sys.exit(f"gemm_cpu_torch: the layout is NN, NT, TN or TT, got '{s}'")
    return m, n, k, layout[0] == "T", layout[1] == "T"


def measure(m, n, k, ta, tb, warmup, timed):
    g = torch.Generator().manual_seed(1)
    a = torch.rand(k, m, generator=g).t() if ta else torch.rand(m, k, generator=g)
    b = torch.rand(n, k, generator=g).t() if tb else torch.rand(k, n, generator=g)
    c = torch.empty(m, n)
    flops = 2.0 * m * n * k
    end = time.perf_counter() + warmup
    reps = 0
    while reps < 3 or time.perf_counter() < end:
        torch.matmul(a, b, out=c)
        reps += 1
    rates = []
    end = time.perf_counter() + timed
    while len(rates) < 5 or (time.perf_counter() < end and len(rates) < 64):
        t0 = time.perf_counter()
        torch.matmul(a, b, out=c)
        rates.append(flops / (time.perf_counter() - t0) / 1e9)
    return statistics.median(rates), max(rates)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=16)
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of untimed calls per shape")
    p.add_argument("--timed", type=float, default=1.5, help="seconds of timed calls per shape")
    p.add_argument("shapes", nargs="+")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    for s in args.shapes:
        m, n, k, ta, tb = parse(s)
        median, best = measure(m, n, k, ta, tb, args.warmup, args.timed)
        print(f"{s}\t{median:.1f}\t{best:.1f}", flush=True)


if __name__ == "__main__":
    main()
