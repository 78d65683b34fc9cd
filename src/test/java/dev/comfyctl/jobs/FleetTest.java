package dev.comfyctl.jobs;

import dev.comfyctl.testing.RedisServer;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

class FleetTest {
    @TempDir
    static Path dataDir;
    static RedisServer redis;
    static Vertx vertx;

    @BeforeAll
    static void startRedis() {
        redis = RedisServer.start(dataDir.resolve("redis"));
        vertx = Vertx.vertx();
    }

    @AfterAll
    static void stopRedis() {
        if (vertx != null) {
            vertx.close().await();
        }
        if (redis != null) {
            redis.close();
        }
    }

    static MachineInfo machine(String id, int depth) {
        return new MachineInfo(id, List.of("NVIDIA GeForce RTX 4090", "NVIDIA GeForce RTX 4090"), 2, depth, Instant.now());
    }

    @Test
    void theEmbeddedFleetIsThisMachineWhileItsHeartbeatIsFresh() {
        Instant now = Instant.parse("2026-11-25T12:00:00Z");
        MachineInfo self = new MachineInfo("gpu-box", List.of("NVIDIA A100"), 1, 4, now);
        EmbeddedFleet fresh = new EmbeddedFleet(Duration.ofSeconds(30), Clock.fixed(now.plusSeconds(10), ZoneOffset.UTC));
        EmbeddedFleet stale = new EmbeddedFleet(Duration.ofSeconds(30), Clock.fixed(now.plusSeconds(31), ZoneOffset.UTC));

        assertThat(fresh.machines()).isEmpty();
        fresh.heartbeat(self);
        stale.heartbeat(self);

        assertThat(fresh.machines()).containsExactly(self);
        assertThat(stale.machines()).isEmpty();
    }

    @Test
    void machinesOnOneRedisSeeEachOtherUntilTheirHeartbeatsStop() {
        redis.flushAll();
        try (RedisFleet first = new RedisFleet(vertx, redis.url(), Duration.ofSeconds(30));
             RedisFleet second = new RedisFleet(vertx, redis.url(), Duration.ofSeconds(4))) {
            MachineInfo a = machine("a-box", 3);
            MachineInfo b = machine("b-box", 3);
            first.heartbeat(a);
            second.heartbeat(b);

            assertThat(first.machines()).containsExactly(a, b);
            MachineInfo later = machine("a-box", 7);
            first.heartbeat(later);
            assertThat(second.machines()).containsExactly(later, b);

            await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
                    assertThat(first.machines()).extracting(MachineInfo::machineId).containsExactly("a-box"));
        }
    }
}
