#!/usr/bin/env bash
# The TNL-385M training step in several configurations (by default: every kernel family on, against the default
# step), alternating on one GPU (fulgur.cuda.bench.TnlTrainBench through run-backend.sh: step times, MFU, peak memory
# and a per-kernel profile of each), after the GPU tests of the kernels involved. Files from
# scripts/gpu/stage-backend.sh.
#   DIR=staged-dir OUT=out/tnl-kernels bash DIR/tnl_step_kernels.sh          (about 2 minutes with a warm kernel cache)
# Optional: ROUNDS (2); SIDES, the configurations as "name=JVM options" separated by ';' (default
# "fused=-Dfulgur.kernels.off=;default=-Dfulgur.kernels.off=NormLinearAttentionKernels,CrossEntropyKernels,GatedNormKernels,MatmulIntoKernels");
# T_TESTS (300; 0 skips the tests).
set -uo pipefail
DIR=${DIR:-$(cd "$(dirname "$0")" && pwd)}
OUT=${OUT:-out/tnl-kernels}
ROUNDS=${ROUNDS:-2}
SIDES=${SIDES:-"fused=-Dfulgur.kernels.off=;default=-Dfulgur.kernels.off=NormLinearAttentionKernels,CrossEntropyKernels,GatedNormKernels,MatmulIntoKernels"}
T_TESTS=${T_TESTS:-300}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"
if [[ $T_TESTS != 0 ]]; then
  DIR=$DIR OUT=$OUT/tests STAGES=tests T_TESTS=$T_TESTS TESTS="fulgur.cuda.ops.lightning.NormLinearAttentionGpuTest \
fulgur.cuda.ops.loss.CudaCrossEntropyGpuTest fulgur.cuda.ops.norm.CudaGatedNormGpuTest fulgur.cuda.CudaBackendGpuTest#norms fulgur.cuda.CudaBackendGpuTest#siluMulFused fulgur.cuda.CudaBackendGpuTest#adamwOverAllParametersEqualsOnePerParameter \
fulgur.cuda.cublas.BatchedGemmGpuTest fulgur.cuda.ops.matmul.CudaMatmulIntoGpuTest fulgur.cuda.TnlStepGpuTest" bash "$HERE/run-backend.sh" > "$OUT/tests.log" 2>&1
fi
IFS=';' read -r -a sides <<< "$SIDES"
for r in $(seq 1 "$ROUNDS"); do
  for side in "${sides[@]}"; do
    name=${side%%=*}
    JOPTS=${side#*=} DIR=$DIR OUT=$OUT/$name-$r STAGES=bench bash "$HERE/run-backend.sh" > "$OUT/$name-$r.log" 2>&1
  done
done
{
  if [[ $T_TESTS != 0 ]]; then
    echo "== GPU tests"
    grep -E "^\[(SUCCESSFUL|FAILED|ABORTED)\]|tests (successful|failed)" "$OUT/tests/tests.log" | cut -c1-140
  fi
  for r in $(seq 1 "$ROUNDS"); do
    for side in "${sides[@]}"; do
      echo "== ${side%%=*} (${side#*=}), round $r"
      grep -E "^\| [0-9]" "$OUT/${side%%=*}-$r/bench.log"
    done
  done
} | tee "$OUT/summary.txt"
