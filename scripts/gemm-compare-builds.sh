#!/usr/bin/env bash
# The CPU GEMM of a git revision (A) against the working tree's (B), called in turn in one JVM on the same operands
# (fulgur.bench.GemmBuilds): the ratio B / A of the medians per shape. Builds REV's fulgur-core in a temporary worktree.
#   scripts/gemm-compare-builds.sh REV [--calls N] [MxNxK[:NN|NT|TN|TT] ...]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/java-home.sh
if [[ $# -lt 1 ]]; then echo "usage: scripts/gemm-compare-builds.sh REV [--calls N] [MxNxK[:NN|NT|TN|TT] ...]" >&2; exit 2; fi
rev=$1; shift
git rev-parse --verify -q "$rev^{commit}" >/dev/null || { echo "gemm-compare-builds: no such revision: $rev" >&2; exit 2; }
tree=$(mktemp -d)
trap 'git worktree remove --force "$tree" >/dev/null 2>&1 || rm -rf "$tree"' EXIT
git worktree add -q --detach "$tree" "$rev"
(cd "$tree" && ./mvnw -q -B compile -Djacoco.skip=true -pl fulgur-core >&2)
./mvnw -q -B compile -Djacoco.skip=true -pl fulgur-bench -am >&2
"$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC \
  -cp fulgur-bench/target/classes:fulgur-core/target/classes fulgur.bench.GemmBuilds "$tree/fulgur-core/target/classes" fulgur-core/target/classes "$@" \
  2> >(grep -v "^WARNING: Using incubator modules" >&2)
