#!/usr/bin/env bash
# The zoo training table on one GPU: every architecture trained by fulgur (`fulgur train --config … --device cuda
# --precision bf16`) and by its reference implementation (scripts/gpu/zoo_peers.py) from the same config.json
# (scripts/gpu/zoo/*.json: width 1024, 12 layers, vocabulary 257, untied head), T = 2048, AdamW, median of the last 15
# of 25 steps. Rounds alternate fulgur and the reference. Rows go to $OUT/zoo.jsonl; the table to $OUT/zoo.md.
#   DIR=staged-dir OUT=out/zoo bash scripts/gpu/zoo_bench.sh
# Optional: ARCHS (default "hgrn2 lightnet llama metala minimax lcsm tnl gla"), BATCHES (default "8"), SEQ (2048),
# ROUNDS (1), STEPS (25), T_RUN (seconds per run, 240). Needs flash-linear-attention's sources in $PEER_DIR (.peer).
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
mkdir -p "$OUT"
if [[ ! -x /tmp/jre/bin/java ]]; then tar xzf "$DIR/jre.tgz" -C /tmp; fi
export FULGUR_KERNEL_CACHE=${FULGUR_KERNEL_CACHE:-/tmp/fulgur-kernels}
corpus=/tmp/zoo-corpus.txt
[[ -f $corpus ]] || head -c 30000000 /dev/urandom | base64 > "$corpus"

fulgur_run() {  # arch batch round
  local a=$1 b=$2 r=$3 run="$OUT/f-$1-b$2-r$3"
  [[ $a == gla ]] && return 0  # fla's GLA stands beside MetaLA as the nearest gated peer; fulgur has no 'gla' model
  rm -rf "$run"
  timeout "$T_RUN" /tmp/jre/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx48g \
    -jar "$DIR/fulgur.jar" train --config "$here/zoo/$a.json" --device cuda --precision bf16 --batch-size "$b" \
    --seq-len "$SEQ" --steps "$STEPS" --data "$corpus" --eval-batches 1 --out "$run" > "$run.log" 2>&1
  local rc=$?
  python3 "$here/zoo_table.py" --fulgur-run "$run" --arch "$a" --batch "$b" --seq-len "$SEQ" --rc "$rc" \
    --measure 15 >> "$OUT/zoo.jsonl"
  tail -n 2 "$run.log"
}
peer_run() {
  local a=$1 b=$2
  [[ $a == lcsm || $a == metala ]] && return 0  # no reference trainer at this size (see docs)
  timeout "$T_RUN" python3 "$here/zoo_peers.py" --arch "$a" --config "$here/zoo/$a.json" --batch "$b" \
    --seq-len "$SEQ" --steps "$STEPS" >> "$OUT/zoo.jsonl" 2> "$OUT/p-$a-b$b.err" || echo "{\"side\": \"reference\", \"arch\": \"$a\", \"batch\": $b, \"error\": \"exit $? (timeout or crash)\"}" >> "$OUT/zoo.jsonl"
  tail -n 1 "$OUT/zoo.jsonl"
}
for r in $(seq 1 "$ROUNDS"); do
  for a in $ARCHS; do
    for b in $BATCHES; do
      echo "== round $r: $a, batch $b"
      if (( r % 2 == 1 )); then fulgur_run "$a" "$b" "$r"; peer_run "$a" "$b"; else peer_run "$a" "$b"; fulgur_run "$a" "$b" "$r"; fi
    done
  done
done
python3 "$here/zoo_table.py" --table "$OUT/zoo.jsonl" | tee "$OUT/zoo.md"
