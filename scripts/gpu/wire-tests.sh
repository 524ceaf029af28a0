#!/usr/bin/env bash
# The GPU tests of the op-family kernels as the ops and models reach them through the kernel registry, on a GPU host,
# from a folder staged by scripts/gpu/stage-backend.sh (which also copies this script). One JVM per test class, each
# bounded by timeout (so a sticky CUDA error or a hang costs one class); about 4 minutes in all, 2 of them the captured
# training test (every architecture, eager and captured, f32 and bf16). Logs go to OUT; the summary lists each class's
# outcome.
#   DIR=staged-dir OUT=out/wire bash DIR/wire-tests.sh          (or: DIR=staged-dir bash scripts/gpu/wire-tests.sh)
# Optional: CLASSES (GPU test classes, default below), T_CLASS (seconds per class, 90), T_GRAPH (seconds for the captured
# training test, 180), MATCH / SKIP (extended regular expressions: run only the classes that match MATCH and not SKIP),
# XMX (the JVMs' heap, 32g).
set -uo pipefail
DIR=${DIR:-$(cd "$(dirname "$0")" && pwd)}
OUT=${OUT:-out/wire}
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
CLASSES=${CLASSES:-fulgur.cuda.ops.gla.CudaGlaGpuTest fulgur.cuda.ops.gla.CudaLogDecayGpuTest fulgur.cuda.ops.lightnet.CudaLightNetGpuTest fulgur.cuda.ops.lcsm.CudaLcsmGpuTest \
fulgur.cuda.ops.conv.CudaShortConvGpuTest fulgur.cuda.ops.attention.CudaAttentionGpuTest fulgur.cuda.ops.moe.CudaMoeGpuTest \
fulgur.cuda.ops.norm.CudaGatedNormGpuTest \
fulgur.cuda.zoo.ZooBf16GpuTest fulgur.cuda.zoo.GlaModelsGpuTest fulgur.cuda.zoo.LightNetGpuTest fulgur.cuda.zoo.AttnModelsGpuTest \
fulgur.cuda.zoo.MoeLcsmGpuTest fulgur.cuda.zoo.EveryArchitectureGraphGpuTest}
: > "$OUT/summary.txt"
for c in $CLASSES; do
  [[ $c =~ ${MATCH:-.} ]] || continue
  [[ -n ${SKIP:-} && $c =~ $SKIP ]] && continue
  t=${T_CLASS:-90}
  [[ $c == *EveryArchitectureGraphGpuTest ]] && t=${T_GRAPH:-180}
  log="$OUT/${c##*.}.log"
  start=$(date +%s)
  timeout "$t" $J fulgur.cuda.GpuTestMain "$c" > "$log" 2>&1
  rc=$?
  counts=$(grep -E "tests (successful|failed|aborted)" "$log" | tr -s ' ' | tr '\n' ' ')
  printf '%-55s exit %3d  %4ds  %s\n' "$c" "$rc" "$(( $(date +%s) - start ))" "$counts" | tee -a "$OUT/summary.txt"
done
echo "== failures and figures"
grep -hE "^\[(FAILED|ABORTED)\]|^    |kernel vs cpu|composed on cuda|: loss cpu|kernel calls|decode vs|worst rel diff|^fulgur: .* on cuda" "$OUT"/*.log | head -250
