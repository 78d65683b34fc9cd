package dev.comfyctl.process;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.ZoneId;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SessionLogsTest {

    private static final Instant NOON = Instant.parse("2026-03-14T12:00:05Z");

    @TempDir
    Path dir;

    private SessionLogs logs() {
        return new SessionLogs(dir.resolve("logs"), ZoneId.of("Europe/Berlin"));
    }

    @Test
    void newLogIsNamedAfterTheLocalStartTime() {
        Path created = logs().createNew(NOON);

        assertThat(created).isEqualTo(dir.resolve("logs/20260314_130005.log"));
        assertThat(created).isEmptyFile();
    }

    @Test
    void logsCreatedInTheSameSecondGetNumberedSuffixes() {
        SessionLogs logs = logs();

        List<Path> created = List.of(logs.createNew(NOON), logs.createNew(NOON), logs.createNew(NOON));

        assertThat(created).extracting(p -> p.getFileName().toString())
                .containsExactly("20260314_130005.log", "20260314_130005_2.log", "20260314_130005_3.log");
    }

    @Test
    void currentIsTheNewestSessionEvenPastTenCollisions() {
        SessionLogs logs = logs();
        logs.createNew(NOON.minusSeconds(3600));
        Path last = null;
        for (int i = 0; i < 11; i++) {
            last = logs.createNew(NOON);
        }

        assertThat(last.getFileName()).hasToString("20260314_130005_11.log");
        assertThat(logs.current()).hasValue(last);
        assertThat(logs.all()).hasSize(12).first().satisfies(p -> assertThat(p.getFileName()).hasToString("20260314_120005.log"));
    }

    @Test
    void otherFilesInTheDirectoryAreNotSessions() throws IOException {
        SessionLogs logs = logs();
        Path session = logs.createNew(NOON);
        Files.writeString(dir.resolve("logs/events.jsonl"), "{}");
        Files.writeString(dir.resolve("logs/29991231_235959.log.gz"), "");

        assertThat(logs.all()).containsExactly(session);
    }

    @Test
    void missingDirectoryHasNoSessions() {
        assertThat(logs().all()).isEmpty();
        assertThat(logs().current()).isEmpty();
    }

    @Test
    void pruneByCountDeletesTheOldestAndNeverTheCurrent() throws IOException {
        SessionLogs logs = logs();
        Path oldest = logs.createNew(NOON.minusSeconds(300));
        Path older = logs.createNew(NOON.minusSeconds(200));
        Path current = logs.createNew(NOON.minusSeconds(100));
        Path newer = logs.createNew(NOON);

        List<Path> deleted = logs.prune(1, Long.MAX_VALUE, current);

        assertThat(deleted).containsExactly(oldest, older, newer);
        assertThat(logs.all()).containsExactly(current);
    }

    @Test
    void pruneBySizeDeletesTheOldestUntilTheRestFits() throws IOException {
        SessionLogs logs = logs();
        Path first = write(logs.createNew(NOON.minusSeconds(3)), 400);
        Path second = write(logs.createNew(NOON.minusSeconds(2)), 400);
        Path third = write(logs.createNew(NOON.minusSeconds(1)), 400);
        Path current = write(logs.createNew(NOON), 100);

        List<Path> deleted = logs.prune(100, 600, current);

        assertThat(deleted).containsExactly(first, second);
        assertThat(logs.all()).containsExactly(third, current);
    }

    @Test
    void pruneKeepsACurrentLogLargerThanTheSizeLimit() throws IOException {
        SessionLogs logs = logs();
        logs.createNew(NOON.minusSeconds(1));
        Path current = write(logs.createNew(NOON), 5000);

        logs.prune(10, 1000, current);

        assertThat(logs.all()).containsExactly(current);
    }

    @Test
    void pruneWithinLimitsDeletesNothing() {
        SessionLogs logs = logs();
        Path current = logs.createNew(NOON);

        assertThat(logs.prune(5, 1000, current)).isEmpty();
    }

    @Test
    void pruneRejectsNegativeLimits() {
        assertThatThrownBy(() -> logs().prune(-1, 0, dir)).hasMessage("keepCount -1 < 0");
        assertThatThrownBy(() -> logs().prune(0, -1, dir)).hasMessage("keepBytes -1 < 0");
    }

    @Test
    void tailOfALargeFileReturnsItsLastLines() throws IOException {
        Path big = dir.resolve("big.log");
        try (BufferedWriter writer = Files.newBufferedWriter(big)) {
            for (int i = 1; i <= 1_000_000; i++) {
                writer.write("line " + i + "\n");
            }
        }

        assertThat(SessionLogs.tail(big, 3)).containsExactly("line 999998", "line 999999", "line 1000000");
    }

    @Test
    void tailReturnsTheWholeFileWhenItHasFewerLines() throws IOException {
        Path small = Files.writeString(dir.resolve("small.log"), "one\r\ntwo\n\nlast without newline");

        assertThat(SessionLogs.tail(small, 10)).containsExactly("one", "two", "", "last without newline");
        assertThat(SessionLogs.tail(small, 2)).containsExactly("", "last without newline");
        assertThat(SessionLogs.tail(small, 0)).isEmpty();
    }

    @Test
    void tailFindsLinesLongerThanOneReadBlock() throws IOException {
        String longLine = "x".repeat(20_000);
        Path file = Files.writeString(dir.resolve("long.log"), "first\n" + longLine + "\nshort\n");

        assertThat(SessionLogs.tail(file, 2)).containsExactly(longLine, "short");
    }

    @Test
    void tailOfAnEmptyFileIsEmpty() throws IOException {
        assertThat(SessionLogs.tail(Files.createFile(dir.resolve("empty.log")), 5)).isEmpty();
    }

    @Test
    void tailOfAMissingFileNamesIt() {
        Path missing = dir.resolve("missing.log");

        assertThatThrownBy(() -> SessionLogs.tail(missing, 5))
                .isInstanceOf(UncheckedIOException.class).hasMessageContaining(missing.toString());
    }

    private static Path write(Path file, int bytes) throws IOException {
        return Files.writeString(file, "x".repeat(bytes));
    }
}
