#!/usr/bin/env python3
"""The peer of fulgur's serving benchmark (EngineBench --config 385m): the TransNormerLLM-385M of tnl_torch.py (its
classes: SRMSNorm, Layer, Tnl) generating greedily in batches as Hugging Face's generate does, in PyTorch eager:

  prefill  the B prompts [B, P] through every layer -> one state [B, H, dk, dv] per layer (f32) and the first tokens,
           which are read on the host (they would be streamed): the time to first token;
  decode   N - 1 steps, each one forward of [B, 1] ids from the layers' states, logits of the last position only,
           argmax on the GPU; the tokens stay on the GPU until the end (no host read per step: the peer's best case).

Lightning attention by flash-linear-attention when it imports from $PEER_DIR (default .peer/flash-linear-attention;
nothing is downloaded): fused_recurrent_simple_gla for decoding and for prompts of at most 64 tokens (as fla's own
layers choose), chunk_simple_gla for longer ones, g_gamma = the layer's log-decay. Without fla (or if its kernels
fail), the same recurrence in plain PyTorch (torch_lightning below). bf16 weights (the decays stay f32), N(0, 0.02^2)
weights drawn on the device.

--batch takes several batch sizes (1,16,64,256); --rounds rounds of each. --paced waits for a turn before each piece
of device work, as EngineBench --paced does (scripts/gpu/serve_turns.py alternates the two on one GPU): it prints
'ready' and reads a line; the end of its input ends the run. The turns: the model and a warm-up generation at every
batch size (Triton compiles there), then one per round and batch size. Prints one JSON line per figure (as fulgur's
BenchResult: name, metric, value, unit, extra) on stdout and a summary on stderr.
  python3 scripts/gpu/serve_peer.py --batch 1,16,64,256 --prompt 32 --tokens 128 --rounds 2
"""
import argparse, json, math, os, sys, time

PEER_DIR = os.environ.get('PEER_DIR', '.peer/flash-linear-attention')
os.environ['PEER_DIR'] = PEER_DIR  # tnl_torch / bench_peers read it at import
sys.path.insert(0, PEER_DIR)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

FUSED_MAX_PROMPT = 64


def torch_lightning(q, k, v, g_gamma, scale=1.0, initial_state=None, output_final_state=True):
    """Lightning attention in plain PyTorch, fla's interface: q, k, v [B, T, H, D]; g_gamma [H] log-decays; state
    [B, H, D, D] f32. o_t = q_t S_t with S_t = exp(g) S_{t-1} + k_t^T v_t; computed in f32, o in q's dtype."""
    import torch
    b, t, h, d = q.shape
    qf, kf, vf = (x.float().transpose(1, 2) for x in (q, k, v))  # [B, H, T, D]
    qf = qf * scale
    g = g_gamma.float()
    s0 = None if initial_state is None else initial_state.float()
    if t == 1:
        s = kf.transpose(-1, -2) @ vf  # [B, H, D, D]
        if s0 is not None:
            s = s + torch.exp(g)[None, :, None, None] * s0
        o = qf @ s
    else:
        pos = torch.arange(t, device=q.device)
        diff = (pos[:, None] - pos[None, :]).float()
        decay = torch.exp(g[:, None, None] * diff.clamp(min=0)) * (diff >= 0)  # [H, T, T]
        o = ((qf @ kf.transpose(-1, -2)) * decay) @ vf
        tail = torch.exp(g[:, None] * (t - 1 - pos).float())[None, :, :, None]  # [1, H, T, 1]
        s = (kf * tail).transpose(-1, -2) @ vf
        if s0 is not None:
            o = o + (qf * torch.exp(g[:, None] * (pos + 1).float())[None, :, :, None]) @ s0
            s = s + torch.exp(g * t)[None, :, None, None] * s0
    return o.transpose(1, 2).to(q.dtype), (s if output_final_state else None)


def layer_forward(layer, x, attn, state):
    """One TNL layer over x [B, T, d] from `state` (None: fresh); returns the output and the layer's new state."""
    import torch.nn.functional as F
    b, t, d = x.shape
    q, k, v, u = layer.qkvu(layer.token_norm(x)).chunk(4, -1)
    q, k = F.silu(q), F.silu(k)
    sh = (b, t, layer.h, d // layer.h)
    o, state = attn(q.reshape(sh), k.reshape(sh), v.reshape(sh), g_gamma=layer.g, scale=1.0, initial_state=state,
                    output_final_state=True)
    x = x + layer.out(u * layer.norm(o.reshape(b, t, d)))
    y = layer.channel_norm(x)
    return x + layer.l3(layer.l1(y) * layer.l2(y)), state


def last_logits(model, x):
    import torch.nn.functional as F
    return F.linear(model.body.final_norm(x[:, -1]), model.embed.weight)


def prefill(model, ids, attn):
    x = model.embed(ids) * math.sqrt(model.d)
    states = []
    for layer in model.body.layers:
        x, s = layer_forward(layer, x, attn, None)
        states.append(s)
    return last_logits(model, x).argmax(-1), states


def decode_step(model, ids, states, attn):
    x = model.embed(ids[:, None]) * math.sqrt(model.d)
    for i, layer in enumerate(model.body.layers):
        x, states[i] = layer_forward(layer, x, attn, states[i])
    return last_logits(model, x).argmax(-1)


def sync(dev):
    import torch
    if dev.type == 'cuda':
        torch.cuda.synchronize()


def generate(model, prompts, n, prefill_attn, step_attn):
    """Greedy generation of n tokens for every row; returns the tokens [B, n], the time to the first tokens on the
    host and the decode time (s)."""
    import torch
    sync(prompts.device)
    t0 = time.perf_counter()
    ids, states = prefill(model, prompts, prefill_attn)
    first = ids.cpu()  # the first tokens reach the host (a server streams them now)
    t1 = time.perf_counter()
    out = [ids]
    for _ in range(n - 1):
        ids = decode_step(model, ids, states, step_attn)
        out.append(ids)
    sync(prompts.device)
    t2 = time.perf_counter()
    del first
    return torch.stack(out, 1), t1 - t0, t2 - t1


class Gate:
    """Turns (see the module's doc): unpaced, every turn is granted at once."""

    def __init__(self, paced):
        self.paced = paced

    def next(self):
        if not self.paced:
            return True
        print('ready', flush=True)
        return sys.stdin.readline() != ''


def attention_kernels(prompt):
    """(prefill attention, decode attention, description): fla's where it imports, else torch_lightning."""
    try:
        from bench_peers import import_fla
        chunk, note = import_fla()
        if chunk is None:
            return torch_lightning, torch_lightning, 'plain PyTorch lightning attention (' + note[:200] + ')'
        from fla.ops.simple_gla import fused_recurrent_simple_gla as fused
    except Exception as e:  # noqa: BLE001 - any import failure means: no fla here
        return torch_lightning, torch_lightning, f'plain PyTorch lightning attention (fla: {e!r:.200})'
    pre = fused if prompt <= FUSED_MAX_PROMPT else chunk
    pre_name = 'fused_recurrent_simple_gla' if pre is fused else 'chunk_simple_gla'
    return pre, fused, f'fla ({pre_name} prefill, fused_recurrent_simple_gla decode)'


def counts(text):
    try:
        out = [int(x) for x in text.split(',')]
    except ValueError:
        raise argparse.ArgumentTypeError(f'batch sizes separated by commas (e.g. 1,16,64), got {text}')
    if any(x < 1 for x in out):
        raise argparse.ArgumentTypeError(f'batch sizes of at least 1, got {text}')
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--batch', type=counts, default=[256])
    ap.add_argument('--prompt', type=int, default=32)
    ap.add_argument('--tokens', type=int, default=128)
    ap.add_argument('--rounds', type=int, default=2)
    ap.add_argument('--device', default='cuda')
    ap.add_argument('--config', choices=['385m', 'small'], default='385m', help="small: EngineBench's small default, for smoke tests")
    ap.add_argument('--paced', action='store_true')
    a = ap.parse_args()
    if a.prompt < 1 or a.tokens < 2 or a.rounds < 1:
        ap.error('--prompt and --rounds must be >= 1 and --tokens >= 2')
    gate = Gate(a.paced)
    try:
        import torch
        from tnl_torch import Tnl
    except ImportError as e:
        print(f'serve_peer: no PyTorch here ({e}); the peer is not measured', file=sys.stderr)
        sys.exit(3)
    prefill_attn, step_attn, impl = attention_kernels(a.prompt)
    vocab, width, layers, heads, glu = (64000, 1024, 24, 8, 2816) if a.config == '385m' else (257, 256, 4, 4, 680)
    if not gate.next():
        return
    t0 = time.perf_counter()
    dev = torch.device(a.device)
    torch.manual_seed(0)
    torch.set_grad_enabled(False)
    try:
        with dev:  # parameters drawn where they live (torch >= 2.0)
            model = Tnl(vocab, width, layers, heads, glu, None)  # the layers' attention is passed per call
    except (AttributeError, TypeError):
        model = Tnl(vocab, width, layers, heads, glu, None).to(dev)
    decays = [layer.g.clone() for layer in model.body.layers]
    model = model.to(torch.bfloat16).eval()
    for layer, g in zip(model.body.layers, decays):
        layer.g = g  # the log-decays stay f32
    params = sum(p.numel() for p in model.parameters())
    sync(dev)
    name = torch.cuda.get_device_name(dev) if dev.type == 'cuda' else 'cpu'
    state_bytes = sum(layer.h * (width // layer.h) ** 2 * 4 for layer in model.body.layers)
    print(f'peer: TNL-{a.config} in PyTorch {torch.__version__}, {impl}, {params:,} parameters, bf16, {name}; '
          f'built in {time.perf_counter() - t0:.1f} s', file=sys.stderr)
    g = torch.Generator(device=dev).manual_seed(1)
    prompts = {n: torch.randint(0, 256, (n, a.prompt), device=dev, generator=g) for n in a.batch}
    w0 = time.perf_counter()
    for n in sorted(a.batch, reverse=True):  # fla tunes its kernels once, whatever the batch: at the largest
        try:
            generate(model, prompts[n], 4, prefill_attn, step_attn)  # compiles (and tunes) the Triton kernels
        except Exception as e:  # noqa: BLE001 - fla's kernels failed here: the plain PyTorch recurrence instead
            if prefill_attn is torch_lightning:
                raise
            print(f'peer: fla failed ({e!r:.300}); plain PyTorch lightning attention instead', file=sys.stderr)
            prefill_attn, step_attn, impl = torch_lightning, torch_lightning, 'plain PyTorch lightning attention (fla failed)'
            generate(model, prompts[n], 4, prefill_attn, step_attn)
    print(f'peer: warm-up at batch {",".join(map(str, a.batch))} in {time.perf_counter() - w0:.1f} s', file=sys.stderr)
    base = dict(model=f'tnl-{a.config}', impl=f'torch {torch.__version__}, {impl}', dtype='bf16', device=name, prompt_tokens=a.prompt,
                new_tokens=a.tokens, state_bytes_per_sequence=state_bytes)
    for r in range(a.rounds):
        for n in a.batch:
            if not gate.next():
                return
            if dev.type == 'cuda':
                torch.cuda.reset_peak_memory_stats()
            _, ttft_s, dec_s = generate(model, prompts[n], a.tokens, prefill_attn, step_attn)
            decode_tps = n * (a.tokens - 1) / dec_s
            total_tps = n * a.tokens / (ttft_s + dec_s)
            step_ms = dec_s * 1e3 / (a.tokens - 1)
            peak = torch.cuda.max_memory_allocated() if dev.type == 'cuda' else 0
            e = dict(base, batch=n, round=r + 1, tokens_per_s=total_tps, ttft_ms=ttft_s * 1e3, itl_ms=step_ms, device_peak_bytes=peak,
                     state_bytes=state_bytes * n)
            print(json.dumps(dict(name='peer-throughput', metric='decode_tokens_per_s', value=decode_tps, unit='tokens/s', extra=e)), flush=True)
            print(f'peer round {r + 1}: batch {n}: first tokens after {ttft_s * 1e3:.1f} ms, decode {step_ms:.2f} ms/step, '
                  f'{decode_tps:,.0f} decode tokens/s ({total_tps:,.0f} with the prefill), peak {peak / 2**30:.2f} GiB', file=sys.stderr)


if __name__ == '__main__':
    main()
