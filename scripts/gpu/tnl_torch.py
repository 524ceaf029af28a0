#!/usr/bin/env python3
"""The peer for fulgur's TNL training benchmark: the same TransNormerLLM (OpenNLPLab HF layout: SRMSNorm,
qkvu projection with SiLU q/k, lightning attention with the official per-layer decay, norm·u gate, SGLU, tied
head, sqrt(d) embedding scale) built in PyTorch on flash-linear-attention's chunk_simple_gla, trained with
bf16 autocast over f32 parameters and fused AdamW. Prints a markdown row per run: tokens/s, step time, peak
memory (torch.cuda.max_memory_allocated) and the MFU implied by 6·params·tokens/s (as TnlTrainBench).

fla is imported from .peer/ (or $PEER_DIR) when present; nothing is downloaded.
  python3 scripts/gpu/tnl_torch.py --runs 2048x8,16384x1 --steps 4 --warmup 2
"""
import argparse, math, os, sys, time

PEER_DIR = os.environ.get('PEER_DIR', '.peer')
sys.path.insert(0, PEER_DIR)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch
import torch.nn as nn
import torch.nn.functional as F
from bench_peers import import_fla, tnl_slopes

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
        o, _ = self.attn(q.reshape(sh), k.reshape(sh), v.reshape(sh), g_gamma=self.g, scale=1.0)
        x = x + self.out(u * self.norm(o.reshape(b, t, d)))
        y = self.channel_norm(x)
        return x + self.l3(self.l1(y) * self.l2(y))


class Tnl(nn.Module):
    def __init__(self, vocab, d, layers, heads, glu, attn):
        super().__init__()
        self.d = d
        self.embed = nn.Embedding(vocab, d)
        self.layers = nn.ModuleList(Layer(d, heads, glu, l, layers, attn) for l in range(layers))
        self.final_norm = SRMSNorm()
        for p in self.parameters():
            nn.init.normal_(p, std=0.02)

    def forward(self, ids, targets):
        x = self.embed(ids) * math.sqrt(self.d)
        for layer in self.layers:
            x = layer(x)
        logits = F.linear(self.final_norm(x), self.embed.weight)
        return F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.view(-1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--runs', default='2048x8,16384x1')
    ap.add_argument('--steps', type=int, default=4)
    ap.add_argument('--warmup', type=int, default=2)
    a = ap.parse_args()
    attn, note = import_fla()
    if note:
        print('fla:', note)
    torch.manual_seed(0)
    dev = 'cuda'
    model = Tnl(64000, 1024, 24, 8, 2816, attn).to(dev)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1, fused=True)
    print(f'model: TNL 385M in PyTorch {torch.__version__} on fla chunk_simple_gla, {params:,} parameters, {torch.cuda.get_device_name()}')
    print('| model | precision | T | B | tokens/step | step (median) | tokens/s | MFU | peak memory (torch) | loss |')
    print('|---|---|---|---|---|---|---|---|---|---|')
    for run in a.runs.split(','):
        t, b = map(int, run.split('x'))
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
            print(f'| tnl-385m (torch+fla) | bf16 autocast | {t} | {b} | {b * t:,} | {med * 1e3:.1f} ms | {tps:,.0f} | {6 * params * tps / PEAK * 100:.1f}% | '
                  f'{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB | {loss:.3f} |', flush=True)
        except torch.cuda.OutOfMemoryError as e:
            print(f'| tnl-385m (torch+fla) | bf16 autocast | {t} | {b} | failed: out of memory |', flush=True)


if __name__ == '__main__':
    main()
