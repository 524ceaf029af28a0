#!/usr/bin/env python3
"""Times flash-linear-attention's peers of fulgur's op-family kernels at the same shapes as
fulgur.cuda.ops.ZooKernelsBench: chunk_gla (forward, forward+backward), LightNet's attention as fla's layer runs it
(torch logcumsumexp for the key and decay, then chunk_gla), fused_recurrent_gla (one decode step), ShortConvolution
(forward, forward+backward). CUDA events, a timed first call (Triton compiles then), 3 warm-ups, median of --reps
runs in each of --rounds rounds; inputs uniform, never zero. fla's sources are taken from PEER_DIR (default
.peer/fla), which this script puts on sys.path.

With --ours BENCH_LOG (ZooKernelsBench's output from the same machine), prints ours/fla for every matching row
(fla's backward alone is its forward+backward minus its forward). With --dump DIR (GlaKernelsGpuTest run with
-Dfulgur.zoo.dump=DIR), runs chunk_gla on each dumped case's inputs and prints its relative L2 error against the same
f64 reference beside fulgur's.

    python3 gla_peer.py [--reps 10] [--rounds 2] [--only gla,lightnet,decode,conv] [--ours bench.log] [--dump DIR]
"""
import argparse
import glob
import json
import os
import re
import statistics
import sys
import time

import torch

sys.path.insert(0, os.environ.get("PEER_DIR", ".peer/fla"))
from fla.ops.gla import chunk_gla, fused_recurrent_gla  # noqa: E402
from fla.modules import ShortConvolution  # noqa: E402

rows = {}  # name -> list of medians (one per round)


def timed(name, fn, reps):
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    first = time.perf_counter() - t0
    if first > 1.0:
        print(f"  ({name}: first call {first:.1f} s)", flush=True)
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
    rows.setdefault(name, []).append(ms)
    print(f"| {name:<62} | {ms:9.3f} ms | {nbytes / (ms * 1e6):7.0f} GB/s (of {nbytes / 1e6:.0f} MB) |", flush=True)


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
        ms = timed("chunk_gla fwd", lambda: chunk_gla(q, k, v, g, scale=scale), reps)
    row("fla chunk_gla fwd (bf16, g f32) " + sh, ms, 2 * (2 * nk + nv) + 4 * nk + 2 * nv)
    qq, kk, vv, gg = (x.detach().requires_grad_(True) for x in (q, k, v, g))

    def fb():
        o, _ = chunk_gla(qq, kk, vv, gg, scale=scale)
        o.backward(do)

    ms = timed("chunk_gla fwd+bwd", fb, reps)
    row("fla chunk_gla fwd+bwd (bf16, g f32) " + sh, ms, 2 * (2 * nk + 2 * nv) + 4 * nk + 2 * (2 * nk + nv) + 4 * nk)


def lightnet_attention(q, k, v):
    # fla/layers/lightnet.py without a cache or mask: z = logcumsumexp(k), key exp(k - z), decay z_{t-1} - z_t
    kf = k.float()
    z = kf.logcumsumexp(1)
    kt = torch.exp(kf - z).to(k.dtype)
    g = (torch.cat((z[:, :1], z[:, :-1]), 1) - z).to(k.dtype)
    o, _ = chunk_gla(q, kt, v, g, scale=1.0)
    return o


def lightnet(B, T, H, K, V, reps):
    q, k, v = uni(-1, 1, B, T, H, K), uni(-2, 2, B, T, H, K), uni(-1, 1, B, T, H, V)
    do = uni(-1, 1, B, T, H, V)
    sh = f"B={B} T={T} H={H} K={K} V={V}"
    nk, nv = B * T * H * K, B * T * H * V
    with torch.no_grad():
        ms = timed("lightnet fwd", lambda: lightnet_attention(q, k, v), reps)
    row("fla lightnet (logcumsumexp + chunk_gla) fwd (bf16) " + sh, ms, 2 * (2 * nk + 2 * nv))
    qq, kk, vv = (x.detach().requires_grad_(True) for x in (q, k, v))

    def fb():
        lightnet_attention(qq, kk, vv).backward(do)

    ms = timed("lightnet fwd+bwd", fb, reps)
    row("fla lightnet (logcumsumexp + chunk_gla) fwd+bwd (bf16) " + sh, ms, 2 * (2 * nk + 2 * nv) + 2 * (2 * nk + 2 * nv) + 2 * (2 * nk + nv))


def decode(B, H, K, V, reps):
    q, k, v = uni(-1, 1, B, 1, H, K), uni(-1, 1, B, 1, H, K), uni(-1, 1, B, 1, H, V)
    g = uni(-0.5, -0.01, B, 1, H, K, dtype=torch.float32)
    s = uni(-1, 1, B, H, K, V, dtype=torch.float32)
    with torch.no_grad():
        ms = timed("fused_recurrent_gla", lambda: fused_recurrent_gla(q, k, v, gk=g, scale=0.125, initial_state=s, output_final_state=True), reps)
    row(f"fla fused_recurrent_gla step B={B} H={H} K={K} V={V}", ms, 8 * B * H * K * V)


def conv(B, T, D, W, reps):
    m = ShortConvolution(D, W, bias=False, activation="silu").cuda().to(torch.bfloat16)
    x, dy = uni(-1, 1, B, T, D), uni(-1, 1, B, T, D)
    sh = f"B={B} T={T} D={D} W={W}"
    with torch.no_grad():
        ms = timed("ShortConvolution fwd", lambda: m(x), reps)
    row("fla ShortConvolution fwd (bf16, SiLU) " + sh, ms, 4 * B * T * D)
    xx = x.detach().requires_grad_(True)

    def fb():
        y, _ = m(xx)
        y.backward(dy)

    ms = timed("ShortConvolution fwd+bwd", fb, reps)
    row("fla ShortConvolution fwd+bwd (bf16, SiLU) " + sh, ms, 10 * B * T * D)


# ---------------------------------------------------------------------------------------------- ratios

def ours_table(path):
    """op name -> best median ms over rounds, from ZooKernelsBench's final table."""
    out = {}
    for line in open(path):
        m = re.match(r"\|\s*(.+?)\s*\|\s*([0-9.]+(?: / [0-9.]+)*)\s*\|", line)
        if m and "ms (rounds)" not in line:
            out[m.group(1)] = min(float(x) for x in m.group(2).split(" / "))
    return out


def ratios(ours):
    best = {k: min(v) for k, v in rows.items()}
    print()
    print("=== ours / fla (best round each; < 1: fulgur faster) ===")
    print(f"| {'op':<58} | {'fulgur ms':>10} | {'fla ms':>10} | {'ratio':>6} |")

    def line(name, a, b):
        if a is not None and b is not None:
            print(f"| {name:<58} | {a:10.3f} | {b:10.3f} | {a / b:6.2f} |")

    for key, fb in best.items():
        m = re.match(r"fla chunk_gla fwd \(bf16, g f32\) (.*)", key)
        if m:
            sh = m.group(1)
            f = ours.get(f"gla chunk fwd (bf16, g f32) {sh}")
            b = ours.get(f"gla chunk bwd (bf16, g f32) {sh}")
            fla_fb = best.get(f"fla chunk_gla fwd+bwd (bf16, g f32) {sh}")
            line(f"gla fwd {sh}", f, fb)
            if fla_fb is not None:
                line(f"gla bwd {sh}", b, fla_fb - fb)
                line(f"gla fwd+bwd {sh}", None if f is None or b is None else f + b, fla_fb)
        m = re.match(r"fla lightnet \(logcumsumexp \+ chunk_gla\) fwd \(bf16\) (.*)", key)
        if m:
            sh = m.group(1)
            f, b = ours.get(f"lightnet fwd (bf16) {sh}"), ours.get(f"lightnet bwd (bf16) {sh}")
            fla_fb = best.get(f"fla lightnet (logcumsumexp + chunk_gla) fwd+bwd (bf16) {sh}")
            line(f"lightnet fwd {sh}", f, fb)
            if fla_fb is not None:
                line(f"lightnet bwd {sh}", b, fla_fb - fb)
                line(f"lightnet fwd+bwd {sh}", None if f is None or b is None else f + b, fla_fb)
        m = re.match(r"fla fused_recurrent_gla step (.*)", key)
        if m:
            line(f"gla decode step {m.group(1)}", ours.get(f"gla decode step (bf16, state f32 in place) {m.group(1)}"), fb)
        m = re.match(r"fla ShortConvolution fwd \(bf16, SiLU\) (.*)", key)
        if m:
            sh = m.group(1)
            f, b = ours.get(f"short conv fwd (bf16, SiLU) {sh}"), ours.get(f"short conv bwd (bf16, SiLU) {sh}")
            fla_fb = best.get(f"fla ShortConvolution fwd+bwd (bf16, SiLU) {sh}")
            line(f"short conv fwd {sh}", f, fb)
            if fla_fb is not None:
                line(f"short conv bwd {sh}", b, fla_fb - fb)


# ---------------------------------------------------------------------------------------------- accuracy

def rel(x, ref):
    x, ref = x.double().flatten().cpu(), ref.double().flatten().cpu()
    if not torch.isfinite(x).all():
        return float("inf")
    return ((x - ref).norm() / ref.norm().clamp_min(1e-300)).item()


def accuracy(folder):
    cases = sorted(glob.glob(os.path.join(folder, "*.json")))
    if not cases:
        print(f"no dumped cases in {folder}")
        return
    print()
    print("=== chunk_gla against the f64 reference on GlaKernelsGpuTest's inputs (relative L2 error; fulgur | fla) ===")
    outs = ["o", "final_state", "dq", "dk", "dv", "dg", "dh0"]
    print(f"| {'case':<44} | " + " | ".join(f"{o:>19}" for o in outs) + " |")
    for path in cases:
        meta = json.load(open(path))
        raw = torch.frombuffer(bytearray(open(path[:-5] + ".bin", "rb").read()), dtype=torch.float64)
        arr, off = {}, 0
        for name, shape in meta["arrays"]:
            n = 1
            for s in shape:
                n *= s
            arr[name] = raw[off:off + n].view(*shape)
            off += n
        dev = "cuda"
        gdt = torch.float32 if meta["g_dtype"] == "f32" else torch.bfloat16
        q, k, v = (arr[x].to(dev, torch.bfloat16).requires_grad_(True) for x in ("q", "k", "v"))
        g = arr["g"].to(dev, gdt).requires_grad_(True)
        do = arr["dO"].to(dev, torch.bfloat16)
        h0 = arr["h0"].to(dev, torch.float32).requires_grad_(True) if "h0" in arr else None
        dht = arr["dht"].to(dev, torch.float32) if "dht" in arr else None
        cu = meta.get("cu_seqlens")
        cu = torch.tensor(cu, dtype=torch.long, device=dev) if cu else None
        try:
            o, ht = chunk_gla(q, k, v, g, scale=meta["scale"], initial_state=h0, output_final_state=True, cu_seqlens=cu)
            loss = (o.float() * do.float()).sum()
            if dht is not None:
                loss = loss + (ht * dht).sum()
            loss.backward()
            fla = {"o": rel(o, arr["ref_o"]), "final_state": rel(ht, arr["ref_final_state"]), "dq": rel(q.grad, arr["ref_dq"]),
                   "dk": rel(k.grad, arr["ref_dk"]), "dv": rel(v.grad, arr["ref_dv"]), "dg": rel(g.grad, arr["ref_dg"])}
            if h0 is not None:
                fla["dh0"] = rel(h0.grad, arr["ref_dh0"])
        except Exception as e:  # report and go on
            print(f"| {meta['name']:<44} | chunk_gla failed: {e!r}")
            continue
        ours = meta.get("ours", {})
        ours = {("final_state" if k2 == "final state" else k2): v2 for k2, v2 in ours.items()}

        def cell(o):
            a, b = ours.get(o), fla.get(o)
            fa = "-" if a is None else f"{a:.2e}"
            fb = "-" if b is None else f"{b:.2e}"
            return f"{fa:>8} | {fb:>8}"

        print(f"| {meta['name']:<44} | " + " | ".join(cell(o) for o in outs) + " |", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--only", default="gla,lightnet,decode,conv")
    ap.add_argument("--ours", default=None, help="ZooKernelsBench's log, for ours/fla ratios")
    ap.add_argument("--dump", default=None, help="GlaKernelsGpuTest's dump folder, for chunk_gla's accuracy")
    a = ap.parse_args()
    only = a.only.split(",")
    print("device:", torch.cuda.get_device_name(0), "torch", torch.__version__, flush=True)
    if a.dump and os.path.isdir(a.dump):
        accuracy(a.dump)
    for r in range(a.rounds):
        print(f"-- round {r + 1}", flush=True)
        for sh in ((8, 2048, 8, 128, 128), (2, 16384, 8, 128, 128)):
            for name, fn in (("gla", gla), ("lightnet", lightnet)):
                if name in only:
                    try:
                        fn(*sh, a.reps)
                    except Exception as e:  # report and go on with the other peers
                        print(f"{name} failed:", repr(e), flush=True)
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
    print("=== fla peers (median ms per round) ===")
    for name, ms in rows.items():
        print(f"| {name:<62} | " + " / ".join(f"{m:.3f}" for m in ms) + " |")
    if a.ours and os.path.isfile(a.ours):
        ratios(ours_table(a.ours))


if __name__ == "__main__":
    main()
