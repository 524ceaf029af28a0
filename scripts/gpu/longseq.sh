#!/usr/bin/env bash
# Long-sequence training on one GPU: TNL-385M, bf16, one sequence per step at 16K, 64K, 256K, 1M and 4M tokens walked in
# chunks of 16K (fulgur.cuda.bench.LongSequenceBench: tokens/s, its ratio to 16K, peak device memory; a whole-sequence
# step at 64K for comparison), then in the same run the PyTorch + fla peer (tnl_torch.py with fla's fused linear
# cross-entropy and torch.compile) at the same lengths until it runs out of memory. Files staged by
# scripts/gpu/stage-backend.sh; fla's sources in $PEER_DIR (default .peer). Each stage is bounded by timeout; the 4M row
# is skipped when the 1M row says it would take more than MAX_ROW seconds. Rows go to $OUT/longseq.md.
#   DIR=staged-dir OUT=out/longseq PEER_DIR=.peer bash DIR/longseq.sh
# First the GPU tests of chunked steps (fulgur.cuda.ChunkedStepGpuTest: every architecture against one pass, flat device
# memory). Optional: STAGES ("tests bench torch"), LENGTHS, CHUNK (16384), WHOLE (65536), MAX_ROW (90), T_TESTS (60),
# T_FULGUR (170), T_TORCH (90).
set -uo pipefail
DIR=${DIR:-$(cd "$(dirname "$0")" && pwd)}
OUT=${OUT:-out/longseq}
LENGTHS=${LENGTHS:-16384,65536,262144,1048576,4194304}
CHUNK=${CHUNK:-16384}
WHOLE=${WHOLE:-65536}
MAX_ROW=${MAX_ROW:-90}
STAGES=${STAGES:-tests bench torch}
mkdir -p "$OUT"
if [[ ! -x /tmp/jre/bin/java ]]; then tar xzf "$DIR/jre.tgz" -C /tmp; fi
export FULGUR_KERNEL_CACHE=${FULGUR_KERNEL_CACHE:-/tmp/fulgur-kernels}
mkdir -p "$FULGUR_KERNEL_CACHE"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | tee "$OUT/gpu.txt"
export CLASSPATH="$DIR/jars/*"
J="/tmp/jre/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xss8m -Xmx48g -XX:+UseParallelGC"
touch "$OUT/tests.log" "$OUT/fulgur.log" "$OUT/torch.log"
if [[ $STAGES == *tests* ]]; then
  echo "== tests"
  timeout "${T_TESTS:-60}" $J fulgur.cuda.GpuTestMain fulgur.cuda.ChunkedStepGpuTest 2>&1 | tee "$OUT/tests.log"
fi
if [[ $STAGES == *bench* ]]; then
  echo "== fulgur (chunks of $CHUNK)"
  timeout "${T_FULGUR:-170}" $J fulgur.cuda.bench.LongSequenceBench --config 385m --precision bf16 --seq-chunk "$CHUNK" --lengths "$LENGTHS" \
    --whole "$WHOLE" --steps 3 --warmup 1 --max-row-seconds "$MAX_ROW" --out "$OUT" 2>&1 | tee "$OUT/fulgur.log"
  [[ ${PIPESTATUS[0]} == 124 ]] && echo "| fulgur | timed out after ${T_FULGUR:-170} s |" | tee -a "$OUT/fulgur.log"
fi
if [[ $STAGES == *torch* ]]; then
  echo "== PyTorch + fla (fused linear cross-entropy, torch.compile)"
  runs=$(echo "$LENGTHS" | sed 's/\([0-9]\+\)/\1x1/g')
  timeout "${T_TORCH:-90}" python3 "$DIR/tnl_torch.py" --runs "$runs" --fused-ce --compile --stop-after-oom --steps 2 --warmup 1 2>&1 | tee "$OUT/torch.log"
  [[ ${PIPESTATUS[0]} == 124 ]] && echo "| tnl-385m (torch+fla) | timed out after ${T_TORCH:-90} s |" | tee -a "$OUT/torch.log"
fi
{
  grep -E "^\[(SUCCESSFUL|FAILED|ABORTED)\]|loss whole|peak device bytes|tests (successful|failed)" "$OUT/tests.log"
  echo "fulgur: $(grep -m1 '^model' "$OUT/fulgur.log")"
  grep -E '^\| (model|---)' "$OUT/fulgur.log" | head -2
  grep -E '^\| (385m|fulgur)' "$OUT/fulgur.log" | awk '!seen[$0]++'
  echo
  echo "peer: $(grep -m1 '^model' "$OUT/torch.log")"
  grep -E '^\| (model|---)' "$OUT/torch.log" | head -2
  grep -E '^\| tnl-385m' "$OUT/torch.log"
} | tee "$OUT/longseq.md"
