"""Golden fixtures for the two architectures that have no runnable public reference, from independent PyTorch code
written from the equations (not from fulgur's code), stated as such in each fixture's meta.json:

* linear-llama: transformers' LlamaForCausalLM (embeddings, RMSNorms, SwiGLU MLP, head, checkpoint names) with each
  layer's self-attention module replaced by causal linear attention as fulgur defines Linear-Llama: q = SiLU(q_proj x),
  k = SiLU(k_proj x), v = v_proj x, key/value heads repeated to the query heads, o_t = sum_{s<=t} lambda_h^(t-s)
  (q_t . k_s) v_s with TransNormerLLM's per-layer decay lambda_h = exp(-slope_h (1 - l/(L-1) + 1e-5)), slope_h the
  ALiBi slopes 2^(-8h/H), then RMS normalisation over all heads without a gain (eps 1e-6) and o_proj. LASP-2's
  Linear-Llama3 code (OpenSparseLLMs/Linear-MoE) is a different model (no decay schedule, other feature maps), so it
  is not the reference. Training/prefill use the masked quadratic form, decoding the recurrence.
* lcsm: the Expand-Oscillation-Shrink recurrence m_t = o_t (.) m_{t-1} + e_t i_t^T, y_t = m_t^T s_t with the official
  EosLayer's parameterisation (Doraemonzzz/Lcsm lcsm_pytorch/modules/eos_layer.py: c_type 0 SSM form, c_type 1
  data-dependent e/o/s with sigma(.)^(1/tau) gates), inside a pre-norm LM (RMSNorm, EOS, GLU). The official layer
  cannot run as published (its prepare() returns an undefined name), and the repository has no language model, so
  this is written from the equations; computed in float64 from the float32 parameters.
"""
import json
import math
import os

import golden_common as gc


def alibi_slopes(n):
    def pw2(m):
        return [2 ** (-8 * (i + 1) / m) for i in range(m)]
    p = 1 << (n.bit_length() - 1)
    return pw2(n) if p == n else pw2(p) + pw2(2 * p)[0::2][: n - p]


def tnl_slopes(heads, layer, layers):
    factor = 1 + 1e-5 if layers == 1 else 1 - layer / (layers - 1) + 1e-5
    return [s * factor for s in alibi_slopes(heads)]


def _linear_attention_module():
    import torch
    import torch.nn.functional as F

    class LinearAttention(torch.nn.Module):
        """Causal linear attention with per-head exponential decay; holds its decoding state when stateful."""

        def __init__(self, orig, heads, kv_heads, head_dim, slopes):
            super().__init__()
            self.q_proj, self.k_proj, self.v_proj, self.o_proj = orig.q_proj, orig.k_proj, orig.v_proj, orig.o_proj
            self.h, self.kvh, self.hd = heads, kv_heads, head_dim
            self.slopes = [float(s) for s in slopes]
            self.stateful = False
            self.state = None

        def forward(self, hidden_states, *args, **kwargs):
            x = hidden_states
            b, t, _ = x.shape
            g = self.h // self.kvh
            q = F.silu(self.q_proj(x)).view(b, t, self.h, self.hd).double()
            k = F.silu(self.k_proj(x)).view(b, t, self.kvh, self.hd).repeat_interleave(g, dim=2).double()
            v = self.v_proj(x).view(b, t, self.kvh, self.hd).repeat_interleave(g, dim=2).double()
            slope = torch.tensor(self.slopes, dtype=torch.float64, device=x.device)
            if self.stateful and self.state is not None:
                lam = torch.exp(-slope)[None, :, None, None]
                outs = []
                for i in range(t):
                    self.state = lam * self.state + k[:, i, :, :, None] * v[:, i, :, None, :]
                    outs.append(torch.einsum('bhd,bhde->bhe', q[:, i], self.state))
                o = torch.stack(outs, 1)
            else:
                pos = torch.arange(t, device=x.device, dtype=torch.float64)
                diff = pos[:, None] - pos[None, :]
                decay = torch.where(diff >= 0, torch.exp(-slope[:, None, None] * diff.clamp_min(0)), torch.zeros((), dtype=torch.float64,
                                                                                                                  device=x.device))
                scores = torch.einsum('bthd,bshd->bhts', q, k) * decay
                o = torch.einsum('bhts,bshd->bthd', scores, v)
                if self.stateful:
                    w = torch.exp(-slope[None, :] * (t - 1 - pos)[:, None])  # [t, h]
                    self.state = torch.einsum('bshd,bshe->bhde', k * w[None, :, :, None], v)
            o = o.reshape(b, t, self.h * self.hd)
            o = o * torch.rsqrt(o.pow(2).mean(-1, keepdim=True) + 1e-6)
            return self.o_proj(o.to(x.dtype)), None

    return LinearAttention


class LinearLlamaAdapter:
    def __init__(self, model, device, config):
        self.model = model
        self.device = device
        self.config = config
        self.mixers = [layer.self_attn for layer in model.model.layers]

    def _mode(self, stateful, reset):
        for m in self.mixers:
            m.stateful = stateful
            if reset:
                m.state = None

    def save(self, ckpt):
        self.model.save_pretrained(ckpt)
        p = os.path.join(ckpt, 'config.json')
        with open(p) as f:
            c = json.load(f)
        c.update(self.config)
        with open(p, 'w') as f:
            json.dump(c, f, indent=2, sort_keys=True)

    def _logits(self, ids, **kw):
        return self.model(input_ids=ids, use_cache=False, return_dict=True, **kw)

    def prefill(self, ids):
        self._mode(True, True)
        return self._logits(ids).logits.float(), None

    def step(self, tok, cache, pos):
        self._mode(True, False)
        return self._logits(tok).logits.float(), None

    def train_logits(self, ids):
        self._mode(False, True)
        return self._logits(ids).logits.float()

    def loss(self, ids):
        self._mode(False, True)
        return self._logits(ids, labels=ids).loss


def run_linear_llama(out):
    gc.setup_env()
    seed = 17
    device = gc.setup_torch(seed)
    import torch
    import transformers
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(seed)
    heads, kv, layers = 4, 2, 2
    cfg = LlamaConfig(vocab_size=gc.VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=layers, num_attention_heads=heads,
                      num_key_value_heads=kv, hidden_act='silu', max_position_embeddings=64, rms_norm_eps=1e-6, attention_bias=True,
                      mlp_bias=False, tie_word_embeddings=False, use_cache=False)
    model = LlamaForCausalLM(cfg)
    LinearAttention = _linear_attention_module()
    for i, layer in enumerate(model.model.layers):
        layer.self_attn = LinearAttention(layer.self_attn, heads, kv, 32 // heads, tnl_slopes(heads, i, layers))
    model = model.to(device).float()
    perturbed = gc.perturb(model, seed)
    meta = {'seed': seed, 'perturbed': perturbed,
            'reference': {'code': 'independent PyTorch (scripts/golden/ref_independent.py) on transformers '
                                  + transformers.__version__ + ' LlamaForCausalLM', 'class': 'LlamaForCausalLM with linear attention',
                          'attention': 'float64 masked quadratic form (training, prefill) and recurrence (decoding)'}}
    adapter = LinearLlamaAdapter(model, device, {'model_type': 'linear_llama', 'linear_attention_type': 'lightning',
                                                 'architectures': ['LinearLlamaForCausalLM']})
    gc.run_fixture('linear-llama', adapter, out, meta)


# ---------------------------------------------------------------------------------------------------------------- LCSM

LCSM_CONFIGS = {
    # data-dependent expand, oscillation (outer sum of two sigma^(1/tau) gates) and shrink, SiLU on e and s, biases
    'lcsm': dict(c_type=1, e_type=1, o_type=1, o_learned=True, s_type=1, t_type=4),
    # the SSM parameterisation: softplus delta through d -> ssm_dim -> d, A = -exp(log(1..k)), o = exp(delta A)
    'lcsm-ssm': dict(c_type=0, e_type=0, o_type=0, o_learned=True, s_type=0, t_type=0),
}


def _lcsm_model(c, device, seed):
    import torch
    import torch.nn.functional as F
    g = torch.Generator().manual_seed(seed)
    d, k, mid, layers, vocab, ssm = c['embed_dim'], c['expand_dim'], c['mid_dim'], c['num_layers'], c['vocab_size'], c['ssm_dim']
    params = {}

    def normal(name, *shape, std=0.02):
        params[name] = torch.randn(shape, generator=g) * std

    def linear(name, i, o, bias):
        normal(name + '.weight', o, i)
        if bias:
            params[name + '.bias'] = torch.zeros(o)

    normal('model.embed_tokens.weight', vocab, d)
    for l in range(layers):
        p = f'model.layers.{l}.'
        params[p + 'token_norm.weight'] = torch.ones(d)
        m = p + 'token_mixer.'
        linear(m + 'i_proj', d, d, c['bias'])
        if c['c_type'] == 0:
            linear(m + 'inter_proj.0', d, ssm, c['bias'])
            linear(m + 'inter_proj.1', ssm, d, c['bias'])
            params[m + 'o'] = torch.log(torch.arange(1, k + 1, dtype=torch.float32))[:, None].expand(k, d).contiguous()
            linear(m + 'e_proj', d, k, c['bias'])
            linear(m + 's_proj', d, k, c['bias'])
        else:
            linear(m + 'e_proj', d, k, c['bias'])
            linear(m + 'o1_proj', d, d, c['bias'])
            linear(m + 'o2_proj', d, k, c['bias'])
            linear(m + 's_proj', d, k, c['bias'])
        params[m + 'norm.weight'] = torch.ones(d)
        params[m + 'norm.bias'] = torch.zeros(d)
        linear(m + 'output_proj', d, d, c['bias'])
        params[p + 'channel_norm.weight'] = torch.ones(d)
        linear(p + 'channel_mixer.w1', d, mid, c['bias'])
        linear(p + 'channel_mixer.w2', d, mid, c['bias'])
        linear(p + 'channel_mixer.w3', mid, d, c['bias'])
    params['model.final_norm.weight'] = torch.ones(d)
    normal('lm_head.weight', vocab, d)

    class Lcsm(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.p = torch.nn.ParameterDict()
            self.names = list(params)
            for n, t in params.items():
                self.p[n.replace('.', '__')] = torch.nn.Parameter(t.clone())

        def named_parameters(self, *a, **kw):
            for n in self.names:
                yield n, self.p[n.replace('.', '__')]

        def w(self, n):
            return self.p[n.replace('.', '__')].double()

        def lin(self, n, x):
            b = self.p[(n + '.bias').replace('.', '__')].double() if (n + '.bias').replace('.', '__') in self.p else None
            return F.linear(x, self.w(n + '.weight'), b)

        def rms(self, n, x):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + c['norm_eps']) * self.w(n)

        def act(self, x):
            t = c['t_type']
            return {0: lambda z: z, 1: F.relu, 2: torch.sigmoid, 3: lambda z: 1 + F.elu(z), 4: F.silu, 5: F.elu,
                    6: lambda z: F.relu(z) ** 2, 7: lambda z: z * z}[t](x)

        def eos(self, m, x, state):
            i = self.lin(m + 'i_proj', x)
            tau = c['tau']
            if c['c_type'] == 0:
                delta = F.softplus(self.lin(m + 'inter_proj.1', self.lin(m + 'inter_proj.0', x)))
                i = delta * i
                log_o = delta[:, :, None, :] * (-torch.exp(self.w(m + 'o')))
                e = self.lin(m + 'e_proj', x)[..., None]
                s = self.lin(m + 's_proj', x)[..., None]
            else:
                e = self.act(self.lin(m + 'e_proj', x)[..., None])
                s = self.act(self.lin(m + 's_proj', x)[..., None])
                log_o = (F.logsigmoid(self.lin(m + 'o1_proj', x)) / tau)[:, :, None, :] + (F.logsigmoid(self.lin(m + 'o2_proj', x)) / tau)[..., None]
            b, t, dd = x.shape
            mem = state if state is not None else torch.zeros(b, k, dd, dtype=torch.float64, device=x.device)
            ys = []
            for j in range(t):
                mem = torch.exp(log_o[:, j]) * mem + e[:, j] * i[:, j, None, :]
                ys.append((mem * s[:, j]).sum(1))
            y = torch.stack(ys, 1)
            y = F.layer_norm(y, (dd,), self.w(m + 'norm.weight'), self.w(m + 'norm.bias'), 1e-5)
            return self.lin(m + 'output_proj', y), mem

        def forward(self, ids, states=None):
            x = F.embedding(ids, self.w('model.embed_tokens.weight'))
            new = []
            for l in range(layers):
                p = f'model.layers.{l}.'
                y, mem = self.eos(p + 'token_mixer.', self.rms(p + 'token_norm.weight', x), None if states is None else states[l])
                new.append(mem)
                h = x + y
                z = self.rms(p + 'channel_norm.weight', h)
                x = h + self.lin(p + 'channel_mixer.w3', F.silu(self.lin(p + 'channel_mixer.w1', z)) * self.lin(p + 'channel_mixer.w2', z))
            x = self.rms('model.final_norm.weight', x)
            return F.linear(x, self.w('lm_head.weight')), new

    return Lcsm().to(device)


class LcsmAdapter:
    def __init__(self, model, device, config):
        self.model = model
        self.device = device
        self.config = config

    def save(self, ckpt):
        os.makedirs(ckpt, exist_ok=True)
        gc.save_tensors(os.path.join(ckpt, 'model.safetensors'), {n: p for n, p in self.model.named_parameters()})
        with open(os.path.join(ckpt, 'config.json'), 'w') as f:
            json.dump(self.config, f, indent=2, sort_keys=True)

    def prefill(self, ids):
        logits, states = self.model(ids)
        return logits.float(), states

    def step(self, tok, cache, pos):
        logits, states = self.model(tok, cache)
        return logits.float(), states

    def train_logits(self, ids):
        return self.model(ids)[0].float()

    def loss(self, ids):
        import torch.nn.functional as F
        logits = self.model(ids)[0]
        v = logits.shape[-1]
        return F.cross_entropy(logits[:, :-1].reshape(-1, v), ids[:, 1:].reshape(-1)).float()


def run_lcsm(name, out):
    gc.setup_env()
    seed = {'lcsm': 18, 'lcsm-ssm': 19}[name]
    device = gc.setup_torch(seed)
    import torch
    config = dict(model_type='lcsm', vocab_size=gc.VOCAB, embed_dim=32, num_layers=2, mid_dim=64, expand_dim=8, bias=True, ssm_dim=16,
                  tau=16.0, use_tau=True, norm_eps=1e-6, init_std=0.02, tie_word_embeddings=False, **LCSM_CONFIGS[name])
    model = _lcsm_model(config, device, seed)
    perturbed = gc.perturb(model, seed, names=('token_mixer.o',))
    meta = {'seed': seed, 'perturbed': perturbed, 'lcsm': LCSM_CONFIGS[name],
            'reference': {'code': 'independent PyTorch (scripts/golden/ref_independent.py): the EOS equations with the official EosLayer '
                                  'parameterisation (Doraemonzzz/Lcsm ' + gc.peer_commit('Lcsm') + '), float64',
                          'class': 'none (no runnable public LCSM language model)'}}
    gc.run_fixture(name, LcsmAdapter(model, device, config), out, meta)
