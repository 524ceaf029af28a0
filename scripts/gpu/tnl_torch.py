#!/usr/bin/env python3
"""The peer for fulgur's TNL training benchmark: the same TransNormerLLM (OpenNLPLab HF layout: SRMSNorm,
qkvu projection with SiLU q/k, lightning attention with the official per-layer decay, norm·u gate, SGLU, tied
head, sqrt(d) embedding scale) built in PyTorch on flash-linear-attention's chunk_simple_gla, trained with
bf16 autocast over f32 parameters and fused AdamW. Prints a markdown row per run: tokens/s, step time, peak
memory (torch.cuda.max_memory_allocated) and the MFU implied by 6·params·tokens/s (as TnlTrainBench).

--fused-ce takes the loss through fla's FusedLinearCrossEntropyLoss (the [tokens, vocab] logits never exist, as in
fulgur), --compile wraps each layer in torch.compile (one graph shared by all layers): together the strongest
configuration. A run that runs out of memory prints a row saying so; with --stop-after-oom the longer runs after it
print "not run" rows.

fla is imported from .peer/ (or $PEER_DIR) when present; nothing is downloaded.
  python3 scripts/gpu/tnl_torch.py --runs 2048x8,16384x1 --steps 4 --warmup 2
  python3 scripts/gpu/tnl_torch.py --runs 16384x1,65536x1 --fused-ce --compile --stop-after-oom
"""
import argparse, math, os, sys, time

PEER_DIR = os.environ.get('PEER_DIR', '.peer')
sys.path.insert(0, PEER_DIR)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch
import torch.nn as nn
import torch.nn.functional as F
from bench_peers import import_fla, import_fla_fused_linear_ce, tnl_slopes

PEAK = 989e12


class SRMSNorm(nn.Module):
    def __init__(self, eps=1e-6):
        super().__init__()
        self.eps = eps

    def forward(self, x):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype)


class Layer(nn.Module):
    def __init__(self, d, heads, glu, layer, layers, attn):
        super().__init__()
        self.h, self.attn = heads, attn
        self.token_norm, self.channel_norm, self.norm = SRMSNorm(), SRMSNorm(), SRMSNorm()
        self.qkvu = nn.Linear(d, 4 * d, bias=False)
        self.out = nn.Linear(d, d, bias=False)
        self.l1, self.l2 = nn.Linear(d, glu, bias=False), nn.Linear(d, glu, bias=False)
        self.l3 = nn.Linear(glu, d, bias=False)
        factor = 1 - layer / (layers - 1) + 1e-5 if layers > 1 else 1 + 1e-5
        self.register_buffer('g', -torch.tensor(tnl_slopes(heads), dtype=torch.float32) * factor)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v, u = self.qkvu(self.token_norm(x)).chunk(4, -1)
        q, k = F.silu(q), F.silu(k)
        sh = (b, t, self.h, d // self.h)
        # v is a strided chunk of the fused projection; fla views its inputs, so it gets a contiguous copy
        o, _ = self.attn(q.reshape(sh), k.reshape(sh), v.reshape(sh).contiguous(), g_gamma=self.g, scale=1.0)
        x = x + self.out(u * self.norm(o.reshape(b, t, d)))
        y = self.channel_norm(x)
        return x + self.l3(self.l1(y) * self.l2(y))


class Body(nn.Module):
    def __init__(self, d, layers, heads, glu, attn):
        super().__init__()
        self.layers = nn.ModuleList(Layer(d, heads, glu, l, layers, attn) for l in range(layers))
        self.final_norm = SRMSNorm()

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return self.final_norm(x)


class Tnl(nn.Module):
    def __init__(self, vocab, d, layers, heads, glu, attn, fused_ce=None):
        super().__init__()
        self.d = d
        self.embed = nn.Embedding(vocab, d)
        self.body = Body(d, layers, heads, glu, attn)
        self.fused_ce = fused_ce
        for p in self.parameters():
            nn.init.normal_(p, std=0.02)

    def forward(self, ids, targets):
        h = self.body(self.embed(ids) * math.sqrt(self.d))
        if self.fused_ce is not None:
            return self.fused_ce(h.reshape(-1, self.d), targets.reshape(-1), self.embed.weight.to(h.dtype))
        logits = F.linear(h, self.embed.weight)
        return F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), targets.reshape(-1))


def out_of_memory(e):
    return isinstance(e, torch.cuda.OutOfMemoryError) or 'out of memory' in str(e).lower()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--runs', default='2048x8,16384x1')
    ap.add_argument('--steps', type=int, default=4)
    ap.add_argument('--warmup', type=int, default=2)
    ap.add_argument('--fused-ce', action='store_true', help="fla's fused linear cross-entropy (no [tokens, vocab] logits)")
    ap.add_argument('--compile', action='store_true', help='torch.compile the layers')
    ap.add_argument('--stop-after-oom', action='store_true', help='after a run out of memory, print "not run" rows for the rest')
    a = ap.parse_args()
    attn, note = import_fla()
    if note:
        print('fla:', note)
    if attn is None:
        print(f'| tnl-385m (torch+fla) | not run: {note} |', flush=True)
        return
    fused_ce = None
    if a.fused_ce:
        fused_ce, note = import_fla_fused_linear_ce()
        if note:
            print('fla fused linear cross-entropy:', note)
    torch.manual_seed(0)
    dev = 'cuda'
    model = Tnl(64000, 1024, 24, 8, 2816, attn, fused_ce).to(dev)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1, fused=True)
    label = 'tnl-385m (torch+fla' + (', fused CE' if fused_ce is not None else '') + (', compiled' if a.compile else '') + ')'
    if a.compile:
        # regional compilation: the 24 layers share one compiled graph (compiled once, not 24 times over)
        for layer in model.body.layers:
            layer.compile()
    print(f'model: TNL 385M in PyTorch {torch.__version__} on fla chunk_simple_gla, {params:,} parameters, {torch.cuda.get_device_name()}'
          f'; loss {"fla FusedLinearCrossEntropyLoss" if fused_ce is not None else "F.cross_entropy on materialised logits"}'
          f'{"; layers torch.compile-d" if a.compile else ""}')
    print('| model | precision | T | B | tokens/step | step (median) | tokens/s | MFU | peak memory (torch) | loss |')
    print('|---|---|---|---|---|---|---|---|---|---|')
    oom_at = None
    for run in a.runs.split(','):
        t, b = map(int, run.split('x'))
        if oom_at is not None and a.stop_after_oom:
            print(f'| {label} | bf16 autocast | {t} | {b} | not run: out of memory at T = {oom_at} already |', flush=True)
            continue
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        times, loss = [], float('nan')
        try:
            for i in range(a.warmup + a.steps):
                ids = torch.randint(0, 64000, (b, t), device=dev)
                tg = torch.randint(0, 64000, (b, t), device=dev)
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                with torch.autocast('cuda', dtype=torch.bfloat16):
                    l = model(ids, tg)
                l.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                opt.zero_grad(set_to_none=True)
                torch.cuda.synchronize()
                if i >= a.warmup:
                    times.append(time.perf_counter() - t0)
                loss = l.item()
            med = sorted(times)[len(times) // 2]
            tps = b * t / med
            print(f'| {label} | bf16 autocast | {t} | {b} | {b * t:,} | {med * 1e3:.1f} ms | {tps:,.0f} | {6 * params * tps / PEAK * 100:.1f}% | '
                  f'{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB | {loss:.3f} |', flush=True)
        except (torch.cuda.OutOfMemoryError, RuntimeError) as e:
            if not out_of_memory(e):
                raise
            oom_at = t
            print(f'| {label} | bf16 autocast | {t} | {b} | failed: out of memory (peak {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB) |',
                  flush=True)
            opt.zero_grad(set_to_none=True)
            torch.cuda.empty_cache()


if __name__ == '__main__':
    main()
