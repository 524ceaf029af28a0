#!/usr/bin/env python3
"""Times flash-linear-attention's peers of fulgur's op-family kernels at the same shapes as
fulgur.cuda.ops.ZooKernelsBench: chunk_gla (forward, forward+backward), fused_recurrent_gla (one decode step),
ShortConvolution (forward, backward). CUDA events, 3 warm-ups, median of --reps runs; inputs uniform, never zero.
fla's sources are taken from PEER_DIR (default .peer/fla), which this script puts on sys.path.

    python3 gla_peer.py [--reps 10] [--only gla,decode,conv]
"""
import argparse
import os
import statistics
import sys

import torch

sys.path.insert(0, os.environ.get("PEER_DIR", ".peer/fla"))
from fla.ops.gla import chunk_gla, fused_recurrent_gla  # noqa: E402
from fla.modules import ShortConvolution  # noqa: E402

rows = []


def timed(fn, reps):
    for _ in range(3):
        fn()
    ms = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        ms.append(a.elapsed_time(b))
    return statistics.median(ms)


def row(name, ms, nbytes):
    line = f"| {name:<58} | {ms:9.3f} ms | {nbytes / (ms * 1e6):7.0f} GB/s (of {nbytes / 1e6:.0f} MB) |"
    print(line, flush=True)
    rows.append(line)


def uni(lo, hi, *shape, dtype=torch.bfloat16):
    return (torch.rand(*shape, device="cuda", dtype=torch.float32) * (hi - lo) + lo).to(dtype)


def gla(B, T, H, K, V, reps):
    q, k, v = uni(-1, 1, B, T, H, K), uni(-1, 1, B, T, H, K), uni(-1, 1, B, T, H, V)
    g = uni(-0.5, -0.01, B, T, H, K, dtype=torch.float32)
    do = uni(-1, 1, B, T, H, V)
    scale = K ** -0.5
    sh = f"B={B} T={T} H={H} K={K} V={V}"
    nk, nv = B * T * H * K, B * T * H * V
    with torch.no_grad():
        ms = timed(lambda: chunk_gla(q, k, v, g, scale=scale), reps)
    row("fla chunk_gla fwd (bf16, g f32) " + sh, ms, 2 * (2 * nk + nv) + 4 * nk + 2 * nv)
    qq, kk, vv, gg = (x.detach().requires_grad_(True) for x in (q, k, v, g))

    def fb():
        o, _ = chunk_gla(qq, kk, vv, gg, scale=scale)
        o.backward(do)

    ms = timed(fb, reps)
    row("fla chunk_gla fwd+bwd (bf16, g f32) " + sh, ms, 2 * (2 * nk + 2 * nv) + 4 * nk + 2 * (2 * nk + nv) + 4 * nk)


def decode(B, H, K, V, reps):
    q, k, v = uni(-1, 1, B, 1, H, K), uni(-1, 1, B, 1, H, K), uni(-1, 1, B, 1, H, V)
    g = uni(-0.5, -0.01, B, 1, H, K, dtype=torch.float32)
    s = uni(-1, 1, B, H, K, V, dtype=torch.float32)
    with torch.no_grad():
        ms = timed(lambda: fused_recurrent_gla(q, k, v, gk=g, scale=0.125, initial_state=s, output_final_state=True), reps)
    row(f"fla fused_recurrent_gla step B={B} H={H} K={K} V={V}", ms, 8 * B * H * K * V)


def conv(B, T, D, W, reps):
    m = ShortConvolution(D, W, bias=False, activation="silu").cuda().to(torch.bfloat16)
    x, dy = uni(-1, 1, B, T, D), uni(-1, 1, B, T, D)
    sh = f"B={B} T={T} D={D} W={W}"
    with torch.no_grad():
        ms = timed(lambda: m(x), reps)
    row("fla ShortConvolution fwd (bf16, SiLU) " + sh, ms, 4 * B * T * D)
    xx = x.detach().requires_grad_(True)

    def fb():
        y, _ = m(xx)
        y.backward(dy)

    ms = timed(fb, reps)
    row("fla ShortConvolution fwd+bwd (bf16, SiLU) " + sh, ms, 10 * B * T * D)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--only", default="gla,decode,conv")
    a = ap.parse_args()
    only = a.only.split(",")
    print("device:", torch.cuda.get_device_name(0), "torch", torch.__version__, flush=True)
    for sh in ((8, 2048, 8, 128, 128), (2, 16384, 8, 128, 128)):
        if "gla" in only:
            try:
                gla(*sh, a.reps)
            except Exception as e:  # report and go on with the other peers
                print("chunk_gla failed:", repr(e), flush=True)
    if "decode" in only:
        try:
            decode(8, 8, 128, 128, a.reps)
        except Exception as e:
            print("fused_recurrent_gla failed:", repr(e), flush=True)
    if "conv" in only:
        for sh in ((8, 2048, 1024, 4), (2, 16384, 1024, 4)):
            try:
                conv(*sh, a.reps)
            except Exception as e:
                print("ShortConvolution failed:", repr(e), flush=True)
    print()
    print("=== fla peers (median ms) ===")
    for r in rows:
        print(r)


if __name__ == "__main__":
    main()
