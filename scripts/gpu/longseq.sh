#!/usr/bin/env bash
# Long-sequence training on one GPU, in one run of under 5 minutes:
#  1. the GPU tests of chunked steps (fulgur.cuda.ChunkedStepGpuTest: every architecture against one pass, the bf16
#     trainer step in chunks against one pass, flat device memory);
#  2. fulgur.cuda.bench.LongSequenceBench: TNL-385M, bf16, one sequence per step at 16K, 64K, 256K, 1M and 4M tokens
#     walked in chunks of 16K: tokens/s, MFU, the ratio to the 16K row, peak device memory; a whole-sequence step at
#     64K for comparison. A row whose step would take more than MAX_ROW seconds, or would not end within the stage's
#     time, is skipped (estimated from the row before);
#  3. the peer in the same run: the same model in PyTorch on fla (tnl_torch.py with fla's fused linear cross-entropy,
#     each layer torch.compile-d) at the same lengths until it runs out of memory. Without PyTorch, CUDA or fla, a row
#     says so and the rest stands.
# Files staged by scripts/gpu/stage-backend.sh; fla's sources in $PEER_DIR (default .peer). Each stage is bounded by
# timeout (T_TESTS 50 s, T_FULGUR 140 s, T_TORCH 100 s). Logs: $OUT/tests.log, fulgur.log, torch.log; summary
# $OUT/longseq.md.
#   DIR=staged-dir OUT=out/longseq PEER_DIR=.peer bash DIR/longseq.sh
# Optional: STAGES ("tests bench torch"), LENGTHS, CHUNK (16384), WHOLE (65536), MAX_ROW (90), STEPS (2), WARMUP (1).
set -uo pipefail
DIR=${DIR:-$(cd "$(dirname "$0")" && pwd)}
OUT=${OUT:-out/longseq}
LENGTHS=${LENGTHS:-16384,65536,262144,1048576,4194304}
CHUNK=${CHUNK:-16384}
WHOLE=${WHOLE:-65536}
MAX_ROW=${MAX_ROW:-90}
STEPS=${STEPS:-2}
WARMUP=${WARMUP:-1}
STAGES=${STAGES:-tests bench torch}
T_TESTS=${T_TESTS:-50}
T_FULGUR=${T_FULGUR:-140}
T_TORCH=${T_TORCH:-100}
export PEER_DIR=${PEER_DIR:-.peer}
mkdir -p "$OUT"
start=$SECONDS
if [[ ! -x /tmp/jre/bin/java ]]; then tar xzf "$DIR/jre.tgz" -C /tmp; fi
export FULGUR_KERNEL_CACHE=${FULGUR_KERNEL_CACHE:-/tmp/fulgur-kernels}
mkdir -p "$FULGUR_KERNEL_CACHE"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | tee "$OUT/gpu.txt"
export CLASSPATH="$DIR/jars/*"
J="/tmp/jre/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xss8m -Xmx48g -XX:+UseParallelGC"
: > "$OUT/tests.log"; : > "$OUT/fulgur.log"; : > "$OUT/torch.log"
if [[ $STAGES == *tests* ]]; then
  echo "== tests"
  timeout "$T_TESTS" $J fulgur.cuda.GpuTestMain fulgur.cuda.ChunkedStepGpuTest 2>&1 | tee "$OUT/tests.log"
  [[ ${PIPESTATUS[0]} == 124 ]] && echo "tests timed out after $T_TESTS s" | tee -a "$OUT/tests.log"
fi
if [[ $STAGES == *bench* ]]; then
  echo "== fulgur (chunks of $CHUNK)"
  timeout "$T_FULGUR" $J fulgur.cuda.bench.LongSequenceBench --config 385m --precision bf16 --seq-chunk "$CHUNK" --lengths "$LENGTHS" \
    --whole "$WHOLE" --steps "$STEPS" --warmup "$WARMUP" --max-row-seconds "$MAX_ROW" --budget-seconds $((T_FULGUR - 20)) --out "$OUT" 2>&1 | tee "$OUT/fulgur.log"
  [[ ${PIPESTATUS[0]} == 124 ]] && echo "| fulgur | timed out after $T_FULGUR s |" | tee -a "$OUT/fulgur.log"
fi
if [[ $STAGES == *torch* ]]; then
  echo "== PyTorch + fla (fused linear cross-entropy, torch.compile)"
  if ! why=$(python3 -c 'import torch; print(torch.__version__ if torch.cuda.is_available() else "PyTorch without CUDA")' 2>&1) \
      || [[ $why == *without* ]]; then
    echo "| tnl-385m (torch+fla) | not run: ${why##*$'\n'} |" | tee "$OUT/torch.log"
  else
    runs=$(echo "$LENGTHS" | sed 's/\([0-9]\+\)/\1x1/g')
    timeout "$T_TORCH" python3 "$DIR/tnl_torch.py" --runs "$runs" --fused-ce --compile --stop-after-oom --steps "$STEPS" --warmup "$WARMUP" 2>&1 | tee "$OUT/torch.log"
    [[ ${PIPESTATUS[0]} == 124 ]] && echo "| tnl-385m (torch+fla) | timed out after $T_TORCH s (rows above are complete) |" | tee -a "$OUT/torch.log"
  fi
fi
{
  echo "GPU: $(cat "$OUT/gpu.txt")"
  grep -E "^\[(SUCCESSFUL|FAILED|ABORTED)\]|loss whole|bf16 step|peak device bytes|tests (successful|failed)|timed out" "$OUT/tests.log"
  echo
  echo "fulgur: $(grep -m1 '^model' "$OUT/fulgur.log")"
  grep -E '^\| (model|---)' "$OUT/fulgur.log" | head -2
  grep -E '^\| (385m|fulgur)' "$OUT/fulgur.log" | awk '!seen[$0]++'
  echo
  echo "peer: $(grep -m1 '^model' "$OUT/torch.log")"
  grep -E '^\| (model|---)' "$OUT/torch.log" | head -2
  grep -E '^\| tnl-385m' "$OUT/torch.log"
  echo
  echo "wall time: $((SECONDS - start)) s"
} | tee "$OUT/longseq.md"
