package fulgur.dist;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;

class DistEnvTest {
    @Test
    void torchrunVariables() {
        DistEnv e = DistEnv.from(Map.of(
                "RANK",
                "5",
                "WORLD_SIZE",
                "8",
                "LOCAL_RANK",
                "1",
                "LOCAL_WORLD_SIZE",
                "4",
                "MASTER_ADDR",
                "n1",
                "MASTER_PORT",
                "1234"));
        assertThat(e).isEqualTo(new DistEnv(5, 8, 1, 4, "n1", 1234, e.source()));
        assertThat(e.asEnvironment()).containsEntry("LOCAL_RANK", "1").containsEntry("MASTER_PORT", "1234");
    }

    @Test
    void slurmVariables() {
        DistEnv e = DistEnv.from(Map.of(
                "SLURM_PROCID",
                "3",
                "SLURM_NTASKS",
                "8",
                "SLURM_LOCALID",
                "1",
                "SLURM_NTASKS_PER_NODE",
                "2(x4)",
                "SLURM_JOB_NODELIST",
                "gpu[007-010,12],cpu1",
                "SLURM_JOB_ID",
                "123456"));
        assertThat(e.rank()).isEqualTo(3);
        assertThat(e.worldSize()).isEqualTo(8);
        assertThat(e.localRank()).isEqualTo(1);
        assertThat(e.localWorldSize()).isEqualTo(2);
        assertThat(e.masterAddr()).isEqualTo("gpu007");
        assertThat(e.masterPort()).isEqualTo(20000 + 123456 % 20000);
        assertThat(DistEnv.firstHost("a,b")).isEqualTo("a");
        assertThat(DistEnv.firstHost("node[3-4]x")).isEqualTo("node3x");
    }

    @Test
    void singleProcessWithoutVariables() {
        assertThat(DistEnv.from(Map.of()).worldSize()).isEqualTo(1);
    }

    @Test
    void badValuesAreNamed() {
        assertThatThrownBy(() -> DistEnv.from(Map.of("RANK", "4", "WORLD_SIZE", "4")))
                .hasMessageContaining("rank 4 is outside [0, 4)");
        assertThatThrownBy(() -> DistEnv.from(Map.of("RANK", "0"))).hasMessageContaining("WORLD_SIZE is not set");
        assertThatThrownBy(() -> DistEnv.from(Map.of("RANK", "x", "WORLD_SIZE", "2")))
                .hasMessageContaining("RANK='x' is not an integer");
    }
}
