#!/usr/bin/env bash
# Runs fulgur-cuda's tests and GPU benchmarks on a GPU host that has a Java 25 runtime, then the peers'
# benchmark (fla chunk_simple_gla, torch SDPA, torch.matmul) and prints a short table.
#
#   JAVA=/path/to/java JARS=dir-with-jars OUT=out/gpu scripts/gpu/run-gpu.sh
#
# JARS holds fulgur-cuda's jar, its tests jar and the test dependencies (JUnit, AssertJ):
#   ./mvnw -q install -DskipTests -pl fulgur-cuda -am
#   ./mvnw -q dependency:copy-dependencies -pl fulgur-cuda -DincludeScope=test -DoutputDirectory=DIR
#   cp fulgur-cuda/target/fulgur-cuda-*.jar DIR
# Optional: PEER_DIR (folder holding fla/, default .peer), BENCH_ARGS (extra LightningBench args),
# PEER_ARGS (extra bench_peers.py args), STAGES (default "tests bench peers").
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
JAVA=${JAVA:-java}
JARS=${JARS:-fulgur-cuda/target/gpu-jars}
OUT=${OUT:-out/gpu}
STAGES=${STAGES:-tests bench peers}
mkdir -p "$OUT"
export FULGUR_KERNEL_CACHE=${FULGUR_KERNEL_CACHE:-/tmp/fulgur-kernels}

# Libraries the loader may not find on its own: look under the toolkit and Python's NVIDIA wheels.
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
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv,noheader 2>/dev/null

export CLASSPATH="$JARS/*"
J="$JAVA --enable-native-access=ALL-UNNAMED -Xss8m"
if [[ $STAGES == *tests* ]]; then
  echo "== tests"; timeout ${T_TESTS:-300} $J fulgur.cuda.GpuTestMain 2>&1 | tee "$OUT/tests.log"
fi
if [[ $STAGES == *bench* ]]; then
  echo "== bench"; timeout ${T_BENCH:-300} $J fulgur.cuda.bench.LightningBench --dump /tmp/fulgur-dump --out "$OUT" ${BENCH_ARGS:-} 2>&1 | tee "$OUT/bench.log"
fi
if [[ $STAGES == *peers* ]]; then
  echo "== peers"
  PEER_DIR=${PEER_DIR:-.peer} PYTHONUNBUFFERED=1 timeout ${T_PEERS:-400} python3 "$here/bench_peers.py" --dump /tmp/fulgur-dump \
      --out "$OUT" ${PEER_ARGS:-} 2>&1 | tee "$OUT/peers.log"
fi

{
  echo "=================== summary ==================="
  [[ -f $OUT/tests.log ]] && grep -E "^\[(FAILED|ABORTED)\]|lightning B=|gemm |tests (successful|failed|aborted)" "$OUT/tests.log" | head -40
  [[ -f $OUT/bench.log ]] && sed -n '/=== fulgur/,$p' "$OUT/bench.log"
  [[ -f $OUT/peers.log ]] && grep -E "cross-check|_vs_|^fla:" "$OUT/peers.log" && sed -n '/=== peers/,$p' "$OUT/peers.log"
} | tee "$OUT/summary.txt"
