#!/usr/bin/env bash
# Runs the op-family kernels' tests (GLA, LightNet, short convolution, LCSM), their benchmark and the fla peers on a
# GPU host, from a folder staged by scripts/gpu/stage-backend.sh (which also copies this script). Logs go to OUT.
#   DIR=staged-dir OUT=out/zoo bash DIR/zoo-kernels.sh
# Each stage is bounded by timeout (T_TESTS, T_BENCH, T_PEER seconds; about 8 minutes in all by default). XMX: the
# JVMs' heap (32g).
# The GLA tests dump their tensor-core cases (inputs, f64 reference, our errors) into OUT/dump; the peer runs fla's
# chunk_gla on them, and divides our benchmark's times (OUT/bench.log) by fla's.
# The peer needs PyTorch and flash-linear-attention's sources in PEER_DIR (default .peer/fla).
set -uo pipefail
DIR=${DIR:-$(cd "$(dirname "$0")" && pwd)}
OUT=${OUT:-out/zoo}
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
TESTS=${TESTS:-fulgur.cuda.ops.gla.GlaKernelsGpuTest fulgur.cuda.ops.lightnet.LightNetKernelsGpuTest \
fulgur.cuda.ops.conv.ShortConvKernelsGpuTest fulgur.cuda.ops.lcsm.LcsmKernelsGpuTest}
if [[ $STAGES == *tests* ]]; then
  echo "== tests"
  rm -rf "$OUT/dump"
  timeout ${T_TESTS:-180} $J -Dfulgur.zoo.dump="$OUT/dump" fulgur.cuda.GpuTestMain $TESTS > "$OUT/tests.log" 2>&1
  echo "tests exit $?" >> "$OUT/tests.log"
  grep -E "^\[|rel err|first far|tests (successful|failed)|exit" "$OUT/tests.log" | tail -150
fi
if [[ $STAGES == *bench* ]]; then
  echo "== bench"
  timeout ${T_BENCH:-150} $J fulgur.cuda.ops.ZooKernelsBench ${BENCH_ARGS:-} > "$OUT/bench.log" 2>&1
  echo "bench exit $?" >> "$OUT/bench.log"
  sed -n '/^=== fulgur op-family/,$p' "$OUT/bench.log"
fi
if [[ $STAGES == *peer* ]]; then
  echo "== peer (fla)"
  PYTHONUNBUFFERED=1 timeout ${T_PEER:-240} python3 "$DIR/gla_peer.py" --ours "$OUT/bench.log" --dump "$OUT/dump" ${PEER_ARGS:-} \
      > "$OUT/peer.log" 2>&1
  echo "peer exit $?" >> "$OUT/peer.log"
  sed -n '/^=== chunk_gla against/,/^$/p;/^=== fla peers/,$p' "$OUT/peer.log"
fi
