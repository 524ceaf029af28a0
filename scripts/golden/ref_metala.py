"""MetaLA golden fixture from the official code (BICLab/MetaLA metala/modeling_metala.py), fp32 on the GPU.

The official code was written against a 2024 flash-linear-attention and the causal-conv1d CUDA package; two
stand-ins make it run here, both computing exactly what the replaced function computes:
  * causal_conv1d_fn / causal_conv1d_update: depthwise causal convolution in PyTorch (conv1d over the input padded by
    kernel-1 on the left; the update shifts the state in place and takes one dot product per channel), as the
    package's own reference implementations do;
  * fla's GLA: the official code calls fused_chunk_gla / fused_recurrent_gla with the head-first [B, H, T, K] layout
    and no scale, which in that fla meant 1/sqrt(K). Current fla takes [B, T, H, K] and has removed fused_chunk_gla,
    so both names are bound to current fla's fused_recurrent_gla (the same function; elementwise fp32 kernels, no
    dot products) behind a transpose, with the scale 1/sqrt(K) passed explicitly.
"""
import os
import sys
import types

import golden_common as gc


def install_causal_conv1d():
    import torch
    import torch.nn.functional as F

    def causal_conv1d_fn(x, weight, bias=None, seq_idx=None, initial_states=None, return_final_states=False,
                         final_states_out=None, activation=None):
        w = weight.shape[-1]
        out = F.conv1d(F.pad(x, (w - 1, 0)), weight.unsqueeze(1), bias, groups=x.shape[1])
        return F.silu(out) if activation in ('silu', 'swish') else out

    def causal_conv1d_update(x, conv_state, weight, bias=None, activation=None, cache_seqlens=None, conv_state_indices=None):
        conv_state.copy_(torch.roll(conv_state, shifts=-1, dims=-1))
        conv_state[:, :, -1] = x
        out = (conv_state * weight).sum(-1)
        if bias is not None:
            out = out + bias
        return F.silu(out) if activation in ('silu', 'swish') else out

    m = types.ModuleType('causal_conv1d')
    m.causal_conv1d_fn = causal_conv1d_fn
    m.causal_conv1d_update = causal_conv1d_update
    sys.modules['causal_conv1d'] = m


def head_first_gla(fused_recurrent_gla):
    def call(q, k, v, gk=None, scale=-1, initial_state=None, output_final_state=False, **kwargs):
        if scale is None or scale == -1:
            scale = q.shape[-1] ** -0.5
        t = lambda x: x.transpose(1, 2).contiguous()
        o, ht = fused_recurrent_gla(t(q), t(k), t(v), gk=t(gk), scale=scale, initial_state=initial_state,
                                    output_final_state=output_final_state)
        return o.transpose(1, 2), ht
    return call


def import_metala():
    if not os.path.isfile(os.path.join(gc.PEER, 'MetaLA', 'metala', 'modeling_metala.py')):
        raise FileNotFoundError('official MetaLA code not found at ' + os.path.join(gc.PEER, 'MetaLA'))
    install_causal_conv1d()
    gla = gc.import_fla('fla.ops.gla')
    import metala
    mm = sys.modules['metala.modeling_metala']
    wrapped = head_first_gla(gla.fused_recurrent_gla)
    mm.fused_chunk_gla = wrapped
    mm.fused_recurrent_gla = wrapped
    return metala


class MetalaAdapter:
    """The official model's cache: per-layer GLA states (past_key_values) and conv tails (conv_caches)."""

    def __init__(self, model, device):
        self.model = model
        self.device = device

    def save(self, ckpt):
        self.model.save_pretrained(ckpt)

    def _call(self, ids, **kw):
        return self.model(input_ids=ids, return_dict=True, **kw)

    def prefill(self, ids):
        out = self._call(ids, use_cache=True)
        return out.logits.float(), (out.past_key_values, out.conv_caches)

    def step(self, tok, cache, pos):
        out = self._call(tok, use_cache=True, past_key_values=cache[0], conv_caches=cache[1])
        return out.logits.float(), (out.past_key_values, out.conv_caches)

    def train_logits(self, ids):
        return self._call(ids, use_cache=False).logits.float()

    def loss(self, ids):
        return self._call(ids, use_cache=False, labels=ids).loss


def run(out):
    gc.setup_env()
    seed = 14
    device = gc.setup_torch(seed)
    gc.transformers_compat()
    metala = import_metala()
    import torch
    torch.manual_seed(seed)
    cfg = metala.MetaLAConfig(vocab_size=gc.VOCAB, decoder_embed_dim=32, decoder_layers=2, decoder_attention_heads=2, glu_act='silu',
                              glu_dim=64, bias=True, norm_type='simplermsnorm', no_scale_embedding=False, init_std=0.02,
                              tie_word_embeddings=False, use_cache=True)
    model = metala.MetaLAForCausalLM(cfg).to(device).float()
    perturbed = gc.perturb(model, seed)
    meta = {'seed': seed, 'perturbed': perturbed,
            'reference': {'code': 'BICLab/MetaLA', 'commit': gc.peer_commit('MetaLA'), 'class': 'MetaLAForCausalLM',
                          'gla': 'fla fused_recurrent_gla at ' + gc.peer_commit('flash-linear-attention')
                                 + ' behind the head-first API the code was written for (scale 1/sqrt(K))',
                          'causal_conv1d': 'PyTorch stand-in (conv1d / in-place state shift)'}}
    gc.run_fixture('metala', MetalaAdapter(model, device), out, meta)
