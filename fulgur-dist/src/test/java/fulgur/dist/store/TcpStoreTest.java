package fulgur.dist.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.dist.DistEnv;
import fulgur.dist.DistTimeoutException;
import fulgur.dist.launch.Launcher;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class TcpStoreTest {

    @Test
    void setGetAddWait() throws Exception {
        try (TcpStore server = TcpStore.serve(0);
                TcpStore client = TcpStore.connect("127.0.0.1", server.port(), Duration.ofSeconds(5))) {
            Thread t = new Thread(() -> {
                try {
                    Thread.sleep(200);
                } catch (InterruptedException e) {
                    throw new RuntimeException(e);
                }
                client.set("late", "v");
            });
            t.start();
            assertThat(server.getString("late", Duration.ofSeconds(10))).isEqualTo("v");
            assertThat(client.add("n", 2)).isEqualTo(2);
            assertThat(server.add("n", 3)).isEqualTo(5);
            assertThat(server.waitFor(List.of("late", "never"), Duration.ofMillis(200)))
                    .containsExactly("never");
            assertThat(client.check(List.of("late", "n"))).isTrue();
            assertThatThrownBy(() -> client.get("missing", Duration.ofMillis(100)))
                    .isInstanceOf(DistTimeoutException.class)
                    .hasMessageContaining("key 'missing' was not set within 100 ms");
            t.join();
        }
    }

    @Test
    void unreachableStoreIsExplained() {
        int port = Launcher.freePort();
        assertThatThrownBy(() -> TcpStore.connect("127.0.0.1", port, Duration.ofMillis(300)))
                .isInstanceOf(DistTimeoutException.class)
                .hasMessageContaining("cannot reach 127.0.0.1:" + port + " within 300 ms")
                .hasMessageContaining("is rank 0 running, and do MASTER_ADDR and MASTER_PORT point at it?");
    }

    @Test
    void inProcessRendezvousWithAMissingRank() {
        int port = Launcher.freePort();
        DistEnv r0 = DistEnv.from(Map.of("RANK", "0", "WORLD_SIZE", "2", "MASTER_PORT", Integer.toString(port)));
        assertThatThrownBy(() -> Rendezvous.join(r0, Duration.ofMillis(300)))
                .isInstanceOf(DistTimeoutException.class)
                .hasMessageContaining("rank(s) [1] of 2 did not join within 300 ms (joined: [0])");
    }
}
