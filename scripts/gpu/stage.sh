#!/usr/bin/env bash
# Stages what scripts/gpu/run-gpu.sh needs on a GPU host that has no JDK or Maven:
#   DIR/jars/     fulgur-cuda jar, its tests jar, the test dependencies (JUnit, AssertJ)
#   DIR/*.sh|py   the GPU scripts
#   DIR/jre.tgz   a jlink'ed Java 25 runtime (unpacks to jre/; skipped if present)
# usage: scripts/gpu/stage.sh DIR        (from the repository root)
# On the GPU host: tar xzf DIR/jre.tgz -C /tmp && JAVA=/tmp/jre/bin/java JARS=DIR/jars bash DIR/run-gpu.sh
set -euo pipefail
dir=${1:?usage: scripts/gpu/stage.sh DIR}
./mvnw -q -B install -DskipTests -pl fulgur-cuda -am
mkdir -p "$dir/jars"
rm -f "$dir"/jars/*.jar
./mvnw -q -B dependency:copy-dependencies -pl fulgur-cuda -DincludeScope=test -DoutputDirectory="$(cd "$dir" && pwd)/jars"
cp fulgur-cuda/target/fulgur-cuda-*.jar "$dir/jars/"
cp scripts/gpu/*.sh scripts/gpu/*.py "$dir/"
if [[ ! -f $dir/jre.tgz ]]; then
  jdk=${JAVA_HOME:-$(ls -d /usr/lib/jvm/*25* 2>/dev/null | head -1)}
  tmp=$(mktemp -d)
  "$jdk/bin/jlink" --add-modules java.base,java.logging,java.management,jdk.unsupported \
      --strip-debug --no-header-files --no-man-pages --compress=zip-9 --output "$tmp/jre"
  tar czf "$dir/jre.tgz" -C "$tmp" jre
  rm -rf "$tmp"
fi
du -sh "$dir"
