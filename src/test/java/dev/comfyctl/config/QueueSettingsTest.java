package dev.comfyctl.config;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.nio.file.Path;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class QueueSettingsTest {
    @TempDir
    Path home;

    private Config load(String... pairs) {
        Map<String, String> env = new java.util.HashMap<>(Map.of("COMFYCTL_HOME", home.toString()));
        for (int i = 0; i < pairs.length; i += 2) {
            env.put(pairs[i], pairs[i + 1]);
        }
        return ConfigLoader.load(env, Map.of()).config();
    }

    @Test
    void theEmbeddedQueueInTheStateDirectoryIsTheDefault() {
        Config config = load();

        assertThat(config.queueUrl()).isEmpty();
        assertThat(config.jobsDb()).isEqualTo(home.resolve("jobs.db"));
        assertThat(config.jobMaxAttempts()).isEqualTo(3);
    }

    @Test
    void aRedisUrlSelectsTheFleetQueue() {
        Config config = load("QUEUE_URL", "redis://:s3cret@10.0.0.5:6380/2", "JOB_MAX_ATTEMPTS", "5");

        assertThat(config.queueUrl()).contains(URI.create("redis://:s3cret@10.0.0.5:6380/2"));
        assertThat(config.jobMaxAttempts()).isEqualTo(5);
    }

    @Test
    void aQueueUrlThatIsNotRedisIsRefusedWithAnExampleAndWithoutEchoingIt() {
        assertThatThrownBy(() -> load("QUEUE_URL", "http://user:s3cret@queue.example/"))
                .isInstanceOfSatisfying(ConfigException.class, e -> {
                    assertThat(e.problems()).singleElement().asString()
                            .contains("QUEUE_URL", "redis://127.0.0.1:6379/0")
                            .doesNotContain("s3cret");
                });
        assertThatThrownBy(() -> load("QUEUE_URL", "redis://127.0.0.1:6379/zero"))
                .isInstanceOf(ConfigException.class).hasMessageContaining("QUEUE_URL");
        assertThatThrownBy(() -> load("JOB_MAX_ATTEMPTS", "0"))
                .isInstanceOf(ConfigException.class).hasMessageContaining("JOB_MAX_ATTEMPTS");
    }
}
