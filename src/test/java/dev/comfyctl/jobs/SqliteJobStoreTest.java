package dev.comfyctl.jobs;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

class SqliteJobStoreTest extends JobStoreContract {
    @TempDir
    Path home;

    @Override
    JobStore openStore(int maxAttempts) {
        return new SqliteJobStore(home.resolve("jobs.db"), maxAttempts);
    }

    @Override
    void crashBackend() {
        // The file is the backend: closing the store without a checkpoint leaves the WAL, as a kill -9 does.
    }

    @Test
    void theStoreIsOneFileInWalMode() {
        store.enqueue(spec("a", 0));

        assertThat(home.resolve("jobs.db")).exists();
        assertThat(home.resolve("jobs.db-wal")).exists();
    }

    @Test
    void everyJobAcknowledgedBeforeTheDaemonIsKilledWithSignal9IsThereAfterwards() throws Exception {
        Path file = home.resolve("killed.db");
        Process daemon = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), EnqueueUntilKilled.class.getName(), file.toString())
                .redirectError(home.resolve("stderr.log").toFile()).start();
        String running;
        List<String> acknowledged = new ArrayList<>();
        try (BufferedReader out = new BufferedReader(new InputStreamReader(daemon.getInputStream(), StandardCharsets.UTF_8))) {
            running = out.readLine();
            assertThat(running).as("first line; stderr: %s", Files.readString(home.resolve("stderr.log"))).startsWith("running ");
            String line;
            while (acknowledged.size() < 200 && (line = out.readLine()) != null) {
                acknowledged.add(line.substring("queued ".length()));
            }
            daemon.destroyForcibly();
            assertThat(daemon.waitFor(20, TimeUnit.SECONDS)).isTrue();
        }
        assertThat(acknowledged).hasSize(200);

        JobStore next = new SqliteJobStore(file, MAX_ATTEMPTS);
        closeAfterTest(next);

        for (String id : acknowledged) {
            assertThat(next.find(id)).as("job %s", id).map(Job::state).contains(JobState.QUEUED);
        }
        String runningId = running.substring("running ".length());
        assertThat(next.find(runningId)).map(Job::state).contains(JobState.RUNNING);
        // Queued jobs go first until the dead worker's lease runs out; then its job is the next one claimed.
        Lease reclaimed = await().atMost(LONG).until(
                () -> next.claim("next-daemon", LONG, Duration.ofSeconds(5)).orElseThrow(),
                lease -> lease.jobId().equals(runningId));
        assertThat(reclaimed.attempt()).isEqualTo(2);
    }

    @Test
    void aFileThatIsNoDatabaseIsRefusedWithWhatToDo() throws Exception {
        Path damaged = home.resolve("damaged.db");
        Files.writeString(damaged, "this is not a SQLite database, but it is long enough to have a header".repeat(20));

        assertThatThrownBy(() -> new SqliteJobStore(damaged, 3))
                .isInstanceOf(JobStoreException.class)
                .hasMessageContaining(damaged.toString())
                .hasMessageContaining("move it away");
    }

    @Test
    void anUnwritableStateDirectoryIsRefusedWithWhatToDo() throws Exception {
        Path notADirectory = home.resolve("plain-file");
        Files.writeString(notADirectory, "");

        assertThatThrownBy(() -> new SqliteJobStore(notADirectory.resolve("jobs.db"), 3))
                .isInstanceOf(JobStoreException.class)
                .hasMessageContaining(notADirectory.resolve("jobs.db").toString())
                .hasMessageContaining("writable");
    }
}
