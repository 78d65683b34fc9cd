package dev.comfyctl.jobs;

import dev.comfyctl.config.Config;
import dev.comfyctl.config.ConfigLoader;
import dev.comfyctl.testing.Ports;
import dev.comfyctl.testing.RedisServer;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class JobBackendTest {
    @TempDir
    Path home;
    final Vertx vertx = Vertx.vertx();

    @AfterEach
    void closeVertx() {
        vertx.close().await();
    }

    private Config config(String... pairs) {
        Map<String, String> env = new HashMap<>(Map.of("COMFYCTL_HOME", home.toString()));
        for (int i = 0; i < pairs.length; i += 2) {
            env.put(pairs[i], pairs[i + 1]);
        }
        return ConfigLoader.load(env, Map.of()).config();
    }

    @Test
    void withoutQueueUrlTheQueueIsTheFileInTheStateDirectory() {
        try (JobBackend backend = JobBackend.open(config("JOB_MAX_ATTEMPTS", "1"), vertx)) {
            assertThat(backend.store()).isInstanceOf(SqliteJobStore.class);
            assertThat(backend.fleet()).isInstanceOf(EmbeddedFleet.class);
            backend.store().enqueue(JobStoreContract.spec("a", 0));
        }
        assertThat(home.resolve("jobs.db")).exists();
    }

    @Test
    void aRedisQueueUrlOpensTheFleetQueueWithItsMaxAttempts() throws Exception {
        try (RedisServer redis = RedisServer.start(home.resolve("redis"));
             JobBackend backend = JobBackend.open(config("QUEUE_URL", redis.url().toString(), "JOB_MAX_ATTEMPTS", "1"), vertx)) {
            assertThat(backend.store()).isInstanceOf(RedisJobStore.class);
            assertThat(backend.fleet()).isInstanceOf(RedisFleet.class);
            backend.store().enqueue(JobStoreContract.spec("a", 0));
            Lease lease = backend.store().claim("w1", JobStoreContract.LONG, JobStoreContract.LONG).orElseThrow();

            assertThat(backend.store().fail(lease, "crashed", true).state()).isEqualTo(JobState.FAILED);
        }
    }

    @Test
    void aQueueUrlWhereNoRedisRunsFailsTheStartWithWhatToDo() {
        Config config = config("QUEUE_URL", "redis://127.0.0.1:" + Ports.free() + "/0");

        assertThatThrownBy(() -> JobBackend.open(config, vertx))
                .isInstanceOf(JobStoreException.class)
                .hasMessageContaining("start redis-server there, or fix QUEUE_URL");
    }
}
