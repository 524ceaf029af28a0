"""Llama and MiniMax golden fixtures from transformers' own classes (LlamaForCausalLM, MiniMaxForCausalLM), fp32 on the
GPU with eager attention and TF32 off; and the MiniMax round trip: a fulgur-made checkpoint converted with
`fulgur convert --to reference` (committed under the test resources) loaded by MiniMaxForCausalLM.from_pretrained."""
import json
import os

import golden_common as gc


def _config(cls, base, variants):
    """cls(**base, **v) for the first variant this transformers version accepts (rope fields were renamed in 5.x)."""
    errors = []
    for v in variants:
        try:
            return cls(**base, **v)
        except Exception as e:  # a version that rejects the field names: try the next spelling
            errors.append(repr(e)[:300])
    raise ValueError(cls.__name__ + ' rejected every variant: ' + ' | '.join(errors))


def _eager(config):
    for attr in ('_attn_implementation', 'attn_implementation'):
        try:
            setattr(config, attr, 'eager')
            return
        except Exception:
            continue


class TfAdapter:
    """transformers' cache objects; decode steps pass cache_position and position_ids explicitly."""

    def __init__(self, model, device):
        from hf_adapter import HfAdapter
        self.inner = HfAdapter(model, device)
        self.model = model
        self.device = device

    def save(self, ckpt):
        self.model.save_pretrained(ckpt)

    def prefill(self, ids):
        return self.inner.prefill(ids)

    def step(self, tok, cache, pos):
        import torch
        p = torch.tensor([pos], device=tok.device)
        out = self.model(input_ids=tok, past_key_values=cache, use_cache=True, cache_position=p,
                         position_ids=p[None].expand(tok.shape[0], 1), return_dict=True)
        return out.logits.float(), out.past_key_values

    def train_logits(self, ids):
        return self.inner.train_logits(ids)

    def loss(self, ids):
        return self.inner.loss(ids)

    def reload(self, ckpt, ids):
        return self.inner.reload(ckpt, ids)


def run_llama(out):
    gc.setup_env()
    seed = 15
    device = gc.setup_torch(seed)
    import torch
    import transformers
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(seed)
    base = dict(vocab_size=gc.VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                hidden_act='silu', max_position_embeddings=64, rms_norm_eps=1e-6, attention_bias=True, mlp_bias=True,
                tie_word_embeddings=False, use_cache=True)
    rope = {'rope_type': 'llama3', 'factor': 4.0, 'low_freq_factor': 1.0, 'high_freq_factor': 4.0, 'original_max_position_embeddings': 16}
    cfg = _config(LlamaConfig, base, [{'rope_parameters': dict(rope, rope_theta=5000.0)},
                                      {'rope_theta': 5000.0, 'rope_scaling': rope}])
    _eager(cfg)
    model = LlamaForCausalLM(cfg).to(device).float()
    perturbed = gc.perturb(model, seed)
    meta = {'seed': seed, 'perturbed': perturbed,
            'reference': {'code': 'transformers', 'version': transformers.__version__, 'class': 'LlamaForCausalLM',
                          'attention': 'eager', 'features': 'GQA (4 heads, 2 KV heads), q/k/v/o and MLP biases, llama3 RoPE scaling'}}
    gc.run_fixture('llama', TfAdapter(model, device), out, meta)


MINIMAX_LAYER_TYPES = ['full_attention', 'linear_attention', 'linear_attention']


def run_minimax(out):
    gc.setup_env()
    seed = 16
    device = gc.setup_torch(seed)
    import torch
    import transformers
    from transformers import MiniMaxConfig, MiniMaxForCausalLM
    torch.manual_seed(seed)
    # layer 0 softmax (transformers' MiniMaxCache reads the sequence length from layer 0's KV cache), two lightning
    # layers; block_size 16 so the 24-token prefill spans two blocks; DeepNorm factors away from 1; 4 experts top-2
    base = dict(vocab_size=gc.VOCAB, hidden_size=32, intermediate_size=48, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
                head_dim=8, hidden_act='silu', max_position_embeddings=64, rms_norm_eps=1e-5, tie_word_embeddings=False,
                num_experts_per_tok=2, num_local_experts=4, router_aux_loss_coef=0.01, router_jitter_noise=0.0, output_router_logits=False,
                layer_types=MINIMAX_LAYER_TYPES, block_size=16, full_attn_alpha_factor=1.3, full_attn_beta_factor=0.8,
                linear_attn_alpha_factor=1.2, linear_attn_beta_factor=0.9, mlp_alpha_factor=1.1, mlp_beta_factor=0.7, use_cache=True)
    cfg = _config(MiniMaxConfig, base, [{'rope_parameters': {'rope_type': 'default', 'rope_theta': 10000.0}}, {'rope_theta': 10000.0}])
    _eager(cfg)
    model = MiniMaxForCausalLM(cfg).to(device).float()
    perturbed = gc.perturb(model, seed)
    adapter = TfAdapter(model, device)
    adapter.check_saved = lambda ckpt: minimax_saved(ckpt, model)
    meta = {'seed': seed, 'perturbed': perturbed,
            'reference': {'code': 'transformers', 'version': transformers.__version__, 'class': 'MiniMaxForCausalLM',
                          'attention': 'eager', 'layer_types': MINIMAX_LAYER_TYPES,
                          'features': 'hybrid lightning/softmax layers, GQA, MoE 4 experts top-2, DeepNorm alpha/beta, 2 lightning blocks',
                          'loss': 'cross-entropy only (output_router_logits false: transformers adds no load-balancing loss)'}}
    gc.run_fixture('minimax', adapter, out, meta)


def minimax_saved(ckpt, model):
    """The saved file against the model: names of the checkpoint are the per-expert ones (block_sparse_moe.experts.N.w1),
    the model's may be fused (mlp.experts.gate_up_proj); compare through that mapping where it applies."""
    import glob
    import torch
    from safetensors.torch import load_file
    saved = {}
    for f in sorted(glob.glob(os.path.join(ckpt, '*.safetensors'))):
        saved.update(load_file(f))
    params = {n: p.detach().cpu() for n, p in model.named_parameters()}
    buffers = {n: b.detach().cpu() for n, b in model.named_buffers()}
    worst, unmatched = 0.0, []
    for k, t in saved.items():
        if k in params:
            ref = params[k]
        elif k in buffers:
            ref = buffers[k]
        else:
            ref = _fused_slice(k, params)
        if ref is None:
            unmatched.append(k)
        else:
            worst = max(worst, (t.double() - ref.double()).abs().max().item())
    return {'files': sorted(os.path.basename(f) for f in glob.glob(os.path.join(ckpt, '*'))), 'saved_names_sample': sorted(saved)[:40],
            'saved_count': len(saved), 'unmatched': unmatched, 'max_abs_diff_saved_vs_model': worst}


def _fused_slice(k, params):
    import re
    m = re.match(r'(model\.layers\.\d+)\.block_sparse_moe\.(gate\.weight|experts\.(\d+)\.(w1|w2|w3)\.weight)$', k)
    if not m:
        return None
    layer = m.group(1)
    if m.group(2) == 'gate.weight':
        return params.get(layer + '.mlp.gate.weight')
    e, w = int(m.group(3)), m.group(4)
    gu, down = params.get(layer + '.mlp.experts.gate_up_proj'), params.get(layer + '.mlp.experts.down_proj')
    if w == 'w2':
        return None if down is None else down[e]
    if gu is None:
        return None
    inter = gu.shape[1] // 2
    return gu[e, :inter] if w == 'w1' else gu[e, inter:]


def run_minimax_roundtrip(out):
    """Loads the fulgur-converted checkpoint committed under the test resources and records what transformers says."""
    gc.setup_env()
    device = gc.setup_torch(0)
    import torch
    import transformers
    from safetensors.torch import load_file
    from transformers import MiniMaxForCausalLM
    from hf_adapter import from_pretrained
    src = os.path.join(gc.ROUNDTRIP_SRC, 'minimax')
    dst = os.path.join(out, 'golden', 'roundtrip', 'minimax')
    os.makedirs(dst, exist_ok=True)
    result = {'reference': {'code': 'transformers', 'version': transformers.__version__, 'class': 'MiniMaxForCausalLM'}}
    model, info = from_pretrained(MiniMaxForCausalLM, os.path.join(src, 'checkpoint'), output_loading_info=True)
    result['loading_info'] = {k: sorted(map(str, v)) for k, v in info.items() if isinstance(v, (list, set, tuple))}
    _eager(model.config)
    model = model.to(device).float().eval()
    inputs = load_file(os.path.join(src, 'fulgur.safetensors'))
    ids = inputs['input_ids'].long().to(device)
    with torch.no_grad():
        logits = model(input_ids=ids, use_cache=False, return_dict=True).logits.float()
    result['rel_l2_vs_fulgur'] = gc.rel(logits.cpu(), inputs['logits'])
    result['versions'] = gc.versions()
    gc.save_tensors(os.path.join(dst, 'reference.safetensors'), {'logits': logits})
    with open(os.path.join(dst, 'result.json'), 'w') as f:
        json.dump(result, f, indent=2, sort_keys=True, default=str)
