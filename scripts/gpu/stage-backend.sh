#!/usr/bin/env bash
# Stages what scripts/gpu/run-backend.sh needs on a GPU host without a JDK or Maven (the CUDA backend's tests,
# the TNL training benchmark and its PyTorch peer, the NCCL check, training from the CLI on the GPU, the serving
# benchmark and its peer):
#   DIR/jars/      fulgur-core, fulgur-cuda (+ tests jar: GPU tests and benchmarks; kernel fatbins inside when the build
#                  had nvcc), fulgur-dist (+ tests jar: NcclCheck, DistTrainingCheck, SpBenchmark, GpuSequenceParallelCheck), fulgur-serve (+ tests
#                  jar: the engine's GPU tests; its HTTP server's Jetty is not staged: EngineBench runs the engine
#                  in-process), fulgur-bench (EngineBench),
#                  Jackson, JUnit, AssertJ
#                  and the CLI (fulgur-cli's own jar, picocli and xchart: `java -cp 'DIR/jars/*' fulgur.cli.Main train ...`;
#                  `serve` needs the HTTP server's libraries, not staged: the shaded fulgur.jar would not fit beside a
#                  peer's sources in what a device run carries)
#   DIR/jre.tgz    a jlink'ed Java 25 runtime with jdk.incubator.vector (unpacks to jre/; kept if present)
#   DIR/run-backend.sh, DIR/run-multi.sh (+ sp_table.py), DIR/tnl_torch.py, DIR/bench_peers.py, DIR/zoo-kernels.sh (+ gla_peer.py),
#   DIR/attn-kernels.sh (+ attn_peer.py): the op-family kernels' tests, benchmarks and PyTorch peers; DIR/wire-tests.sh: the
#   family kernels through the registry, in the ops and every model; DIR/longseq.sh (long sequences)
#   DIR/gemm_cpu_peer.sh, DIR/gemm_cpu_torch.py (the CPU GEMM against PyTorch's; fulgur-bench's jar is in jars/)
#   DIR/serve-gpu.sh, DIR/serve_turns.py, DIR/serve_peer.py, DIR/serve_table.py (the serving tests, benchmark and peer)
#   DIR/tnl_step_kernels.sh (the TNL step in named configurations, e.g. with and without kernel families, alternating)
# usage: scripts/gpu/stage-backend.sh DIR        (from the repository root)
set -euo pipefail
dir=${1:?usage: scripts/gpu/stage-backend.sh DIR}
mkdir -p "$dir/jars"
./mvnw -q -B -o install -DskipTests -Dmaven.javadoc.skip=true -Dmaven.source.skip=true -pl fulgur-core,fulgur-cuda,fulgur-dist,fulgur-serve,fulgur-cli,fulgur-bench
rm -f "$dir"/jars/*.jar
./mvnw -q -B -o dependency:copy-dependencies -pl fulgur-core,fulgur-cuda -DincludeScope=test -DexcludeArtifactIds=jqwik,jqwik-api,jqwik-engine,jqwik-web,jqwik-time,byte-buddy,archunit \
    -DoutputDirectory="$(cd "$dir" && pwd)/jars"
# this checkout's own jars (the shared local repository may hold another checkout's build)
cp fulgur-core/target/fulgur-core-0.1.0-SNAPSHOT.jar fulgur-cuda/target/fulgur-cuda-0.1.0-SNAPSHOT.jar fulgur-cuda/target/fulgur-cuda-0.1.0-SNAPSHOT-tests.jar fulgur-dist/target/fulgur-dist-0.1.0-SNAPSHOT.jar \
    fulgur-dist/target/fulgur-dist-0.1.0-SNAPSHOT-tests.jar fulgur-serve/target/fulgur-serve-0.1.0-SNAPSHOT.jar \
    fulgur-serve/target/fulgur-serve-0.1.0-SNAPSHOT-tests.jar \
    fulgur-bench/target/fulgur-bench-0.1.0-SNAPSHOT.jar "$dir/jars/"
./mvnw -q -B -o dependency:copy-dependencies -pl fulgur-cli -DincludeArtifactIds=picocli,xchart \
    -DoutputDirectory="$(cd "$dir" && pwd)/jars"
cp fulgur-cli/target/fulgur-cli-0.1.0-SNAPSHOT.jar "$dir/jars/"
rm -f "$dir/fulgur.jar"
cp scripts/gpu/run-backend.sh scripts/gpu/run-multi.sh scripts/gpu/sp_table.py scripts/gpu/tnl_torch.py scripts/gpu/bench_peers.py \
    scripts/gpu/zoo-kernels.sh scripts/gpu/gla_peer.py scripts/gpu/attn-kernels.sh scripts/gpu/attn_peer.py scripts/gpu/wire-tests.sh \
    scripts/gpu/gemm_cpu_peer.sh scripts/gpu/gemm_cpu_torch.py scripts/gpu/serve-gpu.sh scripts/gpu/serve_turns.py scripts/gpu/serve_peer.py \
    scripts/gpu/serve_table.py scripts/gpu/longseq.sh scripts/gpu/tnl_step_kernels.sh "$dir/"
rm -rf "$dir/kcache"
. scripts/java-home.sh
if [[ ! -f $dir/jre.tgz ]]; then
  tmp=$(mktemp -d)
  "$JAVA_HOME/bin/jlink" --add-modules java.base,java.logging,java.management,java.sql,jdk.unsupported,jdk.incubator.vector \
      --strip-debug --no-header-files --no-man-pages --compress=zip-9 --output "$tmp/jre"
  tar czf "$dir/jre.tgz" -C "$tmp" jre
  rm -rf "$tmp"
fi
du -sh "$dir" "$dir"/*
