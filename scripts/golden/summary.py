#!/usr/bin/env python3
"""Prints one line per fixture from OUT/golden/*/meta.json and OUT/golden/roundtrip/*/result.json."""
import glob
import json
import os
import sys

out = sys.argv[1]


def fmt(x):
    return f'{x:.2e}' if isinstance(x, float) else str(x)


rows = []
for m in sorted(glob.glob(os.path.join(out, 'golden', '*', 'meta.json'))):
    with open(m) as f:
        j = json.load(f)
    s = j.get('saved', {})
    rows.append(f"{j.get('name', '?'):13s} loss {fmt(j.get('loss'))}  train-vs-prefill {fmt(j.get('train_vs_prefill_logits'))}  "
                f"decode-prefill-vs-full {fmt(j.get('decode_prefill_vs_full_prefill'))}  decode-vs-parallel {fmt(j.get('decode_vs_parallel_form', '-'))}  saved-max-diff {fmt(s.get('max_abs_diff_saved_vs_model'))}  "
                f"reloaded {fmt(j.get('reloaded_vs_model_prefill', j.get('reload_error', '-')))}  min-top2-gap {fmt(j.get('min_top2_gap_in_decoding'))}  "
                f"params {j.get('parameters')}  {j.get('seconds')} s")
    for k in ('tensors_not_parameters', 'parameters_not_saved', 'unmatched'):
        if s.get(k):
            rows.append(f"{'':13s} {k}: {s[k]}")
    for k, v in sorted(j.get('reference_deviations', {}).items()):
        rows.append(f"{'':13s} reference deviation {k}: decode-vs-parallel {fmt(v.get('decode_vs_parallel_form'))}")
    if j.get('parameters_without_grad'):
        rows.append(f"{'':13s} parameters without a gradient: {j['parameters_without_grad']}")
for r in sorted(glob.glob(os.path.join(out, 'golden', 'roundtrip', '*', 'result.json'))):
    with open(r) as f:
        j = json.load(f)
    info = j.get('loading_info', {})
    rows.append(f"roundtrip-{os.path.basename(os.path.dirname(r)):8s} rel-L2 vs fulgur {fmt(j.get('rel_l2_vs_fulgur'))}  "
                + '  '.join(f'{k}: {len(v)} {v[:6]}' for k, v in sorted(info.items())))
print('\n'.join(rows) if rows else 'no fixture was written')
