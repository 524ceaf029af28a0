#!/usr/bin/env python3
"""PyTorch peers of fulgur's attention and MoE kernels (fulgur.cuda.bench.AttnMoeBench), at the same shapes:
torch SDPA with the flash backend (forward, backward, forward+backward; causal, bf16, [B, T, H, D] memory layout),
decoding against a KV cache (flash_attn_with_kvcache when the flash-attn package is present, else SDPA over a dense
padded cache), and a MoE layer as transformers writes it (a loop over experts with index_add; forward and
forward+backward). Timing: CUDA events, 3 warm-ups, the median of --reps runs, uniform random inputs.

With --fulgur-json (AttnMoeBench's attn_moe_bench.json) it prints fulgur's times beside the peers' and the ratios.
usage: python3 attn_peer.py [--reps 20] [--out DIR] [--fulgur-json PATH] [--sections attn,decode,moe]
"""
import argparse, json, math, os, sys

import torch
import torch.nn.functional as F


def timeit(fn, reps, warm=3):
    for _ in range(warm):
        fn()
    ts = []
    for _ in range(reps):
        a = torch.cuda.Event(enable_timing=True)
        b = torch.cuda.Event(enable_timing=True)
        a.record(); fn(); b.record()
        ts.append((a, b))
    torch.cuda.synchronize()
    ms = sorted(a.elapsed_time(b) for a, b in ts)
    return ms[len(ms) // 2]


def rand(*shape, lo=-2.0, hi=2.0, dtype=torch.bfloat16):
    return (torch.rand(*shape, device='cuda', dtype=torch.float32) * (hi - lo) + lo).to(dtype)


def sdpa_flash():
    try:
        from torch.nn.attention import sdpa_kernel, SDPBackend
        return lambda: sdpa_kernel(SDPBackend.FLASH_ATTENTION), 'sdpa_kernel(FLASH_ATTENTION)'
    except Exception:
        return lambda: torch.backends.cuda.sdp_kernel(enable_flash=True, enable_math=False, enable_mem_efficient=False), 'sdp_kernel(flash)'


def attention(B, T, H, D, reps):
    ctx, how = sdpa_flash()
    # [B, T, H, D] storage as fulgur's, seen as [B, H, T, D] by SDPA
    q = rand(B, T, H, D).transpose(1, 2).requires_grad_(True)
    k = rand(B, T, H, D).transpose(1, 2).requires_grad_(True)
    v = rand(B, T, H, D).transpose(1, 2).requires_grad_(True)
    do = rand(B, T, H, D, lo=-1, hi=1).transpose(1, 2)
    with ctx():
        def fwd():
            with torch.no_grad():
                return F.scaled_dot_product_attention(q, k, v, is_causal=True)
        t_fwd = timeit(fwd, reps)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        def bwd():
            torch.autograd.grad(out, (q, k, v), do, retain_graph=True)
        t_bwd = timeit(bwd, reps)
        def both():
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            torch.autograd.grad(o, (q, k, v), do)
        t_both = timeit(both, reps)
    flops = 4.0 * B * H * T * T * D / 2
    print(f'torch SDPA flash B={B} T={T} H={H} D={D} causal: fwd {t_fwd:.3f} ms ({flops / t_fwd / 1e9:.0f} TFLOP/s)  '
          f'bwd {t_bwd:.3f} ms ({2.5 * flops / t_bwd / 1e9:.0f})  fwd+bwd {t_both:.3f} ms ({3.5 * flops / t_both / 1e9:.0f})  [{how}]', flush=True)
    res = dict(op='attention', B=B, T=T, H=H, D=D, fwd_ms=t_fwd, bwd_ms=t_bwd, fwdbwd_ms=t_both, peer='torch sdpa flash')
    try:  # the flash-attn package itself, when installed
        from flash_attn import flash_attn_func
        qf, kf, vf = (x.detach().transpose(1, 2).contiguous().requires_grad_(True) for x in (q, k, v))
        dof = do.transpose(1, 2).contiguous()
        t2 = timeit(lambda: flash_attn_func(qf, kf, vf, causal=True), reps)
        def both2():
            o = flash_attn_func(qf, kf, vf, causal=True)
            torch.autograd.grad(o, (qf, kf, vf), dof)
        t3 = timeit(both2, reps)
        print(f'flash_attn_func B={B} T={T} H={H} D={D} causal: fwd {t2:.3f} ms  fwd+bwd {t3:.3f} ms', flush=True)
        res['flash_attn_fwd_ms'] = t2
        res['flash_attn_fwdbwd_ms'] = t3
    except ImportError:
        pass
    del q, k, v, do, out
    torch.cuda.empty_cache()
    return res


def decode(N, maxlen, H, Hkv, D, lens, reps):
    lens_t = torch.tensor(lens, dtype=torch.int32, device='cuda')
    q = rand(N, 1, H, D)
    try:
        from flash_attn import flash_attn_with_kvcache
        kc = rand(N, maxlen, Hkv, D)
        vc = rand(N, maxlen, Hkv, D)
        t = timeit(lambda: flash_attn_with_kvcache(q, kc, vc, cache_seqlens=lens_t), reps)
        peer = 'flash_attn_with_kvcache (dense per-sequence cache)'
    except ImportError:
        kc = rand(N, Hkv, maxlen, D)
        vc = rand(N, Hkv, maxlen, D)
        mask = (torch.arange(maxlen, device='cuda')[None, :] < lens_t[:, None])[:, None, None, :]
        qs = q.transpose(1, 2)
        try:  # grouped-query attention without copies (torch >= 2.5)
            F.scaled_dot_product_attention(qs[:1], kc[:1], vc[:1], attn_mask=mask[:1], enable_gqa=True)
            t = timeit(lambda: F.scaled_dot_product_attention(qs, kc, vc, attn_mask=mask, enable_gqa=True), reps)
            peer = 'torch SDPA over a dense padded cache (enable_gqa)'
        except TypeError:
            g = H // Hkv
            kk, vv = kc.repeat_interleave(g, dim=1), vc.repeat_interleave(g, dim=1)
            t = timeit(lambda: F.scaled_dot_product_attention(qs, kk, vv, attn_mask=mask), reps)
            peer = 'torch SDPA over a dense padded cache (heads repeated before timing)'
            del kk, vv
    tokens = sum(lens)
    gbs = 2.0 * tokens * Hkv * D * 2 / t / 1e6
    print(f'{peer} N={N} maxlen={maxlen} H={H} Hkv={Hkv} D={D}: {t:.3f} ms ({gbs:.0f} GB/s of live cache)', flush=True)
    del kc, vc
    torch.cuda.empty_cache()
    return dict(op='decode', N=N, maxlen=maxlen, H=H, Hkv=Hkv, D=D, ms=t, peer=peer)


def moe(N, D, Fh, E, k, reps):
    logits = rand(N, E, dtype=torch.float32).requires_grad_(True)
    x = rand(N, D).requires_grad_(True)
    ws, ws2 = 1 / math.sqrt(D), 1 / math.sqrt(Fh)
    w1 = rand(E, Fh, D, lo=-ws, hi=ws).requires_grad_(True)
    w3 = rand(E, Fh, D, lo=-ws, hi=ws).requires_grad_(True)
    w2 = rand(E, D, Fh, lo=-ws2, hi=ws2).requires_grad_(True)
    dout = rand(N, D, lo=-1, hi=1)

    def layer():  # transformers' Mixtral/MiniMax block_sparse_moe with precomputed router logits
        probs = torch.softmax(logits, dim=-1)
        topv, topi = probs.topk(k, dim=-1)
        topv = topv / topv.sum(-1, keepdim=True)
        out = torch.zeros_like(x)
        mask = F.one_hot(topi, E).permute(2, 1, 0)
        for e in range(E):
            slot, idx = torch.where(mask[e])
            if idx.numel() == 0:
                continue
            xe = x[idx]
            y = (F.silu(xe @ w1[e].T) * (xe @ w3[e].T)) @ w2[e].T
            out = out.index_add(0, idx, y * topv[idx, slot, None].to(x.dtype))
        return out

    def fwd():
        with torch.no_grad():
            layer()
    t_fwd = timeit(fwd, reps)

    def step():
        out = layer()
        torch.autograd.grad(out, (x, logits, w1, w3, w2), dout)
    t_step = timeit(step, reps)
    flops = 2.0 * N * k * 3 * D * Fh
    print(f'torch MoE loop N={N} D={D} F={Fh} E={E} top-{k}: fwd {t_fwd:.3f} ms ({flops / t_fwd / 1e9:.0f} TFLOP/s)  '
          f'fwd+bwd {t_step:.3f} ms ({3 * flops / t_step / 1e9:.0f} TFLOP/s)', flush=True)
    del logits, x, w1, w3, w2, dout
    torch.cuda.empty_cache()
    return dict(op='moe', N=N, D=D, F=Fh, E=E, k=k, fwd_ms=t_fwd, fwdbwd_ms=t_step, peer='torch loop over experts')


def compare(fulgur, peers):
    print('\n=== fulgur vs PyTorch (median ms; ratio = fulgur / peer, below 1 is faster) ===')
    rows = []
    for p in peers:
        for f in fulgur:
            if f.get('op') != p['op']:
                continue
            if p['op'] == 'attention' and all(f.get(x) == p[x] for x in ('B', 'T', 'H', 'D')):
                tag = f"attention B={p['B']} T={p['T']} H={p['H']} D={p['D']} causal {f.get('variant') or ''}".strip()
                for key in ('fwd_ms', 'bwd_ms', 'fwdbwd_ms'):
                    rows.append((tag, key[:-3], f[key], p[key], p['peer']))
            elif p['op'] == 'decode' and all(f.get(x) == p[x] for x in ('N', 'maxlen', 'H', 'Hkv', 'D')):
                rows.append((f"decode N={p['N']} maxlen={p['maxlen']} H={p['H']} Hkv={p['Hkv']} D={p['D']}", 'step', f['ms'], p['ms'], p['peer']))
            elif p['op'] == 'moe' and all(f.get(x) == p[x] for x in ('N', 'D', 'F', 'E', 'k')):
                tag = f"MoE N={p['N']} D={p['D']} F={p['F']} E={p['E']} top-{p['k']}"
                for key in ('fwd_ms', 'fwdbwd_ms'):
                    rows.append((tag, key[:-3], f[key], p[key], p['peer']))
    for tag, what, a, b, peer in rows:
        print(f'| {tag} | {what} | fulgur {a:.3f} | {peer} {b:.3f} | ratio {a / b:.2f} |')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--reps', type=int, default=20)
    ap.add_argument('--out', default='.')
    ap.add_argument('--fulgur-json', default=None)
    ap.add_argument('--sections', default='attn,decode,moe')
    ap.add_argument('--attn', default='8x2048x16x64,1x16384x16x64,4x4096x16x128')
    ap.add_argument('--decode', default='64x4096x32x8x128,8x32768x32x8x128')
    ap.add_argument('--moe', default='16384x1024x1536x32x2,16384x1024x2816x8x2')
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    print('torch', torch.__version__, 'device', torch.cuda.get_device_name(0), flush=True)
    torch.manual_seed(0)
    fulgur = []
    if a.fulgur_json and os.path.exists(a.fulgur_json):
        with open(a.fulgur_json) as f:
            fulgur = json.load(f).get('runs', [])
    peers = []
    def guard(what, fn):
        try:
            peers.append(fn())
        except Exception as e:  # one failing peer must not hide the others
            print(f'{what}: FAILED {e!r}', flush=True)
            torch.cuda.empty_cache()
    if 'attn' in a.sections:
        for s in a.attn.split(','):
            B, T, H, D = map(int, s.split('x'))
            guard('attention ' + s, lambda: attention(B, T, H, D, a.reps))
    if 'decode' in a.sections:
        for s in a.decode.split(','):
            N, maxlen, H, Hkv, D = map(int, s.split('x'))
            lens = next((f['lens'] for f in fulgur if f.get('op') == 'decode' and f.get('N') == N and f.get('maxlen') == maxlen), None)
            if lens is None:  # the same draw as AttnMoeBench is not available: uniform in [maxlen/4, maxlen]
                g = torch.Generator().manual_seed(5)
                lens = torch.randint(maxlen // 4, maxlen + 1, (N,), generator=g).tolist()
            guard('decode ' + s, lambda: decode(N, maxlen, H, Hkv, D, lens, a.reps))
    if 'moe' in a.sections:
        for s in a.moe.split(','):
            N, D, Fh, E, k = map(int, s.split('x'))
            guard('moe ' + s, lambda: moe(N, D, Fh, E, k, a.reps))
    with open(os.path.join(a.out, 'attn_peer.json'), 'w') as f:
        json.dump(dict(device=torch.cuda.get_device_name(0), torch=torch.__version__, runs=peers), f, indent=1)
    if fulgur:
        compare(fulgur, peers)


if __name__ == '__main__':
    main()
