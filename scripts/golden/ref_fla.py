"""HGRN2 and LightNet golden fixtures from flash-linear-attention's own model classes (HGRN2ForCausalLM,
LightNetForCausalLM), fp32 on the GPU. With at most 64 tokens per call both layers take fla's fused_recurrent_gla
path (elementwise Triton kernels, no dot products), so nothing runs in TF32; cuBLAS TF32 is off for the projections."""
import golden_common as gc


def _model(kind, device, seed):
    import torch
    torch.manual_seed(seed)
    if kind == 'hgrn2':
        mod = gc.import_fla('fla.models.hgrn2')
        # 3 layers so the lower bounds of layers 1 and 2 differ; 2 heads of expand ratio 16; norm_eps 1e-6 (fla's
        # default) while the layer's fused output norm runs with its own default 1e-5
        cfg = mod.HGRN2Config(vocab_size=gc.VOCAB, hidden_size=32, num_hidden_layers=3, attn_mode='chunk', expand_ratio=16,
                              use_lower_bound=True, intermediate_size=64, hidden_act='swish', norm_eps=1e-6,
                              fuse_norm=True, fuse_swiglu=True, fuse_cross_entropy=False, fuse_linear_cross_entropy=False,
                              use_l2warp=False, tie_word_embeddings=False, use_cache=True)
        return mod.HGRN2ForCausalLM(cfg).to(device).float(), ['model.lower_bounds']
    mod = gc.import_fla('fla.models.lightnet')
    # 2 heads with key head dim 8 (expand_ratio) and value head dim 16; norm_eps 1e-5 while the fused gate norm of
    # the layer keeps its default 1e-6
    cfg = mod.LightNetConfig(vocab_size=gc.VOCAB, hidden_size=32, num_hidden_layers=2, attn_mode='chunk', num_heads=2, expand_ratio=8,
                             gate_low_rank_dim=8, intermediate_size=64, hidden_act='swish', norm_eps=1e-5,
                             fuse_norm=True, fuse_swiglu=True, fuse_cross_entropy=False, fuse_linear_cross_entropy=False,
                             use_l2warp=False, tie_word_embeddings=False, use_cache=True)
    return mod.LightNetForCausalLM(cfg).to(device).float(), []


def run(kind, out):
    gc.setup_env()
    seed = {'hgrn2': 11, 'lightnet': 12}[kind]
    device = gc.setup_torch(seed)
    gc.transformers_compat()
    from hf_adapter import HfAdapter
    model, extra = _model(kind, device, seed)
    perturbed = gc.perturb(model, seed, names=extra)
    meta = {'seed': seed, 'perturbed': perturbed, 'tied_weights_keys_as_dict': gc.tied_keys_as_dict(model),
            'reference': {'code': 'fla-org/flash-linear-attention', 'commit': gc.peer_commit('flash-linear-attention'),
                          'class': 'HGRN2ForCausalLM' if kind == 'hgrn2' else 'LightNetForCausalLM',
                          'kernels': 'fused_recurrent_gla (sequences of at most 64 tokens), fp32'}}
    gc.run_fixture(kind, HfAdapter(model, device, {'output_attentions': False, 'output_hidden_states': False}), out, meta)
