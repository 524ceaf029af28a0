"""TransNormerLLM golden fixture from the official Hugging Face code (OpenNLPLab's modeling_transnormer.py, as copied
in weigao266/TNL-MoE smoe/models/tnl/), fp32 on the GPU. use_triton=False (set before import) selects the code's
pure-PyTorch paths: the training forward is its masked quadratic linear attention, the inference forward its blocked
prefill and recurrent decode, SRMSNorm the torch module; cuBLAS TF32 is off."""
import importlib.util
import os
import sys

import golden_common as gc

TNL_DIR = ('TNL-MoE', 'smoe', 'models', 'tnl')


def import_tnl():
    """The official package alone (smoe/__init__ would pull in the rest of TNL-MoE)."""
    d = os.path.join(gc.PEER, *TNL_DIR)
    if not os.path.isfile(os.path.join(d, 'modeling_transnormer.py')):
        raise FileNotFoundError('official TransNormerLLM code not found at ' + d)
    name = 'tnl_official'
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, os.path.join(d, '__init__.py'), submodule_search_locations=[d])
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def config(tnl, **kw):
    base = dict(vocab_size=gc.VOCAB, decoder_embed_dim=32, decoder_layers=3, decoder_attention_heads=2, hidden_dim=32, glu_dim=64,
                linear_use_lrpe_list=[1, 0, 1], no_scale_embedding=False, norm_type='simplermsnorm', linear_act_fun='silu',
                bias=True, init_std=0.02, tie_word_embeddings=False, use_cache=True, pad_token_id=0, bos_token_id=1, eos_token_id=2)
    base.update(kw)
    return tnl.TransnormerConfig(**base)


class TnlAdapter:
    """The official model's own cache: a tuple of per-layer KV states; the LRPE position offsets live in the layers.

    The official inference path keeps each layer's position offset (NormLinearAttention.offset) across calls and
    applies LRPE in a prefill *before* resetting it to the prompt length: a prefill on a model that already ran one
    puts its keys at the previous sequence's positions. The prefill's own logits do not show it (LRPE depends on
    position differences only), the decode steps after it do (their queries sit at the right positions). Each
    prefill here therefore starts from offset 0, as on a fresh model; reference_deviations measures what the code
    gives without that."""

    def __init__(self, model, device):
        from hf_adapter import HfAdapter
        self.inner = HfAdapter(model, device, {'output_attentions': False, 'output_hidden_states': False})
        self.model = model
        self.device = device

    def save(self, ckpt):
        self.model.save_pretrained(ckpt)

    def _offsets(self):
        return [layer.token_mixer.offset for layer in self.model.model.layers]

    def _reset_offsets(self):
        for layer in self.model.model.layers:
            layer.token_mixer.offset = 0

    def prefill(self, ids):
        self._reset_offsets()
        return self.inner.prefill(ids)

    def reference_deviations(self, ids, tokens, parallel):
        """The official prefill and decode of the same prompt and tokens on the model as the previous decoding left
        it (offsets not reset), against the parallel form."""
        import torch
        stale = self._offsets()
        prompt = gc.PROMPT
        logits, cache = self.inner.prefill(ids[:, :prompt])
        outs = [logits[:, -1]]
        for i in range(tokens.shape[1] - 1):
            logits, cache = self.inner.step(tokens[:, i:i + 1], cache, prompt + i)
            outs.append(logits[:, -1])
        got = torch.stack(outs, 1)
        return {'lrpe_offset_kept_from_the_previous_sequence': {
            'what': 'official prefill + recurrent decode run after another sequence (NormLinearAttention.offset not reset): '
                    'the prompt keys get LRPE at positions offset..offset+prompt-1, the decoded queries at prompt, prompt+1, ...',
            'offsets_before': stale, 'decode_vs_parallel_form': gc.rel(got, parallel),
            'per_step_vs_parallel_form': [gc.rel(got[:, i], parallel[:, i]) for i in range(got.shape[1])]}}

    def step(self, tok, cache, pos):
        return self.inner.step(tok, cache, pos)

    def train_logits(self, ids):
        return self.inner.train_logits(ids)

    def loss(self, ids):
        return self.inner.loss(ids)

    def reload(self, ckpt, ids):
        import torch
        from hf_adapter import HfAdapter, from_pretrained
        m = rebuild_slopes(from_pretrained(type(self.model), ckpt)).to(self.device).eval()
        with torch.no_grad():
            return HfAdapter(m, self.device, self.inner.extra).prefill(ids)[0]


def rebuild_slopes(model):
    """The official model keeps its ALiBi slopes in a plain attribute, not a buffer; a loader that builds the model on
    the meta device leaves it there, so it is rebuilt the way the model's __init__ builds it."""
    inner = model.model
    if getattr(inner.slopes, 'is_meta', False):
        inner.slopes = inner._build_slope_tensor(model.config.decoder_attention_heads)
    return model


def run(out):
    gc.setup_env()
    seed = 13
    device = gc.setup_torch(seed)
    gc.transformers_compat()
    tnl = import_tnl()
    import torch
    torch.manual_seed(seed)
    model = tnl.TransnormerForCausalLM(config(tnl)).to(device).float()
    perturbed = gc.perturb(model, seed)
    mt = sys.modules['tnl_official.modeling_transnormer']
    meta = {'seed': seed, 'perturbed': perturbed,
            'reference': {'code': 'OpenNLPLab TransNormerLLM Hugging Face code (weigao266/TNL-MoE smoe/models/tnl)',
                          'commit': gc.peer_commit('TNL-MoE'), 'class': 'TransnormerForCausalLM',
                          'use_triton': os.environ.get('use_triton'), 'has_lightning_attention': getattr(mt, 'has_lightning_attention', None),
                          'paths': 'training: masked quadratic linear attention; inference: blocked prefill (BLOCK 256) and recurrent decode'}}
    gc.run_fixture('tnl', TnlAdapter(model, device), out, meta)


def run_roundtrip(out):
    """Loads the fulgur-converted checkpoint committed under the test resources with the official code and records
    what it says: missing/unexpected keys and the logits of the committed input ids."""
    import json
    gc.setup_env()
    device = gc.setup_torch(0)
    gc.transformers_compat()
    tnl = import_tnl()
    import torch
    from safetensors.torch import load_file
    from hf_adapter import from_pretrained
    src = os.path.join(gc.ROUNDTRIP_SRC, 'tnl')
    dst = os.path.join(out, 'golden', 'roundtrip', 'tnl')
    os.makedirs(dst, exist_ok=True)
    result = {'reference': {'code': 'OpenNLPLab TransNormerLLM Hugging Face code (weigao266/TNL-MoE smoe/models/tnl)',
                            'commit': gc.peer_commit('TNL-MoE'), 'class': 'TransnormerForCausalLM'}}
    ckpt = os.path.join(src, 'checkpoint')
    # the config as the official code reads it (AutoConfig with trust_remote_code would run this same class)
    cfg = tnl.TransnormerConfig.from_pretrained(ckpt)
    result['config_read'] = {k: getattr(cfg, k, None) for k in ['architectures', 'auto_map', 'linear_use_lrpe_list', 'bos_token_id',
                                                                'eos_token_id', 'pad_token_id', 'tie_word_embeddings', 'decoder_layers']}
    model, info = from_pretrained(tnl.TransnormerForCausalLM, ckpt, output_loading_info=True)
    result['loading_info'] = {k: sorted(map(str, v)) for k, v in info.items() if isinstance(v, (list, set, tuple))}
    model = rebuild_slopes(model).to(device).float().eval()
    inputs = load_file(os.path.join(src, 'fulgur.safetensors'))
    ids = inputs['input_ids'].long().to(device)
    with torch.no_grad():
        logits = model(input_ids=ids, use_cache=True, return_dict=True, output_attentions=False, output_hidden_states=False).logits.float()
        model.train()
        train = model(input_ids=ids, use_cache=False, return_dict=True, output_attentions=False, output_hidden_states=False).logits.float()
        model.eval()
    result['rel_l2_vs_fulgur'] = gc.rel(logits.cpu(), inputs['logits'])
    result['train_path_rel_l2_vs_fulgur'] = gc.rel(train.cpu(), inputs['logits'])
    result['versions'] = gc.versions()
    ref = {'logits': logits}
    if not torch.equal(train, logits):  # the training path's logits only where they are not the same bits
        ref['train_logits'] = train
    gc.save_tensors(os.path.join(dst, 'reference.safetensors'), ref)
    with open(os.path.join(dst, 'result.json'), 'w') as f:
        json.dump(result, f, indent=2, sort_keys=True, default=str)
