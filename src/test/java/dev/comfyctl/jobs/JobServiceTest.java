package dev.comfyctl.jobs;

import dev.comfyctl.config.Config;
import dev.comfyctl.config.ConfigLoader;
import dev.comfyctl.events.Events;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;

class JobServiceTest {
    final Vertx vertx = Vertx.vertx();

    @TempDir
    Path home;

    @AfterEach
    void closeVertx() {
        vertx.close().await();
    }

    @Test
    void pruneRemovesFinishedJobsPastTheCutoffWithTheirStoredOutputsAndKeepsTheRest() throws Exception {
        Config config = ConfigLoader.load(Map.of("COMFYCTL_HOME", home.toString(), "JOB_RETENTION_HOURS", "24"), Map.of()).config();
        assertThat(config.jobRetention()).contains(Duration.ofHours(24));
        try (JobService service = JobService.start(config, JobBackend.open(config, vertx), List.of(), Events.NONE, List::of)) {
            JobStore store = service.store();
            JobOutputs outputs = service.outputs();
            Job done = store.enqueue(JobStoreContract.spec("done", 0));
            Job waiting = store.enqueue(JobStoreContract.spec("waiting", 0));
            Lease lease = store.claim("w1", Duration.ofMinutes(1), Duration.ofSeconds(5)).orElseThrow();
            Path stored = outputs.resolve(outputs.attemptPath(done.id(), lease.attempt(), "", "image.png"));
            Files.createDirectories(stored.getParent());
            Files.writeString(stored, "png");
            assertThat(store.succeed(lease, List.of(new JobOutput("9", "image.png", "", "output",
                    outputs.attemptPath(done.id(), lease.attempt(), "", "image.png").toString(), 3, "ab".repeat(32))))).isTrue();

            assertThat(service.prune(Instant.now().minusSeconds(60))).as("finished a moment ago: kept").isZero();
            assertThat(service.prune(Instant.now().plusSeconds(1))).isEqualTo(1);

            assertThat(store.find(done.id())).isEmpty();
            assertThat(stored).doesNotExist();
            assertThat(outputs.resolve(Path.of(done.id()))).doesNotExist();
            assertThat(store.find(waiting.id()).map(Job::state)).isEqualTo(Optional.of(JobState.QUEUED));
        }
    }

    @Test
    void jobsAreKeptForEverUnlessARetentionIsSet() {
        Config config = ConfigLoader.load(Map.of("COMFYCTL_HOME", home.toString()), Map.of()).config();

        assertThat(config.jobRetention()).isEmpty();
    }
}
