#!/usr/bin/env bash
# Runs the CUDA backend's GPU tests and the TNL training benchmark on a GPU host (files staged by
# scripts/gpu/stage-backend.sh). Logs and a summary go to OUT.
#   DIR=staged-dir OUT=out/gpu bash DIR/run-backend.sh
# Optional: TESTS (GPU test classes; the tests that need no GPU run in the Maven build), BENCH_ARGS (TnlTrainBench
# arguments), GRAPH_ARGS (GraphStepBench arguments), STAGES (default "tests bench graph torch nccl cli"; torch needs
# flash-linear-attention's sources in $PEER_DIR, default .peer), JOPTS (more JVM options, e.g.
# -Dfulgur.kernels.off=NormLinearAttentionKernels to time the step without a fused kernel).
set -uo pipefail
DIR=${DIR:-$(cd "$(dirname "$0")" && pwd)}
OUT=${OUT:-out/gpu}
STAGES=${STAGES:-tests bench graph torch nccl cli}
mkdir -p "$OUT"
if [[ ! -x /tmp/jre/bin/java ]]; then tar xzf "$DIR/jre.tgz" -C /tmp; fi
JAVA=${JAVA:-/tmp/jre/bin/java}
export FULGUR_KERNEL_CACHE=/tmp/fulgur-kernels
mkdir -p "$FULGUR_KERNEL_CACHE"

find_lib() {
  local so=$1
  ldconfig -p 2>/dev/null | grep -q "$so" && return 0
  local dirs="${CUDA_HOME:-/usr/local/cuda}/lib64 /usr/local/cuda/targets/x86_64-linux/lib"
  dirs="$dirs $(python3 -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null)"
  for d in $dirs; do
    f=$(find "$d" -name "$so*" 2>/dev/null | head -1)
    if [[ -n $f ]]; then echo "$f"; return 0; fi
  done
}
if [[ -z ${FULGUR_LIBNVRTC:-} ]]; then p=$(find_lib libnvrtc.so.13); [[ -n $p ]] && export FULGUR_LIBNVRTC=$p; fi
if [[ -z ${FULGUR_LIBCUBLASLT:-} ]]; then p=$(find_lib libcublasLt.so.13); [[ -n $p ]] && export FULGUR_LIBCUBLASLT=$p; fi
echo "nvrtc: ${FULGUR_LIBNVRTC:-(loader path)}  cublasLt: ${FULGUR_LIBCUBLASLT:-(loader path)}"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,memory.used,memory.total --format=csv,noheader 2>/dev/null

export CLASSPATH="$DIR/jars/*"
J="$JAVA --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xss8m -Xmx48g -XX:+UseParallelGC -Dfulgur.cuda.verbose=true ${JOPTS:-}"
TESTS=${TESTS:-fulgur.cuda.CudaBackendGpuTest fulgur.cuda.LightningDispatchGpuTest fulgur.cuda.TnlStepGpuTest fulgur.cuda.CudaGraphGpuTest fulgur.cuda.cublas.LtGemmGpuTest fulgur.cuda.CudaRuntimeGpuTest}
if [[ $STAGES == *tests* ]]; then
  echo "== tests"
  timeout ${T_TESTS:-300} $J fulgur.cuda.GpuTestMain $TESTS 2>&1 | tee "$OUT/tests.log"
fi
if [[ $STAGES == *bench* ]]; then
  echo "== bench"
  timeout ${T_BENCH:-300} $J fulgur.cuda.bench.TnlTrainBench --out "$OUT" ${BENCH_ARGS:---runs 2048x8,16384x1 --steps 4 --warmup 2} 2>&1 | tee "$OUT/bench.log"
fi
if [[ $STAGES == *graph* ]]; then
  echo "== graph (the training step eager against captured as a CUDA graph)"
  timeout ${T_GRAPH:-300} $J fulgur.cuda.bench.GraphStepBench --out "$OUT" ${GRAPH_ARGS:-} 2>&1 | tee "$OUT/graph.log"
fi
if [[ $STAGES == *torch* ]]; then
  echo "== torch (PyTorch + fla, the same model)"
  timeout ${T_TORCH:-300} python3 "$DIR/tnl_torch.py" ${TORCH_ARGS:---runs 2048x8,16384x1 --steps 4 --warmup 2} 2>&1 | tee "$OUT/torch.log"
fi
if [[ $STAGES == *nccl* ]]; then
  echo "== nccl (world size 1)"
  RANK=0 WORLD_SIZE=1 LOCAL_RANK=0 LOCAL_WORLD_SIZE=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=29517 timeout ${T_NCCL:-180} $J fulgur.dist.nccl.NcclCheck 2>&1 | tee "$OUT/nccl.log"
  echo "== ZeRO, CO2 and split experts over NCCL (world size 1)"
  RANK=0 WORLD_SIZE=1 LOCAL_RANK=0 LOCAL_WORLD_SIZE=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=29518 timeout ${T_NCCL:-180} $J fulgur.dist.train.DistTrainingCheck 2>&1 | tee "$OUT/dist-training.log"
fi
if [[ $STAGES == *cli* ]]; then
  echo "== cli (training on the GPU from the command line)"
  F="$JAVA --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx16g fulgur.cli.Main"  # CLASSPATH: the staged jars
  { timeout 200 $F train --task mqar --steps 60 --device cuda --precision bf16 --out "$OUT/cli-bf16"
    timeout 200 $F train --task mqar --steps 60 --device cuda --precision bf16 --cuda-graph --out "$OUT/cli-graph"
    timeout 200 $F launch --nproc-per-node 1 train --task mqar --steps 60 --backend nccl --device cuda --out "$OUT/cli-nccl"; } 2>&1 | tr '\r' '\n' | grep -v "^train " | tee "$OUT/cli.log"
fi
{
  echo "=================== summary ==================="
  [[ -f $OUT/tests.log ]] && grep -E "^\[(FAILED|ABORTED)\]|tnl |tests (successful|failed|aborted)|rel err" "$OUT/tests.log" | head -60
  [[ -f $OUT/bench.log ]] && grep -E "^\||model|failed" "$OUT/bench.log"
  [[ -f $OUT/graph.log ]] && grep -E "^\| [^ ]|Exception|rror" "$OUT/graph.log"
  [[ -f $OUT/torch.log ]] && grep -E "^\||model|fla|Error" "$OUT/torch.log"
  [[ -f $OUT/nccl.log ]] && grep -E "^\[|NCCL CHECK" "$OUT/nccl.log"
  [[ -f $OUT/dist-training.log ]] && grep -E "^\[|DIST TRAINING CHECK" "$OUT/dist-training.log"
  [[ -f $OUT/cli.log ]] && grep -E "model:|device|precision:|cuda graph|done:|rror" "$OUT/cli.log"
} | tee "$OUT/summary.txt"
