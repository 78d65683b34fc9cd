package dev.comfyctl.jobs;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

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
