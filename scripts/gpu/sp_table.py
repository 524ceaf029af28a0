#!/usr/bin/env python3
"""Tables for the multi-GPU runs of scripts/gpu/run-multi.sh, read from each run's metrics.jsonl.

  sp_table.py scaling OUT      # runs OUT/scale-<gpus>-<tokens per GPU>-<algo>: tokens/s per GPU, peak memory per GPU
  sp_table.py same OUT A B...  # train losses of runs OUT/A, OUT/B, ... against the first: worst relative difference

Steady-state throughput is the tokens of one step over the median wall time of the steps after the first two.
"""
import json
import os
import re
import statistics
import sys


def train_events(run_dir):
    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [e for e in (json.loads(line) for line in f if line.strip()) if e.get("split") == "train"]


def scaling(out):
    rows = []
    for name in sorted(os.listdir(out)):
        m = re.fullmatch(r"scale-(\d+)-(\d+)-(\w+)", name)
        if not m:
            continue
        gpus, per_gpu, algo = int(m.group(1)), int(m.group(2)), m.group(3)
        ev = train_events(os.path.join(out, name))
        steady = [e["step_s"] for e in ev[2:] if "step_s" in e]
        if not steady:
            rows.append((gpus, per_gpu, algo, None, None, len(ev)))
            continue
        tokens_per_step = ev[-1]["tokens"] / ev[-1]["step"]
        rows.append((gpus, per_gpu, algo, tokens_per_step / statistics.median(steady) / gpus, ev[-1].get("peak_memory_gib"), len(ev)))
    print("| GPUs | tokens per GPU | total length | algorithm | tokens/s per GPU | peak memory per GPU | steps |")
    print("|---:|---:|---:|---|---:|---:|---:|")
    for gpus, per_gpu, algo, tps, mem, steps in sorted(rows):
        tps_s = f"{tps:,.0f}" if tps else "did not finish"
        mem_s = f"{mem:.1f} GiB" if mem else "—"
        print(f"| {gpus} | {per_gpu:,} | {gpus * per_gpu:,} | {algo} | {tps_s} | {mem_s} | {steps} |")


def same(out, names):
    ref = [e["loss"] for e in train_events(os.path.join(out, names[0]))]
    for n in names[1:]:
        losses = [e["loss"] for e in train_events(os.path.join(out, n))]
        if len(losses) != len(ref) or not ref:
            print(f"{n}: {len(losses)} steps against {len(ref)} for {names[0]}: NOT COMPARABLE")
            continue
        worst = max(abs(a - b) / abs(b) for a, b in zip(losses, ref))
        print(f"{n} vs {names[0]}: {len(ref)} steps, worst relative loss difference {worst:.1e}, final {losses[-1]:.4f} vs {ref[-1]:.4f}"
              + ("" if worst < 1e-5 else "  <-- DIFFERS"))


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "scaling":
        scaling(sys.argv[2])
    elif len(sys.argv) >= 5 and sys.argv[1] == "same":
        same(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(__doc__)
