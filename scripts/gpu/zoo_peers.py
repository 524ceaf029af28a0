#!/usr/bin/env python3
"""The reference side of the zoo training table: builds each architecture's reference model from the same
config.json that fulgur trains (fla's HGRN2ForCausalLM / LightNetForCausalLM / GLAForCausalLM, transformers'
LlamaForCausalLM with SDPA and MiniMaxForCausalLM, the TNL of tnl_torch.py on fla's chunk_simple_gla), trains it with
bf16 autocast over f32 parameters and fused AdamW on random tokens, and prints one JSON line per run: the median step
time of the last `--measure` of `--steps` steps and torch.cuda.max_memory_allocated.

Several architectures run one after the other in one process (--arch hgrn2,lightnet,... with --config-dir), each in a
budget of --arch-timeout seconds, with everything freed in between; imports and CUDA start-up are paid once.
fla is imported from .peer/ (or $PEER_DIR); nothing is downloaded.
  python3 scripts/gpu/zoo_peers.py --arch hgrn2 --config scripts/gpu/zoo/hgrn2.json --batch 8 --seq-len 2048
  python3 scripts/gpu/zoo_peers.py --arch hgrn2,llama --config-dir scripts/gpu/zoo --batch 8 --seq-len 2048
"""
import argparse, gc, json, os, signal, sys, time

PEER_DIR = os.environ.get('PEER_DIR', '.peer')
sys.path.insert(0, PEER_DIR)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch


def build(arch, cfg):
    if arch in ('hgrn2', 'lightnet', 'gla'):
        import fla  # noqa: F401  registers the fla model classes
        from fla.models import HGRN2Config, HGRN2ForCausalLM, LightNetConfig, LightNetForCausalLM, GLAConfig, GLAForCausalLM
        conf_cls, model_cls = {'hgrn2': (HGRN2Config, HGRN2ForCausalLM), 'lightnet': (LightNetConfig, LightNetForCausalLM),
                               'gla': (GLAConfig, GLAForCausalLM)}[arch]
        c = {k: v for k, v in cfg.items() if k != 'model_type'}
        return model_cls(conf_cls(**c)), 'fla ' + model_cls.__name__
    if arch == 'llama':
        from transformers import LlamaConfig, LlamaForCausalLM
        c = {k: v for k, v in cfg.items() if k != 'model_type'}
        return LlamaForCausalLM(LlamaConfig(**c, attn_implementation='sdpa')), 'transformers LlamaForCausalLM (sdpa)'
    if arch == 'minimax':
        from transformers import MiniMaxConfig, MiniMaxForCausalLM
        c = {k: v for k, v in cfg.items() if k != 'model_type'}
        return MiniMaxForCausalLM(MiniMaxConfig(**c, attn_implementation='sdpa')), 'transformers MiniMaxForCausalLM (sdpa)'
    if arch == 'tnl':
        from bench_peers import import_fla
        from tnl_torch import Tnl
        attn, _ = import_fla()
        return TnlLm(Tnl(cfg['vocab_size'], cfg['decoder_embed_dim'], cfg['decoder_layers'], cfg['decoder_attention_heads'],
                         cfg['glu_dim'], attn)), 'TNL in PyTorch on fla chunk_simple_gla'
    raise SystemExit(f'no reference for architecture {arch!r}')


class TnlLm(torch.nn.Module):
    """tnl_torch's model returns the loss itself; give it the (ids, labels) call of the HF classes."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, input_ids, labels):
        return type('Out', (), {'loss': self.inner(input_ids[:, :-1], labels[:, 1:])})()


class OverBudget(Exception):
    pass


def on_alarm(signum, frame):
    raise OverBudget()


def run(arch, cfg, a):
    row = {'side': 'reference', 'arch': arch, 'batch': a.batch, 'seq_len': a.seq_len}
    model = opt = loss = None
    signal.alarm(a.arch_timeout)
    try:
        torch.manual_seed(0)
        model, name = build(arch, cfg)
        model = model.cuda()
        row['impl'] = name
        row['params'] = sum(p.numel() for p in model.parameters())
        opt = torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1, fused=True)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        times = []
        for i in range(a.steps):
            ids = torch.randint(0, cfg['vocab_size'], (a.batch, a.seq_len), device='cuda')
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            with torch.autocast('cuda', dtype=torch.bfloat16):
                loss = model(input_ids=ids, labels=ids).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        last = sorted(times[-a.measure:])
        row['step_ms'] = 1e3 * last[len(last) // 2]
        row['peak_gib'] = torch.cuda.max_memory_allocated() / 2**30
        row['loss'] = float(loss)
    except OverBudget:
        row['error'] = f'over its budget of {a.arch_timeout} s'
    except torch.cuda.OutOfMemoryError:
        row['error'] = 'out of memory'
    except Exception as e:  # one architecture's failure must not stop the table
        row['error'] = f'{type(e).__name__}: {str(e)[:300]}'
    finally:
        signal.alarm(0)
    del model, opt, loss
    gc.collect()
    torch.cuda.empty_cache()
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--arch', required=True, help='an architecture, or several separated by commas (with --config-dir)')
    ap.add_argument('--config', help="the architecture's config.json (one architecture)")
    ap.add_argument('--config-dir', help='the folder of ARCH.json configs (several architectures)')
    ap.add_argument('--batch', type=int, default=8)
    ap.add_argument('--seq-len', type=int, default=2048)
    ap.add_argument('--steps', type=int, default=25)
    ap.add_argument('--measure', type=int, default=15)
    ap.add_argument('--arch-timeout', type=int, default=600, help='seconds each architecture may take')
    a = ap.parse_args()
    archs = a.arch.split(',')
    if a.config is None and a.config_dir is None:
        sys.exit('give --config (one architecture) or --config-dir')
    if a.config is not None and len(archs) > 1:
        sys.exit('--config names one architecture\'s config; give --config-dir for several')
    signal.signal(signal.SIGALRM, on_alarm)
    for arch in archs:
        path = a.config or os.path.join(a.config_dir, arch + '.json')
        print(json.dumps(run(arch, json.load(open(path)), a)), flush=True)


if __name__ == '__main__':
    main()
