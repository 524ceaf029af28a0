#!/usr/bin/env bash
# The multi-GPU checks and measurements on a host with N GPUs, from files staged by scripts/gpu/stage-backend.sh:
#   1. NcclCheck on N ranks (collectives; a TNL step with LASP-2 and with LASP against one process; data parallel
#      with gradients all-reduced in device memory), then DistTrainingCheck (ZeRO, CO2, split experts against the CPU)
#   2. 30 training steps on one GPU against LASP-2 and LASP over N GPUs: the loss curves must agree
#   3. scaling: TOKENS tokens per GPU (default 16384 32768), total length N × that, LASP-2 against LASP, a 24-layer
#      width-1024 TNL; tokens/s and peak memory per GPU (scripts/gpu/sp_table.py)
#   4. with N ≥ 4: data parallel × sequence parallel (dp 2 × sp N/2), again against one GPU
#   DIR=staged-dir OUT=out/multi bash DIR/run-multi.sh        (STAGES="check same scale dpsp", STEPS, TOKENS)
set -uo pipefail
DIR=${DIR:-$(cd "$(dirname "$0")" && pwd)}
OUT=${OUT:-out/multi}
STAGES=${STAGES:-check same scale dpsp}
STEPS=${STEPS:-6}
TOKENS=${TOKENS:-16384 32768}
mkdir -p "$OUT"
if [[ ! -x /tmp/jre/bin/java ]]; then tar xzf "$DIR/jre.tgz" -C /tmp; fi
N=$(nvidia-smi -L | wc -l)
echo "$N GPUs"
J="/tmp/jre/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED"
export CLASSPATH="$DIR/jars/*"
F="$J -Xmx64g fulgur.cli.Main"
HERE=$(cd "$(dirname "$0")" && pwd)
TABLE="python3 $HERE/sp_table.py"

if [[ $STAGES == *check* ]]; then
  echo "== NcclCheck on $N ranks"
  for ((r = 0; r < N; r++)); do
    CLASSPATH="$DIR/jars/*" RANK=$r WORLD_SIZE=$N LOCAL_RANK=$r LOCAL_WORLD_SIZE=$N MASTER_ADDR=127.0.0.1 MASTER_PORT=29521 \
      timeout 180 $J fulgur.dist.nccl.NcclCheck > "$OUT/nccl-$r.log" 2>&1 &
  done
  wait
  grep -E "^\[|CHECK" "$OUT/nccl-0.log"
  echo "== ZeRO, CO2 and split experts on $N ranks"
  for ((r = 0; r < N; r++)); do
    CLASSPATH="$DIR/jars/*" RANK=$r WORLD_SIZE=$N LOCAL_RANK=$r LOCAL_WORLD_SIZE=$N MASTER_ADDR=127.0.0.1 MASTER_PORT=29522 \
      timeout 300 $J fulgur.dist.train.DistTrainingCheck > "$OUT/dist-training-$r.log" 2>&1 &
  done
  wait
  grep -E "^\[|CHECK" "$OUT/dist-training-0.log"
fi
SMALL="train --task mqar --steps 30 --seq-len $((128 * N)) --batch-size 8 --device cuda"
if [[ $STAGES == *same* ]]; then
  echo "== one GPU against LASP-2 and LASP on $N GPUs"
  timeout 150 $F $SMALL --out "$OUT/same-one" > "$OUT/same-one.log" 2>&1
  for a in lasp2 lasp; do
    timeout 200 $F launch --nproc-per-node "$N" $SMALL --backend nccl --sp "$N" --sp-algo $a --out "$OUT/same-$a" > "$OUT/same-$a.log" 2>&1
  done
  $TABLE same "$OUT" same-one same-lasp2 same-lasp
fi
if [[ $STAGES == *scale* ]]; then
  echo "== scaling ($TOKENS tokens per GPU)"
  BIG="train --task mqar --steps $STEPS --batch-size 1 --dim 1024 --layers 24 --heads 8 --device cuda --eval-every 0"
  for t in $TOKENS; do
    timeout 300 $F $BIG --seq-len "$t" --out "$OUT/scale-1-$t-single" > "$OUT/scale-1-$t.log" 2>&1
    for a in lasp2 lasp; do
      timeout 400 $F launch --nproc-per-node "$N" $BIG --seq-len $((N * t)) --backend nccl --sp "$N" --sp-algo $a \
        --out "$OUT/scale-$N-$t-$a" > "$OUT/scale-$N-$t-$a.log" 2>&1
    done
  done
  $TABLE scaling "$OUT"
fi
if [[ $STAGES == *dpsp* && $N -ge 4 ]]; then
  echo "== data parallel 2 × sequence parallel $((N / 2))"
  DPSP="train --task mqar --steps 30 --seq-len $((64 * N)) --batch-size 8 --device cuda"
  timeout 150 $F $DPSP --out "$OUT/dpsp-one" > "$OUT/dpsp-one.log" 2>&1
  timeout 200 $F launch --nproc-per-node "$N" $DPSP --backend nccl --dp 2 --sp $((N / 2)) --out "$OUT/dpsp-$N" > "$OUT/dpsp-$N.log" 2>&1
  $TABLE same "$OUT" dpsp-one "dpsp-$N"
fi
grep -hE "rror|xception" "$OUT"/*.log | sort | uniq -c | head -20
