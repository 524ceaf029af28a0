#!/usr/bin/env bash
# A short GPU run (about 90 s) of the test classes behind the zoo round's failures, from the repository root on a folder
# staged by scripts/gpu/stage-backend.sh, in four JVMs side by side: the flash-attention tests with both kernel
# families (each case's CPU reference computed once for both; attn-kernels.sh), GLA and MoE through the kernel
# registry, and every architecture's bf16 step and decoding (wire-tests.sh, one class each). Each JVM is ended at
# DEADLINE seconds (default 85) by its script's own timeout; OUT gets the logs and summary.txt.
#   DIR=staged-dir OUT=out/recheck bash scripts/gpu/zoo-recheck.sh
# Optional: DEADLINE, XMX (each JVM's heap, 12g).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
DIR=$(cd "${DIR:?DIR: the folder staged by scripts/gpu/stage-backend.sh}" && pwd)
OUT=${OUT:-out/recheck}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
D=${DEADLINE:-85}
export XMX=${XMX:-12g}
export FULGUR_KERNEL_CACHE=${FULGUR_KERNEL_CACHE:-/tmp/fulgur-kernels}
mkdir -p "$FULGUR_KERNEL_CACHE"
# unpacked once here: the lanes would otherwise unpack it side by side
[[ -x /tmp/jre/bin/java ]] || tar xzf "$DIR/jre.tgz" -C /tmp
t0=$SECONDS
T=$(( D - 5 ))  # each JVM's bound, started within seconds of t0
env OUT="$OUT/flash" DIR="$DIR" STAGES=tests TESTS= FLASH_KERNELS=mma_sync,wgmma T_TESTS=$T bash "$here/attn-kernels.sh" \
  > "$OUT/flash.out" 2>&1 &
pids=($!)
for c in CudaGlaGpuTest CudaMoeGpuTest ZooBf16GpuTest; do
  env OUT="$OUT/$c" DIR="$DIR" MATCH="\\.$c\$" T_CLASS=$T bash "$here/wire-tests.sh" > "$OUT/$c.out" 2>&1 &
  pids+=($!)
done
wait "${pids[@]}"
{
  echo "=================== zoo recheck: $(cat "$OUT/flash/gpu.txt" 2>/dev/null); $(( SECONDS - t0 )) s"
  cat "$OUT"/Cuda*/summary.txt "$OUT"/Zoo*/summary.txt 2>/dev/null
  grep -hE "tests (successful|failed|aborted)|flash tests" "$OUT/flash/tests.log" 2>/dev/null
  echo "-- failures"
  grep -hE "^\[(FAILED|ABORTED)\]|^    " "$OUT"/*/*.log 2>/dev/null | head -60
  echo "-- figures"
  grep -hE "kernel vs cpu|composed on cuda|routed by|: loss cpu|decode vs" "$OUT"/*/*.log 2>/dev/null
} > "$OUT/summary.txt"
cat "$OUT/summary.txt"
