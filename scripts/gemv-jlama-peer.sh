#!/usr/bin/env bash
# fulgur's one-row products (the GEMVs of decoding) beside Jlama's f32 GEMV on the same memory, with a plain read of
# the same bytes in the same rounds (fulgur-bench-jlama, built with -Pjlama-peer; Jlama is pure Java from Maven Central).
#   scripts/gemv-jlama-peer.sh [--rounds 10] [--threads 2]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/java-home.sh
# the reactor's own jars (not the shared local repository's), then Jlama's
./mvnw -q -B -Pjlama-peer package dependency:build-classpath -DskipTests -Dmaven.javadoc.skip=true -Dexec.skip=true \
  -Dmdep.outputFile=target/classpath.txt -pl fulgur-bench-jlama -am >&2
cp=$(cat fulgur-bench-jlama/target/classpath.txt)
exec "$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC \
  -Dfulgur.threads="${FULGUR_THREADS:-2}" -cp "fulgur-bench-jlama/target/fulgur-bench-jlama-0.1.0-SNAPSHOT.jar:$cp" \
  fulgur.bench.GemvJlamaPeer "$@" 2> >(grep -v "^WARNING: Using incubator modules\|^SLF4J\|INFO :" >&2)
