#!/usr/bin/env python3
"""Java-free check of fulgur's lightning kernels (lightning.cu), through CuPy's NVRTC and torch: the same
launch sequence as fulgur.cuda.ops.lightning.LightningAttention, against a float64 recurrence. A diagnostic for the
GPU host (when the Java harness itself is in doubt), not part of the product.
usage: python3 check_kernels.py path/to/lightning.cu"""
import math, sys
import numpy as np, torch, cupy as cp

SRC = open(sys.argv[1]).read()
CB = 64
mods = {}


def mod(dk, dv):
    if (dk, dv) not in mods:
        mods[(dk, dv)] = cp.RawModule(code=SRC, options=('-std=c++17', '-DDK=%d' % dk, '-DDV=%d' % dv,
                                                         '-I/usr/local/cuda/include', '--gpu-architecture=sm_90a'))
    return mods[(dk, dv)]


def P(t):
    return cp.asarray(t.view(torch.int16) if t.dtype == torch.bfloat16 else t)


def launch(m, name, grid, smem, *args):
    f = m.get_function(name)
    if smem > 48 * 1024:
        f.max_dynamic_shared_size_bytes = smem
    f(grid, (256,), args, shared_mem=smem)


def run(q, k, v, do, slopes, scale, s0, dht, seg):
    B, T, H, DK = q.shape; DV = v.shape[-1]; NS = (T + seg - 1) // seg
    i32, f32 = np.int32, np.float32
    cs = 2 * (CB * DK * 2 + CB * DV * 2) + 260
    walk = lambda a, b: 2 * (2 * CB * a * 2 + CB * b * 2) + a * b * 2 + CB * CB * 2 + 8 * 16 * (b // 2) * 2 + 260
    dkdv = 2 * (2 * CB * DK * 2 + 2 * CB * DV * 2) + DK * DV * 2 + 2 * CB * CB * 2 + 8 * 16 * (max(DK, DV) // 2) * 2 + 260
    st = torch.empty(B, H, NS, DK, DV, device='cuda'); g = torch.empty_like(st)
    o = torch.full((B, T, H, DV), float('nan'), device='cuda', dtype=torch.bfloat16)
    dq = torch.full_like(q, float('nan')); dk = torch.full_like(k, float('nan')); dv = torch.full_like(v, float('nan'))
    ht = torch.full((B, H, DK, DV), float('nan'), device='cuda'); ds0 = torch.full_like(ht, float('nan'))
    m = mod(DK, DV); n = DK * DV
    launch(m, 'la_chunk_state', (NS, H, B), cs, P(k), P(v), P(st), P(slopes), f32(1), i32(T), i32(H), i32(seg), i32(0))
    launch(m, 'la_state_scan', ((n // 4 + 255) // 256, B * H), 0, P(st), P(s0), P(ht), P(slopes), i32(T), i32(H), i32(seg), i32(NS), i32(n), i32(0))
    launch(m, 'la_fwd_walk', (NS, H, B), walk(DK, DV), P(q), P(k), P(v), P(o), P(st), P(slopes), f32(scale), i32(T), i32(H), i32(seg), i32(0), P(ht))
    launch(mod(DV, DK), 'la_fwd_walk', (NS, H, B), walk(DV, DK), P(do), P(v), P(k), P(dq), P(st), P(slopes), f32(scale), i32(T), i32(H), i32(seg), i32(1), np.uint64(0))
    launch(m, 'la_chunk_state', (NS, H, B), cs, P(q), P(do), P(g), P(slopes), f32(scale), i32(T), i32(H), i32(seg), i32(1))
    launch(m, 'la_state_scan', ((n // 4 + 255) // 256, B * H), 0, P(g), P(dht), P(ds0), P(slopes), i32(T), i32(H), i32(seg), i32(NS), i32(n), i32(1))
    launch(m, 'la_bwd_dkdv', (NS, H, B), dkdv, P(q), P(k), P(v), P(do), P(dk), P(dv), P(g), P(slopes), f32(scale), i32(T), i32(H), i32(seg), i32(0), P(ds0))
    torch.cuda.synchronize()
    return dict(o=o, ht=ht, dq=dq, dk=dk, dv=dv, ds0=ds0)


def reference(q, k, v, do, slopes, scale, s0, dht):
    qd, kd, vd, s0d = (x.double().requires_grad_() for x in (q, k, v, s0))
    lam = torch.exp(-slopes.double())[None, :, None, None]
    S = s0d; outs = []
    for t in range(q.shape[1]):
        S = lam * S + kd[:, t, :, :, None] * vd[:, t, :, None, :]
        outs.append(scale * torch.einsum('bhd,bhde->bhe', qd[:, t], S))
    o = torch.stack(outs, 1)
    ((o * do.double()).sum() + (S * dht.double()).sum()).backward()
    return dict(o=o.detach(), ht=S.detach(), dq=qd.grad, dk=kd.grad, dv=vd.grad, ds0=s0d.grad)


def main():
    torch.manual_seed(0)
    ok = True
    for (B, T, H, DK, DV, seg) in [(2, 300, 3, 128, 128, 128), (1, 200, 2, 64, 64, 64), (1, 130, 2, 64, 128, 128)]:
        r = lambda *s: (torch.rand(*s, device='cuda') * 2 - 1)
        q, k = r(B, T, H, DK).bfloat16(), r(B, T, H, DK).bfloat16()
        v, do = r(B, T, H, DV).bfloat16(), r(B, T, H, DV).bfloat16()
        s0, dht = r(B, H, DK, DV), r(B, H, DK, DV)
        slopes = torch.tensor([0.0039, 0.25, 1.5][:H], device='cuda')
        scale = 1 / math.sqrt(DK)
        got = run(q, k, v, do, slopes, scale, s0, dht, seg)
        ref = reference(q, k, v, do, slopes, scale, s0, dht)
        errs = {n: ((got[n].double() - ref[n]).norm() / ref[n].norm()).item() for n in ref}
        bad = [n for n, e in errs.items() if not e < 1e-2]
        ok &= not bad
        print('check_kernels B=%d T=%d H=%d dk=%d dv=%d seg=%d: ' % (B, T, H, DK, DV, seg)
              + ' '.join('%s %.2e' % x for x in errs.items()) + ('  FAIL ' + str(bad) if bad else '  ok'))
    sys.exit(0 if ok else 1)


if __name__ == '__main__':
    main()
