#!/usr/bin/env bash
# The TNL-385M training step in several configurations (by default: every kernel family on, against the default
# step), alternating on one GPU (fulgur.cuda.bench.TnlTrainBench through run-backend.sh: step times, MFU, peak memory
# and a per-kernel profile of each), after the GPU tests of the kernels involved. Files from
# scripts/gpu/stage-backend.sh.
#   DIR=staged-dir OUT=out/tnl-kernels bash DIR/tnl_step_kernels.sh          (about 2 minutes with a warm kernel cache)
# Optional: ROUNDS (2); SIDES, the configurations as "name=JVM options" separated by ';' (default
# "fused=-Dfulgur.kernels.off=;default=-Dfulgur.kernels.off=NormLinearAttentionKernels,CrossEntropyKernels,GatedNormKernels,MatmulIntoKernels,GluKernels");
# T_TESTS (300; 0 skips the tests); TESTS (the GPU test classes or methods to run first; by default those of the
# kernels the step uses); PEER=1 runs the PyTorch + fla peer (compiled, fused linear CE; PEER_DIR and
# PYTHONPATH as run-backend.sh takes them) after the rounds, T_PEER (360) bounding it: compiling takes minutes;
# GRAPH=1 also times the training-loop step eager against captured as a CUDA graph (GraphStepBench, 385M at 2048 × 8 and 16384 × 1).
set -uo pipefail
DIR=${DIR:-$(cd "$(dirname "$0")" && pwd)}
OUT=${OUT:-out/tnl-kernels}
ROUNDS=${ROUNDS:-2}
SIDES=${SIDES:-"fused=-Dfulgur.kernels.off=;default=-Dfulgur.kernels.off=NormLinearAttentionKernels,CrossEntropyKernels,GatedNormKernels,MatmulIntoKernels,GluKernels"}
T_TESTS=${T_TESTS:-300}
PEER=${PEER:-0}
GRAPH=${GRAPH:-0}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"
if [[ $T_TESTS != 0 ]]; then
  DIR=$DIR OUT=$OUT/tests STAGES=tests T_TESTS=$T_TESTS TESTS="${TESTS:-fulgur.cuda.ops.lightning.NormLinearAttentionGpuTest \
fulgur.cuda.ops.loss.CudaCrossEntropyGpuTest fulgur.cuda.ops.norm.CudaGatedNormGpuTest fulgur.cuda.ops.norm.CudaResidualNormGpuTest fulgur.cuda.CudaBackendGpuTest#norms fulgur.cuda.CudaBackendGpuTest#siluMulFused fulgur.cuda.CudaBackendGpuTest#adamwOverAllParametersEqualsOnePerParameter \
fulgur.cuda.CudaBackendGpuTest#largeOperandsTakeTwoGroupsOfFourPerThread fulgur.cuda.ops.lightning.LightningAttentionGpuTest \
fulgur.cuda.cublas.BatchedGemmGpuTest fulgur.cuda.ops.matmul.CudaMatmulIntoGpuTest fulgur.cuda.TnlStepGpuTest}" bash "$HERE/run-backend.sh" > "$OUT/tests.log" 2>&1
fi
IFS=';' read -r -a sides <<< "$SIDES"
for r in $(seq 1 "$ROUNDS"); do
  for side in "${sides[@]}"; do
    name=${side%%=*}
    JOPTS=${side#*=} DIR=$DIR OUT=$OUT/$name-$r STAGES=bench bash "$HERE/run-backend.sh" > "$OUT/$name-$r.log" 2>&1
  done
done
if [[ $GRAPH == 1 ]]; then
  DIR=$DIR OUT=$OUT/graph STAGES=graph T_GRAPH=200 GRAPH_ARGS="--runs 385m:2048:8,385m:16384:1 --steps 8 --warmup 3" \
    bash "$HERE/run-backend.sh" > "$OUT/graph.log" 2>&1
fi
if [[ $PEER == 1 ]]; then
  DIR=$DIR OUT=$OUT/peer STAGES=torch T_TORCH=${T_PEER:-360} \
    TORCH_ARGS="--runs 2048x8,16384x1 --steps 4 --warmup 2 --fused-ce --compile" bash "$HERE/run-backend.sh" > "$OUT/peer.log" 2>&1
fi
{
  if [[ $T_TESTS != 0 ]]; then
    echo "== GPU tests"
    grep -E "^\[(SUCCESSFUL|FAILED|ABORTED|TIMEOUT)\]|tests (successful|failed)" "$OUT/tests/tests.log" | cut -c1-140
  fi
  for r in $(seq 1 "$ROUNDS"); do
    for side in "${sides[@]}"; do
      echo "== ${side%%=*} (${side#*=}), round $r"
      grep -E "^\| [0-9]" "$OUT/${side%%=*}-$r/bench.log" | awk '!seen[$0]++'
    done
  done
  if [[ $GRAPH == 1 ]]; then
    echo "== TrainStep eager and captured as a CUDA graph"
    grep -E "^\| 385" "$OUT/graph/graph.log" | awk '!seen[$0]++'
  fi
  if [[ $PEER == 1 ]]; then
    echo "== PyTorch + fla, compiled, fused linear CE"
    grep -E "^\| tnl|rror" "$OUT/peer/torch.log" || echo "(no result: see $OUT/peer.log)"
  fi
} | tee "$OUT/summary.txt"
