#!/usr/bin/env bash
# fulgur's CPU GEMM beside libtorch's matmul in one JVM (fulgur-bench-torch, built with -Ptorch-peer; libtorch's
# native library comes from Maven Central inside a jar, DJL_OFFLINE keeps DJL from downloading anything at run time).
#   scripts/gemm-torch-peer.sh [--rounds N] [MxNxK[:NN|NT|TN|TT] ...]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/java-home.sh
# the reactor's own jars (not the shared local repository's), then libtorch's and DJL's
./mvnw -q -B -Ptorch-peer package dependency:build-classpath -DskipTests -Dmaven.javadoc.skip=true \
  -Dmdep.outputFile=target/classpath.txt -pl fulgur-bench-torch -am >&2
cp=$(cat fulgur-bench-torch/target/classpath.txt)
export DJL_OFFLINE=true
exec "$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC \
  -cp "fulgur-bench-torch/target/fulgur-bench-torch-0.1.0-SNAPSHOT.jar:$cp" fulgur.bench.GemmTorchPeer "$@" \
  2> >(grep -v "^WARNING: Using incubator modules" >&2)
