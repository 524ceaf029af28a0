#!/usr/bin/env bash
# The serving run on one GPU (H100/H200) in at most BUDGET seconds of wall time (230), with the jars and Java runtime
# staged by scripts/gpu/stage-backend.sh DIR (DIR/jars, DIR/jre.tgz) and the Python helpers beside this script (in the
# repository or in DIR); every log and figure goes under OUT (7 files):
#   tests  the engine's GPU tests -> OUT/tests.log: BatchedDecodeGpuTest (every architecture batched on the GPU against
#          unbatched and against the CPU; the decode step recorded as a CUDA graph against eager steps, f32 and bf16),
#          LightningDispatchGpuTest (the fused decode kernel), Int8MatmulGpuTest (int8 weights), RandomFillGpuTest
#   bench  fulgur's continuous-batching engine (EngineBench) against the peer (serve_peer.py: PyTorch eager, fla's
#          kernels when PEER_DIR holds them, else the plain PyTorch recurrence; absent without PyTorch) on
#          TransNormerLLM-385M in bf16 with 1, 16, 64 and 256 concurrent greedy streams: tokens/s, decode tokens/s,
#          time to first token, inter-token latency. Both start together and take turns on the GPU (serve_turns.py):
#          the model and warm-ups of each, then round by round, each number of streams fulgur then the peer; last
#          fulgur's state memory and prefix state cache. -> OUT/fulgur.jsonl, OUT/fulgur.log, OUT/peer.jsonl,
#          OUT/peer.log; the turns in OUT/console.log
#   table  serve_table.py -> OUT/serve.md (and stdout)
# All that is printed also goes to OUT/console.log.
#   DIR=staged-dir OUT=out/serve PEER_DIR=.peer/flash-linear-attention bash scripts/gpu/serve-gpu.sh
# Optional: CLIENTS (1,16,64,256), TOKENS (128), PROMPT (32), ROUNDS (3), LONG (32768), SHARED (4096), GRAPHS (8),
# BUDGET (230), T_TESTS (70), STAGES ("tests bench"), JAVA (the staged runtime, unpacked to /tmp/jre), and for a
# smoke test without a GPU: CONFIG=small DEVICE=cpu DTYPE=f32.
set -uo pipefail
start=$SECONDS
DIR=${DIR:-$(cd "$(dirname "$0")" && pwd)}
DIR=$(cd "$DIR" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-out/serve}
CLIENTS=${CLIENTS:-1,16,64,256}
TOKENS=${TOKENS:-128}
PROMPT=${PROMPT:-32}
ROUNDS=${ROUNDS:-3}
LONG=${LONG:-32768}
SHARED=${SHARED:-4096}
GRAPHS=${GRAPHS:-8}
BUDGET=${BUDGET:-230}
T_TESTS=${T_TESTS:-70}
STAGES=${STAGES:-tests bench}
CONFIG=${CONFIG:-385m}
DEVICE=${DEVICE:-cuda}
DTYPE=${DTYPE:-bf16}
export PEER_DIR=${PEER_DIR:-.peer/flash-linear-attention}
[[ -d $PEER_DIR ]] && PEER_DIR=$(cd "$PEER_DIR" && pwd)
mkdir -p "$OUT"
exec > >(tee "$OUT/console.log") 2>&1
if [[ -z ${JAVA:-} ]]; then
  [[ -x /tmp/jre/bin/java ]] || tar xzf "$DIR/jre.tgz" -C /tmp
  JAVA=/tmp/jre/bin/java
fi
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
if [[ $DEVICE == cuda* ]]; then
  if [[ -z ${FULGUR_LIBNVRTC:-} ]]; then p=$(find_lib libnvrtc.so.13); [[ -n $p ]] && export FULGUR_LIBNVRTC=$p; fi
  if [[ -z ${FULGUR_LIBCUBLASLT:-} ]]; then p=$(find_lib libcublasLt.so.13); [[ -n $p ]] && export FULGUR_LIBCUBLASLT=$p; fi
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,memory.used,memory.total --format=csv,noheader 2>/dev/null
fi
export CLASSPATH="$DIR/jars/*"
J="$JAVA --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xss8m -Xmx16g -XX:+UseParallelGC"

if [[ $STAGES == *tests* ]]; then
  echo "== tests (at most $T_TESTS s)"
  timeout "$T_TESTS" $J fulgur.cuda.GpuTestMain fulgur.serve.engine.BatchedDecodeGpuTest fulgur.cuda.LightningDispatchGpuTest \
      fulgur.cuda.Int8MatmulGpuTest fulgur.cuda.RandomFillGpuTest > "$OUT/tests.log" 2>&1
  rc=$?
  grep -A1 -E "^\[FAILED\]" "$OUT/tests.log" | head -40
  grep -E "tests (successful|failed|aborted)" "$OUT/tests.log"
  echo "tests: exit $rc$( ((rc == 124)) && echo ' (out of time)') after $((SECONDS - start)) s"
fi
if [[ $STAGES == *bench* ]]; then
  left=$((BUDGET - (SECONDS - start) - 20)) # at its deadline serve_turns.py takes up to 20 s more to stop and end the children
  echo "== bench: fulgur and the peer taking turns on the $DEVICE, $CLIENTS streams, $ROUNDS round(s) (at most $left s)"
  common="--prompt $PROMPT --tokens $TOKENS --rounds $ROUNDS --config $CONFIG --device $DEVICE --paced"
  PYTHONUNBUFFERED=1 python3 "$HERE/serve_turns.py" --deadline "$left" --out "$OUT" \
      fulgur="$J fulgur.bench.EngineBench $common --dtype $DTYPE --clients $CLIENTS --long $LONG --shared $SHARED --graphs $GRAPHS" \
      peer="python3 $HERE/serve_peer.py $common --batch $CLIENTS"
  grep -vE "^WARNING" "$OUT/fulgur.log" | tail -n 40
  grep -vE "warn" "$OUT/peer.log" | tail -n 20
fi
echo "=================== serving: fulgur against the peer ($((SECONDS - start)) s) ==================="
python3 "$HERE/serve_table.py" "$OUT/fulgur.jsonl" "$OUT/peer.jsonl" | tee "$OUT/serve.md"
