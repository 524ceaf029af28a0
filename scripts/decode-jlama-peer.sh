#!/usr/bin/env bash
# fulgur's decoding (TNL and Llama) beside Jlama's (Llama) on the same random-weight ~100M models, each engine in a
# JVM of its own (fulgur-bench-jlama, built with -Pjlama-peer; Jlama is pure Java from Maven Central).
#   scripts/decode-jlama-peer.sh [--rounds N] [--contexts 256,1024,4096] [--tokens 32] [--dir DIR] ...
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/java-home.sh
# the reactor's own jars (not the shared local repository's), then Jlama's
# (-Dexec.skip: the CUDA kernels are not built, nothing here runs on a GPU)
./mvnw -q -B -Pjlama-peer package dependency:build-classpath -DskipTests -Dmaven.javadoc.skip=true -Dexec.skip=true \
  -Dmdep.outputFile=target/classpath.txt -pl fulgur-bench-jlama -am >&2
cp=$(cat fulgur-bench-jlama/target/classpath.txt)
exec "$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC \
  -cp "fulgur-bench-jlama/target/fulgur-bench-jlama-0.1.0-SNAPSHOT.jar:$cp" fulgur.bench.DecodeJlamaPeer "$@" \
  2> >(grep -v "^WARNING: Using incubator modules" >&2)
