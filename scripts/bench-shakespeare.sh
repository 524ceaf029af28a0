#!/usr/bin/env bash
# The CPU training benchmark of docs/benchmarks.md: a character-level TransNormerLLM of about 0.9M parameters on
# tinyshakespeare (the 1.1 MB corpus, input.txt of karpathy/char-rnn) for at most 10 minutes, then generation speed.
# Usage: scripts/bench-shakespeare.sh TINYSHAKESPEARE_TXT [OUT]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
data="${1:?usage: scripts/bench-shakespeare.sh TINYSHAKESPEARE_TXT [OUT]}"
out="${2:-$root/runs/shakespeare}"
[ -f "$data" ] || { echo "bench-shakespeare: $data not found" >&2; exit 1; }
"$root/fulgur" train --data "$data" --dim 128 --layers 4 --heads 4 --seq-len 128 --batch-size 16 \
  --lr 2e-3 --warmup 100 --steps 2500 --eval-every 250 --eval-batches 16 --time-limit 10 --out "$out"
"$root/fulgur" generate --model-dir "$out" --prompt "ROMEO:" --max-tokens 1000 --temperature 0.8 --seed 1
