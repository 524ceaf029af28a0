#!/usr/bin/env bash
# One bounded GPU run of the whole zoo: every op family's GPU tests and every architecture's bf16 step, decoding and
# captured training (wire-tests.sh); the GLA, LightNet, LCSM and short-convolution kernels' tests and timings against
# fla (zoo-kernels.sh); the attention and MoE kernels' tests, the warpgroup ones included, and timings against SDPA
# (attn-kernels.sh); every architecture's training step against its reference implementation at batch 8
# (zoo_bench.sh, table by zoo_table.py). Run from the repository root of a checkout, on a folder staged by
# scripts/gpu/stage-backend.sh:
#   DIR=staged-dir PEER_DIR=.peer/flash-linear-attention OUT=out/round bash scripts/gpu/zoo-round.sh
#
# Phase 1 shares the GPU and times nothing: the test classes in six JVM lanes side by side, while fla's Triton kernels
# and the attention benchmark's NVRTC variants compile in warm-up runs (fla's autotuning choices are not kept from
# them: FLA_CACHE_RESULTS=0, so the timed runs tune on an idle GPU). Phase 2 has the GPU to itself and times, one part
# after the other: the family kernels against fla, attention and MoE against PyTorch, then the architectures against
# their references in the time left. Every part has a budget in seconds; a part past its budget is ended with its processes,
# and no part runs past DEADLINE seconds from the start (default 550). The parts work in WORK (default
# /tmp/zoo-round: test dumps and training checkpoints stay there); OUT gets summary.txt, parts.txt (exit code and
# seconds of every part), the architectures' table (zoo.md, zoo.jsonl) and every log in logs.tar.gz.
# Optional: PARTS (default "tests bench zoo"; "tests": phase 1's tests, "bench": the kernel timings, "zoo": the
# architectures), DEADLINE, T_PHASE1 (200), T_KBENCH (45), T_KPEER (45), T_ABENCH (45), T_APEER (30), T_ZOO (260),
# T_ZOO_RUN (one training run, 90), XMX (heap of each phase-1 JVM, 12g).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
DIR=$(cd "${DIR:?DIR: the folder staged by scripts/gpu/stage-backend.sh}" && pwd)
PEER_DIR=$(cd "${PEER_DIR:-.peer/flash-linear-attention}" && pwd) || { echo "PEER_DIR: no such folder" >&2; exit 2; }
OUT=${OUT:-out/round}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
W=${WORK:-/tmp/zoo-round}
rm -rf "$W"
mkdir -p "$W"
PARTS=${PARTS:-tests bench zoo}
DEADLINE=${DEADLINE:-550}
export PEER_DIR XMX=${XMX:-12g}
export FULGUR_KERNEL_CACHE=${FULGUR_KERNEL_CACHE:-/tmp/fulgur-kernels}
mkdir -p "$FULGUR_KERNEL_CACHE"
python3 -c 'import einops' 2>/dev/null || {
  [[ -d $(dirname "$PEER_DIR")/einops/einops ]] && export PYTHONPATH="$(dirname "$PEER_DIR")/einops${PYTHONPATH:+:$PYTHONPATH}"
}
# unpacked once here: the parts would otherwise unpack it side by side
[[ -x /tmp/jre/bin/java ]] || tar xzf "$DIR/jre.tgz" -C /tmp
corpus=/tmp/zoo-corpus.txt
[[ -f $corpus ]] || head -c 30000000 /dev/urandom | base64 > "$corpus"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,memory.used,memory.total --format=csv,noheader | tee "$W/gpu.txt"
python3 -c 'import torch, transformers, triton; print("torch", torch.__version__, "transformers", transformers.__version__,
  "triton", triton.__version__)' 2>&1 | tail -n 1 | tee "$W/python.txt"
nvidia-smi --query-gpu=timestamp,memory.used,utilization.gpu --format=csv -l 5 > "$W/gpu-use.csv" 2>/dev/null &
smi=$!
t0=$SECONDS
: > "$W/parts.txt"

left() { echo $(( DEADLINE - (SECONDS - t0) )); }
# the smaller of a part's budget and the time left before the deadline
cap() { local l; l=$(left); (( l < $1 )) && echo $(( l > 0 ? l : 0 )) || echo "$1"; }
descendants() {
  local c
  for c in $(ps -e -o pid=,ppid= | awk -v p="$1" '$2 == p {print $1}'); do echo "$c"; descendants "$c"; done
}
end_tree() {  # TERM, then KILL, a part's process and everything it started
  local pids="$1 $(descendants "$1")"
  kill -TERM $pids 2>/dev/null; sleep 3; kill -KILL $pids 2>/dev/null
}
declare -A PID START CAP
launch() {  # name budget command...: runs in the background, its output in WORK/name.out
  local n=$1 c; c=$(cap "$2"); shift 2
  if (( c < 10 )); then echo "$(printf '%-16s' "$n") skipped: $(left) s left before the deadline" | tee -a "$W/parts.txt"; return; fi
  ( "$@" ) > "$W/$n.out" 2>&1 &
  PID[$n]=$! START[$n]=$SECONDS CAP[$n]=$c
  echo "[$(( SECONDS - t0 )) s] $n started (budget $c s)"
}
await() {  # names...: until each has ended, or been ended at its budget
  local n p rc over
  while :; do
    local busy=0
    for n in "$@"; do
      p=${PID[$n]:-}; [[ -z $p ]] && continue
      if kill -0 "$p" 2>/dev/null && (( SECONDS - START[$n] < CAP[$n] )); then busy=1; continue; fi
      over=""
      if kill -0 "$p" 2>/dev/null; then end_tree "$p"; over="  ended at its budget"; fi
      wait "$p"; rc=$?
      echo "$(printf '%-16s' "$n") exit $rc  $(( SECONDS - START[$n] )) s$over" | tee -a "$W/parts.txt"
      PID[$n]=""
    done
    (( busy )) || return 0
    sleep 1
  done
}
has() { [[ " $PARTS " == *" $1 "* ]]; }

echo "== phase 1: tests and warm-ups, the GPU shared ($(left) s to the deadline)"
T1=${T_PHASE1:-200}
lanes=()
if has tests; then
  # the registry tests in three lanes (op families, models, captured training), each class bounded inside its lane
  launch wire-ops "$T1" env OUT="$W/wire-ops" DIR="$DIR" MATCH='\.ops\.' T_CLASS=120 bash "$here/wire-tests.sh"
  launch wire-models "$T1" env OUT="$W/wire-models" DIR="$DIR" MATCH='\.zoo\.' SKIP='EveryArchitectureGraph' T_CLASS=150 \
    bash "$here/wire-tests.sh"
  launch wire-graph "$T1" env OUT="$W/wire-graph" DIR="$DIR" MATCH='EveryArchitectureGraph' T_GRAPH=$(( T1 - 10 )) \
    bash "$here/wire-tests.sh"
  launch zoo-k-tests "$T1" env OUT="$W/zoo-kernels" DIR="$DIR" STAGES=tests T_TESTS=$(( T1 - 10 )) bash "$here/zoo-kernels.sh"
  launch attn-wgmma "$T1" env OUT="$W/attn" DIR="$DIR" STAGES=tests FLASH_KERNELS=wgmma T_TESTS=$(( T1 / 2 - 5 )) \
    bash "$here/attn-kernels.sh"
  launch attn-mma "$T1" env OUT="$W/attn-mma" DIR="$DIR" STAGES=tests TESTS= FLASH_KERNELS=mma_sync T_TESTS=$(( T1 - 10 )) \
    bash "$here/attn-kernels.sh"
  lanes+=(wire-ops wire-models wire-graph zoo-k-tests attn-wgmma attn-mma)
fi
# warm-ups: fla's kernels compiled at the timed runs' shapes (batch 2 specialises as batch 8 does), and the attention
# benchmark's NVRTC variants; nothing they time is kept
export CLASSPATH="$DIR/jars/*"
if has zoo; then
  mkdir -p "$W/warm"
  launch warm-fla-1 "$T1" env FLA_CACHE_RESULTS=0 python3 "$here/zoo_peers.py" --arch hgrn2,lightnet --config-dir "$here/zoo" \
    --batch 2 --seq-len 2048 --steps 2 --measure 1
  launch warm-fla-2 "$T1" env FLA_CACHE_RESULTS=0 python3 "$here/zoo_peers.py" --arch gla,tnl --config-dir "$here/zoo" \
    --batch 2 --seq-len 2048 --steps 2 --measure 1
  lanes+=(warm-fla-1 warm-fla-2)
fi
if has bench; then
  launch warm-fla-ops "$T1" env FLA_CACHE_RESULTS=0 python3 "$here/gla_peer.py" --reps 1 --rounds 1
  launch warm-attn "$T1" /tmp/jre/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx8g \
    fulgur.cuda.bench.AttnMoeBench --out "$W/warm" --reps 1 --rounds 1 --sections attn --attn 1x1024x16x64,1x1024x16x128
  lanes+=(warm-fla-ops warm-attn)
fi
(( ${#lanes[@]} )) && await "${lanes[@]}"

echo "== phase 2: timings, the GPU alone ($(left) s to the deadline)"
if has bench; then
  tb=${T_KBENCH:-45} tp=${T_KPEER:-45}
  launch zoo-k-bench $(( tb + tp + 10 )) env OUT="$W/zoo-kernels" DIR="$DIR" STAGES="bench peer" T_BENCH="$tb" T_PEER="$tp" \
    bash "$here/zoo-kernels.sh"
  await zoo-k-bench
  tb=${T_ABENCH:-45} tp=${T_APEER:-30}
  launch attn-bench $(( tb + tp + 10 )) env OUT="$W/attn" DIR="$DIR" STAGES="bench peer" T_BENCH="$tb" T_PEER="$tp" \
    bash "$here/attn-kernels.sh"
  await attn-bench
fi
# the architectures last, in the time left (the references train after fulgur's runs, in the order of ARCHS)
if has zoo; then
  launch zoo "${T_ZOO:-260}" env OUT="$W/zoo" DIR="$DIR" BATCHES=8 ROUNDS=1 T_RUN="${T_ZOO_RUN:-90}" bash "$here/zoo_bench.sh"
  await zoo
  [[ -f $W/zoo/zoo.jsonl ]] && python3 "$here/zoo_table.py" --table "$W/zoo/zoo.jsonl" > "$W/zoo/zoo.md"
fi
kill "$smi" 2>/dev/null

{
  echo "=================== zoo round: $(cat "$W/gpu.txt"); $(cat "$W/python.txt"); $(( SECONDS - t0 )) s"
  cat "$W/parts.txt"
  echo "-- test classes (exit, seconds, counts)"
  cat "$W"/wire-*/summary.txt 2>/dev/null
  grep -hE "tests (successful|failed|aborted)|exit" "$W/zoo-kernels/tests.log" "$W/attn/tests.log" "$W/attn-mma/tests.log" 2>/dev/null
  echo "-- failures"
  grep -hE "^\[(FAILED|ABORTED)\]|FAILED" "$W"/wire-*/*.log "$W/zoo-kernels/tests.log" "$W/attn/tests.log" \
    "$W/attn-mma/tests.log" 2>/dev/null | head -60
  echo "-- architectures against their references (batch 8, T = 2048)"
  cat "$W/zoo/zoo.md" 2>/dev/null
  echo "-- family kernels against fla"
  sed -n '/^=== fulgur op-family/,/^$/p' "$W/zoo-kernels/bench.log" 2>/dev/null
  sed -n '/^=== chunk_gla against/,/^$/p;/^=== fla peers/,$p' "$W/zoo-kernels/peer.log" 2>/dev/null
  echo "-- attention and MoE against PyTorch"
  grep -hE "^=== |^(flash|paged|MoE|attention|decode|moe)|FAILED" "$W/attn/bench.log" 2>/dev/null
  grep -hE "^(torch|flash_attn|===|\|)|FAILED|Error" "$W/attn/peer.log" 2>/dev/null
} > "$W/summary.txt"
cat "$W/summary.txt"
cp "$W/summary.txt" "$W/parts.txt" "$OUT/"
cp "$W/zoo/zoo.md" "$W/zoo/zoo.jsonl" "$OUT/" 2>/dev/null
tar czf "$OUT/logs.tar.gz" -C "$W" --exclude=dump --exclude=checkpoint .
