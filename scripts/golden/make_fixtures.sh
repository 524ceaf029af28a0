#!/usr/bin/env bash
# Makes the golden fixtures with the reference implementations themselves (GPU host: python3 with torch, transformers,
# triton, safetensors). Run from the repository root:
#   bash scripts/golden/make_fixtures.sh [OUT]        (OUT defaults to $OUT or out/golden-fixtures)
#   ONLY="hgrn2 lightnet" bash scripts/golden/make_fixtures.sh OUT     (only the named fixtures)
# Names: tnl hgrn2 metala lightnet lcsm lcsm-ssm llama linear-llama minimax roundtrip-minimax roundtrip-tnl.
# JOBS (default 4) fixtures run at once, each in its own process (one GPU is plenty: the models are tiny; running
# them side by side hides the start-up and Triton compile time). FIXTURE_TIMEOUT (default 120 s) bounds each.
# Expects the reference code under .peer/ (never committed):
#   .peer/flash-linear-attention   fla-org/flash-linear-attention @ bc3b101 (repository root; fla/ inside)
#   .peer/MetaLA                   BICLab/MetaLA @ 3353262 (metala/ inside)
#   .peer/TNL-MoE                  weigao266/TNL-MoE @ 007576f (smoe/models/tnl/ = OpenNLPLab's TransNormerLLM HF code)
#   .peer/Lcsm                     Doraemonzzz/Lcsm @ cb90ed8 (read for the parameterisation; not imported)
#   .peer/einops                   arogozhnikov/einops (only used when the host has no einops)
# each optionally with a COMMIT file holding the commit id (recorded in meta.json).
# One failure is reported and the others go on. Writes OUT/golden/<name>/... and OUT/golden/roundtrip/<name>/..., packs
# the fixtures that succeeded into OUT/golden-fixtures.tar.gz (extract it in fulgur-core/src/test/resources/) and
# prints a summary. Exit status: the number of fixtures that failed.
set -uo pipefail
out=${1:-${OUT:-out/golden-fixtures}}
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-python3}
all=(tnl hgrn2 metala lightnet lcsm lcsm-ssm llama linear-llama minimax roundtrip-minimax roundtrip-tnl)
read -r -a names <<< "${ONLY:-${all[*]}}"
for n in "${names[@]}"; do
  [[ " ${all[*]} " == *" $n "* ]] || { echo "make_fixtures.sh: unknown fixture '$n' in ONLY (known: ${all[*]})" >&2; exit 64; }
done
jobs_max=${JOBS:-4}
[[ $jobs_max =~ ^[1-9][0-9]*$ ]] || { echo "make_fixtures.sh: JOBS must be a positive integer, got '$jobs_max'" >&2; exit 64; }
mkdir -p "$out"
export TRITON_F32_DEFAULT=ieee use_triton=False PYTHONUNBUFFERED=1

fixture_dir() {  # the folder a fixture writes, relative to OUT
  case $1 in roundtrip-*) echo "golden/roundtrip/${1#roundtrip-}" ;; *) echo "golden/$1" ;; esac
}

start=$(date +%s)
declare -A t0_of
for n in "${names[@]}"; do
  while (( $(jobs -rp | wc -l) >= jobs_max )); do wait -n; done
  rm -rf "${out:?}/$(fixture_dir "$n")" "$out/$n.rc"  # nothing of an earlier run is packed with this one
  t0_of[$n]=$(date +%s)
  ( timeout "${FIXTURE_TIMEOUT:-120}" "$py" "$here/run_one.py" "$n" "$out" >"$out/$n.log" 2>&1
    echo "$? $(( $(date +%s) - ${t0_of[$n]} ))" >"$out/$n.rc" ) &
done
wait
failed=0
ok=()
for n in "${names[@]}"; do
  rc=1 secs=?
  [[ -f $out/$n.rc ]] && read -r rc secs < "$out/$n.rc"
  if [[ $rc -eq 0 ]]; then
    echo "== $n: ok in $secs s"
    ok+=("$(fixture_dir "$n")")
  else
    echo "== $n: FAILED (rc $rc, see $n.log) in $secs s"
    tail -n 25 "$out/$n.log" | sed 's/^/   | /'
    failed=$((failed + 1))
  fi
done
"$py" "$here/summary.py" "$out" | tee "$out/summary.txt"
mkdir -p "$out/logs"
cp "$out"/*.log "$out/summary.txt" "$out/logs/" 2>/dev/null
rm -f "$out/golden-fixtures.tar.gz"
if (( ${#ok[@]} )); then
  tar czf "$out/golden-fixtures.tar.gz" -C "$out" "${ok[@]}"
  packed="packed $(du -h "$out/golden-fixtures.tar.gz" | cut -f1) (${ok[*]}) into $out/golden-fixtures.tar.gz"
else
  packed="nothing to pack"
fi
tar czf "$out/golden-logs.tar.gz" -C "$out" logs
echo "$packed (logs: golden-logs.tar.gz) in $(( $(date +%s) - start )) s; extract with:" \
     "tar xzf golden-fixtures.tar.gz -C fulgur-core/src/test/resources/ ; $failed failed"
exit $failed
