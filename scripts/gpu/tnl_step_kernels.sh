#!/usr/bin/env bash
# The TNL-385M training step with the kernel families that are off by default turned on, against the default step,
# alternating on one GPU (fulgur.cuda.bench.TnlTrainBench through run-backend.sh: step times, MFU, peak memory and a
# per-kernel profile of each), after the GPU tests of those families. Files from scripts/gpu/stage-backend.sh.
#   DIR=staged-dir OUT=out/tnl-kernels bash DIR/tnl_step_kernels.sh          (about 2 minutes with a warm kernel cache)
# Optional: ROUNDS (2), ON (the -Dfulgur.kernels.off value of the fused step, default empty: every kernel on), OFF (that
# of the reference step), T_TESTS (300).
set -uo pipefail
DIR=${DIR:-$(cd "$(dirname "$0")" && pwd)}
OUT=${OUT:-out/tnl-kernels}
ROUNDS=${ROUNDS:-2}
ON=${ON:-}
OFF=${OFF:-NormLinearAttentionKernels,CrossEntropyKernels,GatedNormKernels}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"
DIR=$DIR OUT=$OUT/tests STAGES=tests T_TESTS=${T_TESTS:-300} TESTS="fulgur.cuda.ops.lightning.NormLinearAttentionGpuTest \
fulgur.cuda.ops.loss.CudaCrossEntropyGpuTest fulgur.cuda.ops.norm.CudaGatedNormGpuTest fulgur.cuda.CudaBackendGpuTest#norms \
fulgur.cuda.TnlStepGpuTest" bash "$HERE/run-backend.sh" \
    > "$OUT/tests.log" 2>&1
for r in $(seq 1 "$ROUNDS"); do
  for side in on off; do
    spec=$ON; [[ $side == off ]] && spec=$OFF
    JOPTS="-Dfulgur.kernels.off=$spec" DIR=$DIR OUT=$OUT/$side-$r STAGES=bench bash "$HERE/run-backend.sh" \
        > "$OUT/$side-$r.log" 2>&1
  done
done
{
  echo "== GPU tests"
  grep -E "^\[(SUCCESSFUL|FAILED|ABORTED)\]|tests (successful|failed)" "$OUT/tests/tests.log" | cut -c1-120
  for r in $(seq 1 "$ROUNDS"); do
    for side in on off; do
      echo "== kernels.off=$([[ $side == on ]] && echo "'$ON'" || echo "$OFF"), round $r"
      grep -E "^\| [0-9]" "$OUT/$side-$r/bench.log"
    done
  done
} | tee "$OUT/summary.txt"
