#!/usr/bin/env bash
# Runs the attention and MoE kernels' GPU tests, their benchmark and the PyTorch peers on a GPU host, from the folder
# staged by scripts/gpu/stage-backend.sh (jars with the prebuilt kernel fatbins, the jlink'ed runtime, this script,
# attn_peer.py). Each stage is bounded by `timeout`; together they stay under 8 minutes (the first run on a host also
# compiles the warpgroup kernels' settings variants with NVRTC, cached in FULGUR_KERNEL_CACHE). Logs and a summary go
# to OUT.
#   DIR=staged-dir OUT=out/attn bash DIR/attn-kernels.sh          (or: bash scripts/gpu/attn-kernels.sh staged-dir)
# Optional: STAGES (default "tests bench peer"), TESTS (GPU test classes; empty: none), FLASH_KERNELS (the kernels the
# flash-attention tests run, default "mma_sync wgmma"), BENCH_ARGS (AttnMoeBench arguments), PEER_ARGS,
# T_TESTS / T_BENCH / T_PEER (seconds; defaults 240 / 180 / 60), XMX (the JVMs' heap, 32g).
set -uo pipefail
DIR=${DIR:-${1:-$(cd "$(dirname "$0")" && pwd)}}
OUT=${OUT:-out/attn}
STAGES=${STAGES:-tests bench peer}
mkdir -p "$OUT"
if [[ ! -x /tmp/jre/bin/java ]]; then tar xzf "$DIR/jre.tgz" -C /tmp; fi
JAVA=${JAVA:-/tmp/jre/bin/java}
export FULGUR_KERNEL_CACHE=${FULGUR_KERNEL_CACHE:-/tmp/fulgur-kernels}
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
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,memory.used,memory.total --format=csv,noheader 2>/dev/null | tee "$OUT/gpu.txt"

export CLASSPATH="$DIR/jars/*"
J="$JAVA --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xss8m -Xmx${XMX:-32g} -XX:+UseParallelGC -Dfulgur.cuda.verbose=true"
# three JVMs: the flash-attention tests last and apart, the mma.sync kernels then the warpgroup ones, so that a fault
# in one (a sticky CUDA error) spares the others
TESTS=${TESTS-fulgur.cuda.ops.attention.PagedAttentionGpuTest fulgur.cuda.ops.moe.MoeGpuTest}
TESTS_FLASH=${TESTS_FLASH:-fulgur.cuda.ops.attention.FlashAttentionGpuTest}
if [[ $STAGES == *tests* ]]; then
  echo "== tests"
  : > "$OUT/tests.log"
  if [[ -n $TESTS ]]; then
    timeout ${T_TESTS:-240} $J fulgur.cuda.GpuTestMain $TESTS >> "$OUT/tests.log" 2>&1
    echo "tests exit $?" | tee -a "$OUT/tests.log"
  fi
  for fam in ${FLASH_KERNELS:-mma_sync wgmma}; do
    [[ -z $TESTS_FLASH ]] && break
    timeout ${T_TESTS:-240} $J -Dfulgur.cuda.attention.testKernels=$fam fulgur.cuda.GpuTestMain $TESTS_FLASH >> "$OUT/tests.log" 2>&1
    echo "flash tests ($fam) exit $?" | tee -a "$OUT/tests.log"
  done
  grep -E "^\[|rel err|FAIL|tests (successful|failed|aborted)" "$OUT/tests.log" | head -200
fi
if [[ $STAGES == *bench* ]]; then
  echo "== bench"
  timeout ${T_BENCH:-180} $J fulgur.cuda.bench.AttnMoeBench --out "$OUT" ${BENCH_ARGS:-} > "$OUT/bench.log" 2>&1
  echo "bench exit $?" | tee -a "$OUT/bench.log"
  grep -E "^(flash|paged|MoE|attention|decode|moe).*" "$OUT/bench.log"
fi
if [[ $STAGES == *peer* ]]; then
  echo "== peer (PyTorch)"
  timeout ${T_PEER:-60} python3 "$DIR/attn_peer.py" --out "$OUT" --fulgur-json "$OUT/attn_moe_bench.json" ${PEER_ARGS:-} > "$OUT/peer.log" 2>&1
  echo "peer exit $?" | tee -a "$OUT/peer.log"
fi
{
  echo "=================== summary ==================="
  [[ -f $OUT/tests.log ]] && grep -E "^\[(FAILED|ABORTED)\]|tests (successful|failed|aborted)|FAIL |tests exit" "$OUT/tests.log" | head -120
  [[ -f $OUT/bench.log ]] && grep -E "^=== |^(flash|paged|MoE)|FAILED|bench exit" "$OUT/bench.log"
  [[ -f $OUT/peer.log ]] && grep -E "^(torch|flash_attn|===|\|)|FAILED|Error|peer exit" "$OUT/peer.log"
} | tee "$OUT/summary.txt"
