#!/usr/bin/env bash
# fulgur's f32 GEMM on the CPU against PyTorch's CPU matmul at the same shapes and thread count, in alternating
# rounds (fulgur, torch, fulgur, torch, ...), on the GPU host's CPU; a table with each round's ratio goes to OUT.
# Files come from scripts/gpu/stage-backend.sh (jars/ with fulgur-bench, jre.tgz, this script, gemm_cpu_torch.py).
#   DIR=staged-dir OUT=out/gemm-cpu bash DIR/gemm_cpu_peer.sh          (about 100 s with the defaults)
# Optional: ROUNDS (3), THREADS (16), SHAPES (MxNxK[:NN|NT|TN|TT] ...; NT is x·Wᵀ of a linear layer), JOPTS (fulgur's
# JVM options, e.g. -Dfulgur.gemm.kc=256 to try other blocking, or -Dfulgur.gemm.trace=true for where each thread's time
# goes: starting, packing, waiting for panels other threads are packing, computing), BASE_CORE (a fulgur-core jar of another
# revision: after the rounds, fulgur.bench.GemmBuilds times it against the staged one call by call at the same
# thread count, base-build.tsv).
set -uo pipefail
DIR=${DIR:-$(cd "$(dirname "$0")" && pwd)}
OUT=${OUT:-out/gemm-cpu}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-16}
SHAPES=${SHAPES:-1024x1024x1024 4096x4096x1024 4096x3072x768:NT 64x3072x768:NT 16x32000x768:NT 1x3072x768:NT}
mkdir -p "$OUT"
if [[ ! -x /tmp/jre/bin/java ]]; then tar xzf "$DIR/jre.tgz" -C /tmp; fi
JAVA=${JAVA:-/tmp/jre/bin/java}
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cpus; threads $THREADS" | tee "$OUT/machine.txt"
python3 -c 'import torch; print("torch", torch.__version__, torch.__config__.parallel_info().splitlines()[0],
    "CPU capability", torch.backends.cpu.get_cpu_capability())' \
    2>&1 | tee -a "$OUT/machine.txt"
for r in $(seq 1 "$ROUNDS"); do
  echo "== round $r: $(uptime)" | tee "$OUT/load-$r.txt"
  # shellcheck disable=SC2086
  FULGUR_THREADS=$THREADS timeout 90 "$JAVA" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
      -XX:+UseParallelGC ${JOPTS:-} -cp "$DIR/jars/*" fulgur.bench.GemmQuick --tsv $SHAPES 2>"$OUT/fulgur-$r.err" | tee "$OUT/fulgur-$r.tsv"
  grep -h "gemm.trace" "$OUT/fulgur-$r.err"
  # shellcheck disable=SC2086
  timeout 90 python3 "$DIR/gemm_cpu_torch.py" --threads "$THREADS" $SHAPES | tee "$OUT/torch-$r.tsv"
done
python3 - "$OUT" "$ROUNDS" <<'PY' | tee "$OUT/table.md"
import sys
out, rounds = sys.argv[1], int(sys.argv[2])
def read(path):
    rows = {}
    try:
        for line in open(path):
            f = line.rstrip("\n").split("\t")
            if len(f) >= 3:
                rows[f[0].lower().removesuffix(":nn")] = f  # the same size as both tools spell it
    except FileNotFoundError:
        pass
    return rows
print("| round | load (1 min) | size | fulgur GFLOP/s | fraction of FMA peak | torch GFLOP/s | fulgur / torch |")
print("|---|---|---|---|---|---|---|")
for r in range(1, rounds + 1):
    load = open(f"{out}/load-{r}.txt").read().split("load average:")[-1].split(",")[0].strip()
    fu, to = read(f"{out}/fulgur-{r}.tsv"), read(f"{out}/torch-{r}.tsv")
    for size, f in fu.items():
        t = to.get(size)
        ratio = f"{float(f[1]) / float(t[1]):.2f}" if t else "-"
        print(f"| {r} | {load} | {size} | {float(f[1]):.1f} | {float(f[4]):.3f} | {t[1] if t else '-'} | {ratio} |")
PY
if [[ -n ${BASE_CORE:-} ]]; then
  core=$(ls "$DIR"/jars/fulgur-core-*.jar | grep -v -- '-tests.jar' | head -1)
  # shellcheck disable=SC2086
  FULGUR_THREADS=$THREADS timeout 300 "$JAVA" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
      -XX:+UseParallelGC -cp "$DIR/jars/*" fulgur.bench.GemmBuilds "$BASE_CORE" "$core" --calls 20 $SHAPES \
      2> >(grep -v "^WARNING: Using incubator modules" >&2) | tee "$OUT/base-build.tsv"
fi
