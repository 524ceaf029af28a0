#!/usr/bin/env bash
# Stages what scripts/gpu/run-backend.sh needs on a GPU host without a JDK or Maven (the CUDA backend's tests and
# the TNL training benchmark):
#   DIR/jars/      fulgur-core, fulgur-cuda (+ tests jar), Jackson, JUnit, AssertJ
#   DIR/kcache/    kernel cache prebuilt with nvcc for sm_90a / NVRTC 13.0 (a host with another NVRTC compiles)
#   DIR/jre.tgz    a jlink'ed Java 25 runtime with jdk.incubator.vector (unpacks to jre/; kept if present)
#   DIR/run-backend.sh
# usage: scripts/gpu/stage-backend.sh DIR        (from the repository root; needs nvcc for the kernel cache)
set -euo pipefail
dir=${1:?usage: scripts/gpu/stage-backend.sh DIR}
mkdir -p "$dir/jars"
./mvnw -q -B -o install -DskipTests -pl fulgur-core,fulgur-cuda
rm -f "$dir"/jars/*.jar
./mvnw -q -B -o dependency:copy-dependencies -pl fulgur-cuda -DincludeScope=test -DexcludeArtifactIds=jqwik,jqwik-api,jqwik-engine,jqwik-web,jqwik-time \
    -DoutputDirectory="$(cd "$dir" && pwd)/jars"
# this checkout's own jars (the shared local repository may hold another checkout's build)
cp fulgur-core/target/fulgur-core-0.1.0-SNAPSHOT.jar fulgur-cuda/target/fulgur-cuda-*.jar "$dir/jars/"
cp scripts/gpu/run-backend.sh "$dir/"
. scripts/java-home.sh
if command -v nvcc >/dev/null; then
  rm -rf "$dir/kcache"
  "$JAVA_HOME/bin/java" -cp "$dir/jars/*" fulgur.cuda.tools.PrebuildKernels "$dir/kcache" arch=sm_90a nvrtc=13.0
fi
if [[ ! -f $dir/jre.tgz ]]; then
  tmp=$(mktemp -d)
  "$JAVA_HOME/bin/jlink" --add-modules java.base,java.logging,java.management,java.sql,jdk.unsupported,jdk.incubator.vector \
      --strip-debug --no-header-files --no-man-pages --compress=zip-9 --output "$tmp/jre"
  tar czf "$dir/jre.tgz" -C "$tmp" jre
  rm -rf "$tmp"
fi
du -sh "$dir" "$dir"/*
