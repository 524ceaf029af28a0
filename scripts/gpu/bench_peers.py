#!/usr/bin/env python3
"""Times the peers on the GPU: flash-linear-attention's chunk_simple_gla (= lightning attention with
g_gamma = -slope, scale), torch causal SDPA, torch.matmul bf16; and cross-checks fulgur's outputs (a dump
written by LightningBench --dump DIR) against fla and a float64 recurrence.

fla is imported from .peer/ (or $PEER_DIR) when present. Timing: CUDA events, 3 warm-ups,
median of --reps runs. Inputs uniform(-1,1) bf16, as in fulgur's LightningBench.
"""
import argparse, json, math, os, sys, time, types

PEER_DIR = os.environ.get('PEER_DIR', '.peer')
sys.path.insert(0, PEER_DIR)
import torch
import torch.nn.functional as F


def tnl_slopes(H):
    def pw2(n):
        return [2 ** (-8 * (i + 1) / n) for i in range(n)]
    p = 1 << (H.bit_length() - 1)
    if p == H:
        return pw2(H)
    return pw2(p) + pw2(2 * p)[0::2][: H - p]


def import_fla():
    try:
        from fla.ops.simple_gla import chunk_simple_gla
        return chunk_simple_gla, None
    except Exception as e:  # fla/__init__ pulls in models/transformers: try the ops alone
        first = repr(e)
        for m in [m for m in sys.modules if m == 'fla' or m.startswith('fla.')]:
            del sys.modules[m]
        root = os.path.join(PEER_DIR, 'fla')
        pkg = types.ModuleType('fla')
        pkg.__path__ = [root]
        sys.modules['fla'] = pkg
        try:
            from fla.ops.simple_gla import chunk_simple_gla
            return chunk_simple_gla, 'plain import failed (' + first[:200] + '); imported fla.ops without fla/__init__'
        except Exception as e2:
            return None, 'fla import failed: ' + first[:300] + ' / ' + repr(e2)[:300]


def import_fla_fused_linear_ce():
    """fla's FusedLinearCrossEntropyLoss (call after import_fla, which may have set up fla without its __init__)."""
    errors = []
    for mod in ('fla.modules', 'fla.modules.fused_linear_cross_entropy'):
        try:
            m = __import__(mod, fromlist=['FusedLinearCrossEntropyLoss'])
            return m.FusedLinearCrossEntropyLoss(), None
        except Exception as e:
            errors.append(mod + ': ' + repr(e)[:200])
    return None, 'not available, the loss stays F.cross_entropy (' + ' / '.join(errors) + ')'


def timeit(fn, reps, before=None, warm=3):
    for _ in range(warm):
        if before: before()
        fn()
    ts = []
    for _ in range(reps):
        if before: before()
        a = torch.cuda.Event(enable_timing=True); b = torch.cuda.Event(enable_timing=True)
        a.record(); fn(); b.record()
        ts.append((a, b))
    torch.cuda.synchronize()
    ms = sorted(a.elapsed_time(b) for a, b in ts)
    return ms[len(ms) // 2]


def rel(a, b):
    a = a.double(); b = b.double()
    return ((a - b).norm() / b.norm().clamp_min(1e-300)).item()


def crosscheck(dump, chunk_simple_gla, out):
    meta = dict(kv.split('=') for kv in open(os.path.join(dump, 'meta.txt')).read().split())
    B, T, H, D = (int(meta[x]) for x in 'BTHD'); scale = float(meta['scale'])
    dev = 'cuda'
    def load(name, dtype, shape):
        raw = torch.from_file(os.path.join(dump, name + '.bin'), size=math.prod(shape), dtype=dtype)
        return raw.reshape(shape).to(dev)
    q, k, v, do, o, dq, dk, dv = (load(n, torch.bfloat16, (B, T, H, D)) for n in ['q', 'k', 'v', 'do', 'o', 'dq', 'dk', 'dv'])
    s0, dht, ht, ds0 = (load(n, torch.float32, (B, H, D, D)) for n in ['s0', 'dht', 'ht', 'ds0'])
    slopes = load('slopes', torch.float32, (H,))
    # float64 reference (recurrence, autograd)
    qd, kd, vd = (x.double().requires_grad_() for x in (q, k, v)); s0d = s0.double().requires_grad_()
    lam = torch.exp(-slopes.double())[None, :, None, None]
    S = s0d; outs = []
    for t in range(T):
        S = lam * S + kd[:, t, :, :, None] * vd[:, t, :, None, :]
        outs.append(scale * torch.einsum('bhd,bhde->bhe', qd[:, t], S))
    od = torch.stack(outs, 1)
    ((od * do.double()).sum() + (S * dht.double()).sum()).backward()
    ref = dict(o=od.detach(), ht=S.detach(), dq=qd.grad, dk=kd.grad, dv=vd.grad, ds0=s0d.grad)
    ours = dict(o=o, ht=ht, dq=dq, dk=dk, dv=dv, ds0=ds0)
    res = {'fulgur_vs_f64': {n: rel(ours[n], ref[n]) for n in ref}}
    if chunk_simple_gla is not None:
        qf, kf, vf = (x.clone().requires_grad_() for x in (q, k, v)); s0f = s0.clone().requires_grad_()
        of, htf = chunk_simple_gla(qf, kf, vf, g_gamma=-slopes, scale=scale, initial_state=s0f, output_final_state=True)
        torch.autograd.backward([of, htf], [do, dht])
        fla = dict(o=of, ht=htf, dq=qf.grad, dk=kf.grad, dv=vf.grad, ds0=s0f.grad)
        res['fla_vs_f64'] = {n: rel(fla[n], ref[n]) for n in ref}
        res['fulgur_vs_fla'] = {n: rel(ours[n], fla[n]) for n in ref}
    print('cross-check (relative L2 error), B=%d T=%d H=%d D=%d:' % (B, T, H, D))
    for key, d in res.items():
        print('  %-14s ' % key + '  '.join('%s %.2e' % (n, e) for n, e in d.items()))
    return res


T0 = time.time()


def log(msg):
    print('[%5.0fs] %s' % (time.time() - T0, msg), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--ts', default='2048,8192,32768'); ap.add_argument('--b', type=int, default=4)
    ap.add_argument('--h', type=int, default=32); ap.add_argument('--d', type=int, default=128)
    ap.add_argument('--reps', type=int, default=20); ap.add_argument('--dump', default=None)
    ap.add_argument('--out', default='.'); ap.add_argument('--sdpa-max-t', type=int, default=32768)
    ap.add_argument('--gemm', type=int, default=8192)
    a = ap.parse_args()
    torch.manual_seed(0)
    results = {'device': torch.cuda.get_device_name(), 'torch': torch.__version__, 'runs': []}
    chunk_simple_gla, note = import_fla()
    if note: print('fla:', note)
    results['fla_note'] = note
    log('fla imported')
    if a.dump and os.path.isdir(a.dump):
        try:
            results['crosscheck'] = crosscheck(a.dump, chunk_simple_gla, a.out)
        except Exception as e:
            print('cross-check failed:', repr(e)); results['crosscheck_error'] = repr(e)
    B, H, D = a.b, a.h, a.d
    slopes = torch.tensor(tnl_slopes(H), device='cuda', dtype=torch.float32)
    scale = 1 / math.sqrt(D)
    table = []
    for T in [int(x) for x in a.ts.split(',')]:
        mk = lambda: (torch.rand(B, T, H, D, device='cuda') * 2 - 1).to(torch.bfloat16)
        q, k, v, do = mk(), mk(), mk(), mk()
        row = {'T': T, 'B': B, 'H': H, 'D': D}
        log('T=%d start' % T)
        if chunk_simple_gla is not None:
            with torch.no_grad():
                row['fla_fwd_ms'] = timeit(lambda: chunk_simple_gla(q, k, v, g_gamma=-slopes, scale=scale), a.reps)
            qg, kg, vg = (x.clone().requires_grad_() for x in (q, k, v))
            def clear():
                qg.grad = kg.grad = vg.grad = None
            def fb():
                o, _ = chunk_simple_gla(qg, kg, vg, g_gamma=-slopes, scale=scale)
                o.backward(do)
            row['fla_fwdbwd_ms'] = timeit(fb, a.reps, before=clear)
            log('T=%d fla done' % T)
        if T <= a.sdpa_max_t:
            qt, kt, vt, dot = (x.transpose(1, 2).contiguous() for x in (q, k, v, do))
            r = a.reps if T <= 8192 else 3
            with torch.no_grad():
                row['sdpa_fwd_ms'] = timeit(lambda: F.scaled_dot_product_attention(qt, kt, vt, is_causal=True), r, warm=1 if T > 8192 else 3)
            qg2, kg2, vg2 = (x.clone().requires_grad_() for x in (qt, kt, vt))
            def clear2():
                qg2.grad = kg2.grad = vg2.grad = None
            def fb2():
                F.scaled_dot_product_attention(qg2, kg2, vg2, is_causal=True).backward(dot)
            row['sdpa_fwdbwd_ms'] = timeit(fb2, r, before=clear2, warm=1 if T > 8192 else 3)
        results['runs'].append(row)
        line = 'peers B=%d T=%d H=%d D=%d: ' % (B, T, H, D) + '  '.join('%s %.3f' % (k2, v2) for k2, v2 in row.items() if k2.endswith('_ms'))
        print(line); table.append(line)
        del q, k, v, do
        torch.cuda.empty_cache()
    if a.gemm:
        n = a.gemm
        A = (torch.rand(n, n, device='cuda') * 2 - 1).to(torch.bfloat16)
        Bm = (torch.rand(n, n, device='cuda') * 2 - 1).to(torch.bfloat16)
        ms = timeit(lambda: torch.matmul(A, Bm), a.reps)
        results['gemm'] = {'n': n, 'ms': ms, 'tflops': 2 * n ** 3 / ms / 1e9}
        line = 'torch.matmul bf16 %dx%dx%d: %.3f ms = %.0f TFLOP/s' % (n, n, n, ms, 2 * n ** 3 / ms / 1e9)
        print(line); table.append(line)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, 'peers.json'), 'w') as f:
        json.dump(results, f, indent=1)
    print('\n=== peers (median ms) ===')
    for l in table: print(l)


if __name__ == '__main__':
    main()
