#!/usr/bin/env bash
# The zoo training table on one GPU: every architecture trained by fulgur (`fulgur train --config … --device cuda
# --precision bf16`) and by its reference implementation (scripts/gpu/zoo_peers.py) from the same config.json
# (scripts/gpu/zoo/*.json: width 1024, 12 layers, vocabulary 257, untied head), T = 2048, AdamW, median of the last 15
# of 25 steps. In each round fulgur trains every architecture (one JVM each), then the references train theirs (one
# Python process for all of them, so PyTorch, transformers and fla are imported once); even rounds take the references
# first. Rows go to $OUT/zoo.jsonl; the table to $OUT/zoo.md.
#   DIR=staged-dir OUT=out/zoo bash scripts/gpu/zoo_bench.sh
# Optional: ARCHS (default "hgrn2 lightnet llama metala minimax lcsm tnl gla"), BATCHES (default "8"), SEQ (2048),
# ROUNDS (1), STEPS (25), T_RUN (seconds per run and per reference architecture, 240), GRAPH (eager: the default;
# graph: fulgur's step captured as a CUDA graph, `train --cuda-graph`; both: each fulgur run twice, eager then graph).
# Needs flash-linear-attention's sources in $PEER_DIR (.peer). No reference trains LCSM or MetaLA at this size; fla's
# GLA stands beside MetaLA as the nearest gated model, with no fulgur run of its own.
# Each fulgur run's log (OUT/f-ARCH-bB-rR-MODE.log) names the kernel every op family takes ("fulgur: gla on cuda: kernel ...").
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
DIR=${DIR:?DIR: the folder staged by scripts/gpu/stage-backend.sh}
OUT=${OUT:-out/zoo}
ARCHS=${ARCHS:-hgrn2 lightnet llama metala minimax lcsm tnl gla}
BATCHES=${BATCHES:-8}
SEQ=${SEQ:-2048}
ROUNDS=${ROUNDS:-1}
STEPS=${STEPS:-25}
T_RUN=${T_RUN:-240}
GRAPH=${GRAPH:-eager}
case $GRAPH in eager) MODES=eager ;; graph) MODES=graph ;; both) MODES="eager graph" ;; *) echo "GRAPH must be eager, graph or both, got $GRAPH" >&2; exit 2 ;; esac
mkdir -p "$OUT"
if [[ ! -x /tmp/jre/bin/java ]]; then tar xzf "$DIR/jre.tgz" -C /tmp; fi
export FULGUR_KERNEL_CACHE=${FULGUR_KERNEL_CACHE:-/tmp/fulgur-kernels}
corpus=/tmp/zoo-corpus.txt
[[ -f $corpus ]] || head -c 30000000 /dev/urandom | base64 > "$corpus"

fulgur_run() {  # arch batch round mode
  local a=$1 b=$2 r=$3 m=$4 run="$OUT/f-$1-b$2-r$3-$4" flag="" impl=fulgur
  [[ $a == gla ]] && return 0
  [[ $m == graph ]] && { flag=--cuda-graph; impl="fulgur --cuda-graph"; }
  rm -rf "$run"
  timeout "$T_RUN" /tmp/jre/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx48g -Dfulgur.cuda.verbose=true \
    -cp "$DIR/jars/*" fulgur.cli.Main train --config "$here/zoo/$a.json" --device cuda --precision bf16 --batch-size "$b" \
    --seq-len "$SEQ" --steps "$STEPS" --data "$corpus" --eval-batches 1 $flag --out "$run" > "$run.log" 2>&1
  local rc=$?
  python3 "$here/zoo_table.py" --fulgur-run "$run" --arch "$a" --batch "$b" --seq-len "$SEQ" --rc "$rc" \
    --measure 15 --impl "$impl" >> "$OUT/zoo.jsonl"
  rm -rf "$run/checkpoint"  # 1.8 GB a run at these sizes; the table needs only metrics.jsonl
  echo "fulgur $a batch $b ($m): $(tail -n 1 "$OUT/zoo.jsonl")"
}
fulgur_side() {  # round
  for a in $ARCHS; do for b in $BATCHES; do for m in $MODES; do fulgur_run "$a" "$b" "$1" "$m"; done; done; done
}
peer_side() {  # round
  local list="" n=0
  for a in $ARCHS; do
    [[ $a == lcsm || $a == metala ]] && continue
    list="$list${list:+,}$a"; n=$((n + 1))
  done
  [[ -z $list ]] && return 0
  for b in $BATCHES; do
    local before; before=$(wc -l < "$OUT/zoo.jsonl")
    timeout $((T_RUN * n + 60)) python3 "$here/zoo_peers.py" --arch "$list" --config-dir "$here/zoo" --batch "$b" \
      --seq-len "$SEQ" --steps "$STEPS" --arch-timeout "$T_RUN" >> "$OUT/zoo.jsonl" 2> "$OUT/p-b$b-r$1.err"
    local rc=$? a
    for a in ${list//,/ }; do  # an architecture the process did not reach (it was killed or crashed)
      tail -n +$((before + 1)) "$OUT/zoo.jsonl" | grep -q "\"arch\": \"$a\"" ||
        echo "{\"side\": \"reference\", \"arch\": \"$a\", \"batch\": $b, \"error\": \"not reached (exit $rc)\"}" >> "$OUT/zoo.jsonl"
    done
    tail -n +$((before + 1)) "$OUT/zoo.jsonl" | sed 's/^/reference: /'
  done
}
touch "$OUT/zoo.jsonl"
for r in $(seq 1 "$ROUNDS"); do
  echo "== round $r"
  if (( r % 2 == 1 )); then fulgur_side "$r"; peer_side "$r"; else peer_side "$r"; fulgur_side "$r"; fi
done
python3 "$here/zoo_table.py" --table "$OUT/zoo.jsonl" | tee "$OUT/zoo.md"
