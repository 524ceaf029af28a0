"""Shared pieces of the golden-fixture scripts: environment (exact fp32: no TF32 anywhere), imports of the reference
code from .peer/, a few compatibility shims for old reference code on a current transformers, and the harness that
runs one reference model through prefill, greedy recurrent decoding, the training forward and one backward, and
writes the fixture.

Fixture layout (one folder per architecture, OUT/golden/<name>/):
  checkpoint/          what the reference code saves (config.json + model.safetensors)
  golden.safetensors   input_ids [B,T] int64; prefill_logits [B,T,V] (inference path, cache on);
                       train_logits [B,T,V] (training-mode forward, no cache; left out when bit for bit equal to
                       prefill_logits, meta.json train_vs_prefill_logits 0.0); loss [1] (mean next-token
                       cross-entropy of input_ids against themselves shifted by one, the reference's own loss);
                       decode_tokens [B,N] int64 and decode_logits [B,N,V]: greedy recurrent decoding from the
                       first prompt_len ([1] int64) tokens, decode_logits[:, i] being the logits whose argmax is decode_tokens[:, i]
                       (step 0 = the prompt's last position, then one token per forward through the cache)
  grads.safetensors    d loss / d parameter for every parameter, under the reference model's parameter names
  meta.json            reference, versions, sizes, how exactness was ensured, timings, notes; decode_vs_parallel_form:
                       the decoding logits against the reference's own training-path (parallel) forward over the
                       prompt and the decoded tokens, the check that its recurrent decode is its parallel form
"""
import json
import math
import os
import sys
import time
import traceback
import types

PEER = os.environ.get('PEER_DIR', '.peer')
# fulgur-made checkpoints converted to the reference layout (committed; the round trips load them)
ROUNDTRIP_SRC = os.path.join('fulgur-core', 'src', 'test', 'resources', 'golden', 'roundtrip')

# Sizes shared by every fixture.
BATCH = 2
SEQ = 24
PROMPT = 8
DECODE_STEPS = 8
VOCAB = 300
FIRST_ID = 3  # inputs avoid ids 0-2 (pad/bos/eos): torch's Embedding(padding_idx) never gets a gradient there


def setup_env():
    """Must run before torch/triton are imported."""
    # Triton's tl.dot defaults to TF32 for fp32 inputs; 'ieee' makes any fp32 dot exact (the kernels used here are
    # the recurrent ones, which have no dot at all, but a stray chunk kernel must not go TF32 either).
    os.environ.setdefault('TRITON_F32_DEFAULT', 'ieee')
    # TransNormerLLM's official code reads this at import: False selects its pure-PyTorch attention and SRMSNorm.
    os.environ['use_triton'] = 'False'
    # fla and MetaLA import as packages from their repository roots (the TNL code is loaded by file path, and the
    # LCSM repository is only read); nothing else of those trees should shadow installed modules
    for sub in ['MetaLA', 'flash-linear-attention']:
        p = os.path.join(PEER, sub)
        if os.path.isdir(p) and p not in sys.path:
            sys.path.insert(0, p)
    if not os.path.isdir(os.path.join(PEER, 'flash-linear-attention')) and os.path.isfile(os.path.join(PEER, 'fla', '__init__.py')):
        sys.path.insert(0, PEER)  # the fla package itself staged as .peer/fla
    # einops only where the host has none (fla, MetaLA and the TNL code import it)
    p = os.path.join(PEER, 'einops')
    if os.path.isdir(p):
        sys.path.append(p)
    pin_triton_autotune()


def pin_triton_autotune():
    """Every @triton.autotune kernel (fla's) keeps the first of its configs. Autotuning picks a config by timing, so
    which block sizes, hence which f32 summation order, a fixture got would vary from run to run; pinned, the run is
    reproducible and skips compiling and timing the other configs (most of fla's start-up). GOLDEN_TRITON_AUTOTUNE=1
    keeps autotuning. Must run before the kernels' modules are imported (the decorator builds the autotuner)."""
    if os.environ.get('GOLDEN_TRITON_AUTOTUNE') == '1':
        return
    try:
        import triton.runtime.autotuner as at
    except ImportError:
        return
    if getattr(at.Autotuner, '_golden_pinned', False):
        return
    init = at.Autotuner.__init__

    def first_config_only(self, fn, arg_names, configs, *a, **k):
        init(self, fn, arg_names, list(configs)[:1], *a, **k)
    at.Autotuner.__init__ = first_config_only
    at.Autotuner._golden_pinned = True


def setup_torch(seed):
    import torch
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        torch.set_float32_matmul_precision('highest')
    except Exception:
        pass
    try:
        torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction = False
        torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction = False
    except Exception:
        pass
    torch.manual_seed(seed)
    return 'cuda' if torch.cuda.is_available() else 'cpu'


def transformers_compat():
    """Names old reference code (TNL 2023, MetaLA 2024) imports that newer transformers may have moved or dropped.
    Only missing names are added; nothing existing is replaced."""
    import transformers
    import transformers.configuration_utils as cu
    import transformers.utils as tu
    if not hasattr(cu, 'PretrainedConfig') and hasattr(cu, 'PreTrainedConfig'):
        cu.PretrainedConfig = cu.PreTrainedConfig
    if not hasattr(transformers, 'PretrainedConfig') and hasattr(cu, 'PretrainedConfig'):
        transformers.PretrainedConfig = cu.PretrainedConfig

    def passthrough(*a, **k):
        return lambda f: f
    for name in ['add_start_docstrings', 'add_start_docstrings_to_model_forward', 'replace_return_docstrings']:
        if not hasattr(tu, name):
            setattr(tu, name, passthrough)
    cfg = getattr(cu, 'PretrainedConfig', None) or getattr(cu, 'PreTrainedConfig')
    if not hasattr(cfg, 'use_return_dict'):
        cfg.use_return_dict = property(lambda self: getattr(self, 'return_dict', True))
    return transformers.__version__


def tied_keys_as_dict(model):
    """transformers 5 reads a model class's _tied_weights_keys as a {tied parameter: source parameter} dict
    (save_pretrained calls .keys() on it); fla's classes still declare the list form of transformers 4. On
    transformers 5 each such list becomes the dict naming the input embedding as the source, set on the class so a
    reload sees it too. transformers ties only when config.tie_word_embeddings is set (the fixtures keep it off):
    what is saved is unchanged, save_pretrained merely runs. Returns the classes changed."""
    import transformers
    if int(transformers.__version__.split('.')[0]) < 5:
        return []
    emb = model.get_input_embeddings().weight
    changed = []
    for sub in model.modules():
        keys = getattr(type(sub), '_tied_weights_keys', None)
        if not isinstance(keys, (list, tuple)):
            continue
        source = next(n for n, p in sub.named_parameters() if p is emb)
        type(sub)._tied_weights_keys = {k: source for k in keys}
        changed.append(type(sub).__name__)
    return changed


def import_fla(module):
    """Imports fla.<module>; when fla/__init__ (which imports every layer and model) fails, imports the module alone
    through bare parent packages."""
    import importlib
    try:
        return importlib.import_module(module)
    except Exception as first:
        for m in [m for m in sys.modules if m == 'fla' or m.startswith('fla.')]:
            del sys.modules[m]
        root = None
        for p in sys.path:
            if os.path.isfile(os.path.join(p, 'fla', '__init__.py')):
                root = os.path.join(p, 'fla')
                break
        if root is None:
            raise
        parts = module.split('.')
        for i in range(1, len(parts)):
            name = '.'.join(parts[:i])
            if name in sys.modules:
                continue
            pkg = types.ModuleType(name)
            pkg.__path__ = [os.path.join(root, *parts[1:i])]
            sys.modules[name] = pkg
        try:
            return importlib.import_module(module)
        except Exception as second:
            raise ImportError(f'{module}: {first!r}; without fla/__init__: {second!r}') from second


def versions():
    out = {'python': sys.version.split()[0]}
    for m in ['torch', 'transformers', 'triton', 'safetensors', 'numpy']:
        try:
            out[m] = __import__(m).__version__
        except Exception as e:
            out[m] = 'unavailable: ' + repr(e)[:100]
    try:
        import torch
        out['device'] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu'
        out['tf32'] = {'cuda.matmul.allow_tf32': torch.backends.cuda.matmul.allow_tf32,
                       'cudnn.allow_tf32': torch.backends.cudnn.allow_tf32,
                       'float32_matmul_precision': torch.get_float32_matmul_precision()}
    except Exception:
        pass
    out['TRITON_F32_DEFAULT'] = os.environ.get('TRITON_F32_DEFAULT')
    out['triton_autotune'] = 'on' if os.environ.get('GOLDEN_TRITON_AUTOTUNE') == '1' else 'each kernel pinned to its first config'
    return out


def peer_commit(sub):
    """The commit of a staged peer: .peer/<sub>/COMMIT when the stager wrote one, else 'unknown'."""
    p = os.path.join(PEER, sub, 'COMMIT')
    try:
        with open(p) as f:
            return f.read().strip()
    except OSError:
        return 'unknown (no ' + p + ')'


def make_ids(seed, vocab=VOCAB, batch=BATCH, seq=SEQ):
    import torch
    g = torch.Generator().manual_seed(seed)
    return torch.randint(FIRST_ID, vocab, (batch, seq), generator=g, dtype=torch.long)


def perturb(model, seed, names=(), scale=0.3):
    """Every 1-D parameter (norm gains, biases, gates' vectors) and the named others get N(0, scale²) noise, so none is
    trivially 1 or 0. Returns the perturbed names."""
    import torch
    g = torch.Generator().manual_seed(seed)
    done = []
    with torch.no_grad():
        for n, p in model.named_parameters():
            if p.ndim == 1 or n in names or any(n.endswith(s) for s in names):
                p.add_(torch.randn(tuple(p.shape), generator=g, dtype=torch.float64).to(p.dtype).to(p.device) * scale)
                done.append(n)
    return done


def rel(a, b):
    a = a.double()
    b = b.double()
    return ((a - b).norm() / b.norm().clamp_min(1e-300)).item()


def save_tensors(path, tensors, meta=None):
    from safetensors.torch import save_file
    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, path, metadata=meta or {'format': 'pt'})


def check_saved(ckpt_dir, model, key_map=None):
    """The saved safetensors hold exactly the model's parameters (same values, bit for bit), by the saved names.
    Returns a dict for meta.json (names in the file that are not parameters, e.g. buffers, are listed)."""
    from safetensors.torch import load_file
    import glob
    saved = {}
    for f in sorted(glob.glob(os.path.join(ckpt_dir, '*.safetensors'))):
        saved.update(load_file(f))
    params = dict(model.named_parameters())
    key_map = key_map or {}
    extra = sorted(k for k in saved if key_map.get(k, k) not in params)
    missing = sorted(n for n in params if n not in {key_map.get(k, k) for k in saved})
    worst = 0.0
    for k, t in saved.items():
        n = key_map.get(k, k)
        if n in params:
            worst = max(worst, (t.double() - params[n].detach().double().cpu()).abs().max().item())
    return {'files': sorted(os.path.basename(f) for f in glob.glob(os.path.join(ckpt_dir, '*'))),
            'tensors_not_parameters': extra, 'parameters_not_saved': missing, 'max_abs_diff_saved_vs_model': worst}


def greedy_decode(adapter, ids, prompt, steps):
    import torch
    logits, cache = adapter.prefill(ids[:, :prompt])
    last = logits[:, -1]
    toks, outs, gaps = [], [], []
    for i in range(steps):
        top2 = torch.topk(last.double(), 2, dim=-1).values
        gaps.append((top2[:, 0] - top2[:, 1]).min().item())
        tok = last.argmax(-1)
        toks.append(tok)
        outs.append(last)
        if i + 1 < steps:
            logits, cache = adapter.step(tok[:, None], cache, prompt + i)
            last = logits[:, -1]
    return torch.stack(toks, 1), torch.stack(outs, 1), gaps


def run_fixture(name, adapter, out_root, meta):
    """Runs the adapter's model through every check and writes OUT/golden/<name>/."""
    import torch
    d = os.path.join(out_root, 'golden', name)
    os.makedirs(d, exist_ok=True)
    ckpt = os.path.join(d, 'checkpoint')
    t0 = time.time()
    adapter.save(ckpt)
    if hasattr(adapter, 'check_saved'):
        meta['saved'] = adapter.check_saved(ckpt)
    else:
        meta['saved'] = check_saved(ckpt, adapter.model)
    ids = make_ids(meta.get('seed', 0) + 1000).to(adapter.device)
    model = adapter.model
    with torch.no_grad():
        model.eval()
        prefill, _ = adapter.prefill(ids)
        tokens, step_logits, gaps = greedy_decode(adapter, ids, PROMPT, DECODE_STEPS)
        # the prompt's last-position logits of the prefill equal the full prefill's at that position
        meta['decode_prefill_vs_full_prefill'] = rel(step_logits[:, 0], prefill[:, PROMPT - 1])
        model.train()
        train = adapter.train_logits(ids)
        # the recurrent decode is the reference's own parallel form: its training path over the prompt and the
        # decoded tokens gives the same logits at the decoded positions
        parallel = adapter.train_logits(torch.cat([ids[:, :PROMPT], tokens[:, :-1]], 1))[:, PROMPT - 1:]
        model.eval()
        meta['decode_vs_parallel_form'] = rel(step_logits, parallel)
        if hasattr(adapter, 'reference_deviations'):
            # the reference code's known deviations from its parallel form, measured (docs/reference-parity.md)
            meta['reference_deviations'] = adapter.reference_deviations(ids, tokens, parallel)
        if hasattr(adapter, 'reload'):
            # the checkpoint as saved, loaded back by the reference code itself, gives the same logits
            try:
                meta['reloaded_vs_model_prefill'] = rel(adapter.reload(ckpt, ids), prefill)
            except Exception as e:
                meta['reload_error'] = repr(e)[:500]
    model.train()
    model.zero_grad(set_to_none=True)
    loss = adapter.loss(ids)
    loss.backward()
    grads = {}
    no_grad = []
    for n, p in model.named_parameters():
        if p.grad is None:
            no_grad.append(n)
            grads[n] = torch.zeros_like(p)
        else:
            grads[n] = p.grad.detach().float()
    model.eval()
    golden = {'input_ids': ids.long(), 'prefill_logits': prefill.float(), 'loss': loss.detach().float().reshape(1),
              'prompt_len': torch.tensor([PROMPT], dtype=torch.long), 'decode_tokens': tokens.long(), 'decode_logits': step_logits.float()}
    if not torch.equal(train.float(), prefill.float()):
        golden['train_logits'] = train.float()
    save_tensors(os.path.join(d, 'golden.safetensors'), golden)
    save_tensors(os.path.join(d, 'grads.safetensors'), grads)
    meta.update({
        'name': name, 'batch': BATCH, 'seq_len': SEQ, 'prompt_len': PROMPT, 'decode_steps': DECODE_STEPS,
        'vocab': int(prefill.shape[-1]), 'loss': loss.item(), 'parameters': sum(p.numel() for p in model.parameters()),
        'parameters_without_grad': no_grad, 'train_vs_prefill_logits': rel(train, prefill),
        'min_top2_gap_in_decoding': min(gaps), 'seconds': round(time.time() - t0, 2), 'versions': versions()})
    with open(os.path.join(d, 'meta.json'), 'w') as f:
        json.dump(meta, f, indent=2, sort_keys=True, default=str)
    return meta


def patch_config(ckpt_dir, fields, meta):
    """Adds fields that save_pretrained left out (it writes only values that differ from the config class's
    defaults on some versions) and that fulgur needs to know; records what it added in meta['config_added']."""
    p = os.path.join(ckpt_dir, 'config.json')
    with open(p) as f:
        c = json.load(f)
    added = {k: v for k, v in fields.items() if k not in c}
    if added:
        c.update(added)
        with open(p, 'w') as f:
            json.dump(c, f, indent=2, sort_keys=True)
        meta.setdefault('config_added', {}).update(added)


def main_guard(fn):
    """Runs one fixture; any failure is printed with its traceback and returned as a non-zero status."""
    try:
        fn()
        return 0
    except Exception:
        traceback.print_exc()
        return 1
