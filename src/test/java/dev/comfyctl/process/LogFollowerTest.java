package dev.comfyctl.process;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LogFollowerTest {

    private static final Instant START = Instant.parse("2026-03-14T12:00:00Z");
    private static final Duration PATIENCE = Duration.ofSeconds(10);

    @TempDir
    Path dir;
    private SessionLogs logs;
    private final List<String> seen = new CopyOnWriteArrayList<>();
    private LogFollower follower;
    private CompletableFuture<Void> running;

    @BeforeEach
    void setUp() {
        logs = new SessionLogs(dir.resolve("logs"), ZoneOffset.UTC);
        follower = new LogFollower(logs, new LogFollower.Listener() {
            @Override
            public void line(String line) {
                seen.add(line);
            }

            @Override
            public void following(Path log) {
                seen.add("== " + log.getFileName());
            }
        }, Duration.ofMillis(10));
    }

    @AfterEach
    void tearDown() throws Exception {
        follower.close();
        if (running != null) {
            running.get(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void followerEmitsTheTailThenNewLines() throws IOException {
        Path log = append(logs.createNew(START), "old 1\nold 2\nold 3\n");

        start(2);
        await().atMost(PATIENCE).until(() -> seen.size() == 3);
        append(log, "new 1\n");

        await().atMost(PATIENCE).until(() -> seen.contains("new 1"));
        assertThat(seen).containsExactly("== 20260314_120000.log", "old 2", "old 3", "new 1");
    }

    @Test
    void followerHoldsBackALineUntilItIsComplete() throws IOException {
        Path log = append(logs.createNew(START), "before\nhalf a");

        start(5);
        await().atMost(PATIENCE).until(() -> seen.contains("before"));
        append(log, " line\r\n");

        await().atMost(PATIENCE).until(() -> seen.contains("half a line"));
        assertThat(seen).containsExactly("== 20260314_120000.log", "before", "half a line");
    }

    @Test
    void followerSwitchesToTheNewerLogAfterReadingTheRestOfTheOld() throws IOException {
        Path first = append(logs.createNew(START), "first run\n");
        start(10);
        await().atMost(PATIENCE).until(() -> seen.contains("first run"));

        append(first, "last words of the first run\nunterminated");
        append(logs.createNew(START.plusSeconds(60)), "second run\n");

        await().atMost(PATIENCE).until(() -> seen.contains("second run"));
        assertThat(seen).containsExactly("== 20260314_120000.log", "first run", "last words of the first run",
                "unterminated", "== 20260314_120100.log", "second run");
    }

    @Test
    void followerWaitsForTheFirstLogAndReadsItFromTheStart() throws IOException {
        start(10);
        Path log = append(logs.createNew(START), "hello\n");

        await().atMost(PATIENCE).until(() -> seen.contains("hello"));
        append(log, "world\n");

        await().atMost(PATIENCE).until(() -> seen.contains("world"));
        assertThat(seen).containsExactly("== 20260314_120000.log", "hello", "world");
    }

    @Test
    void followerRestartsATruncatedLogFromItsStart() throws IOException {
        Path log = append(logs.createNew(START), "a long line before truncation\n");
        start(1);
        await().atMost(PATIENCE).until(() -> seen.size() == 2);

        Files.writeString(log, "fresh\n");

        await().atMost(PATIENCE).until(() -> seen.contains("fresh"));
    }

    @Test
    void closeEndsTheFollow() throws Exception {
        logs.createNew(START);
        start(1);

        follower.close();

        running.get(10, TimeUnit.SECONDS);
        assertThat(running).isDone();
    }

    private void start(int initialLines) {
        running = CompletableFuture.runAsync(() -> follower.follow(initialLines));
    }

    private static Path append(Path file, String text) throws IOException {
        return Files.writeString(file, text, StandardOpenOption.APPEND);
    }
}
