#!/usr/bin/env bash
# Makes every golden fixture with the reference implementations themselves (GPU host: python3 with torch, transformers,
# triton, safetensors). Run from the repository root:
#   bash scripts/golden/make_fixtures.sh [OUT]        (OUT defaults to $OUT or out/golden-fixtures)
# Expects the reference code under .peer/ (never committed):
#   .peer/flash-linear-attention   fla-org/flash-linear-attention @ bc3b101 (repository root; fla/ inside)
#   .peer/MetaLA                   BICLab/MetaLA @ 3353262 (metala/ inside)
#   .peer/TNL-MoE                  weigao266/TNL-MoE @ 007576f (smoe/models/tnl/ = OpenNLPLab's TransNormerLLM HF code)
#   .peer/Lcsm                     Doraemonzzz/Lcsm @ cb90ed8 (read for the parameterisation; not imported)
#   .peer/einops                   arogozhnikov/einops (only used when the host has no einops)
# each optionally with a COMMIT file holding the commit id (recorded in meta.json).
# Each fixture runs in its own process with a time limit; one failure is reported and the others go on. Writes
# OUT/golden/<name>/... and OUT/golden/roundtrip/<name>/..., packs them into OUT/golden-fixtures.tar.gz (extract it in
# fulgur-core/src/test/resources/) and prints a summary. Exit status: the number of fixtures that failed.
set -uo pipefail
out=${1:-${OUT:-out/golden-fixtures}}
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-python3}
mkdir -p "$out"
export TRITON_F32_DEFAULT=ieee use_triton=False PYTHONUNBUFFERED=1
names=(tnl hgrn2 metala lightnet lcsm lcsm-ssm llama linear-llama minimax roundtrip-minimax roundtrip-tnl)
declare -A status secs
failed=0
start=$(date +%s)
for n in "${names[@]}"; do
  t0=$(date +%s)
  timeout "${FIXTURE_TIMEOUT:-120}" "$py" "$here/run_one.py" "$n" "$out" >"$out/$n.log" 2>&1
  rc=$?
  secs[$n]=$(( $(date +%s) - t0 ))
  if [[ $rc -eq 0 ]]; then status[$n]=ok; else status[$n]="FAILED (rc $rc, see $n.log)"; failed=$((failed + 1)); fi
  echo "== $n: ${status[$n]} in ${secs[$n]} s"
  [[ $rc -ne 0 ]] && tail -n 25 "$out/$n.log" | sed 's/^/   | /'
done
"$py" "$here/summary.py" "$out" | tee "$out/summary.txt"
mkdir -p "$out/golden" "$out/logs"
cp "$out"/*.log "$out/summary.txt" "$out/logs/" 2>/dev/null
tar czf "$out/golden-fixtures.tar.gz" -C "$out" golden
tar czf "$out/golden-logs.tar.gz" -C "$out" logs
echo "packed $(du -h "$out/golden-fixtures.tar.gz" | cut -f1) into $out/golden-fixtures.tar.gz (logs: golden-logs.tar.gz) in" \
     "$(( $(date +%s) - start )) s; extract with: tar xzf golden-fixtures.tar.gz -C fulgur-core/src/test/resources/ ; $failed failed"
exit $failed
