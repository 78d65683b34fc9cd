package dev.comfyctl.process;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.Optional;

/**
 * Follows the newest session log like {@code tail -F}, across restarts: when a newer session log
 * appears, the rest of the old one is emitted and following continues at the start of the new one.
 *
 * <p>{@link #follow(int)} runs in the caller's thread until {@link #close()} is called from another
 * thread or the follower thread is interrupted. Lines end at {@code \n}; a trailing {@code \r} is
 * dropped; a line still being written is held back until its end arrives, or emitted as it is when
 * it grows beyond 64 KiB or the follower moves on to a newer log. A log that shrinks (truncated in
 * place) is followed again from its start.
 */
public final class LogFollower implements AutoCloseable {

    /** Receives what the follower reads, on the thread running {@link #follow(int)}. */
    public interface Listener {

        void line(String line);

        /** Called before the first line of each log followed, including the first one. */
        default void following(Path log) {
        }
    }

    private static final int MAX_LINE = 64 * 1024;

    private final SessionLogs logs;
    private final Listener listener;
    private final Duration pollInterval;
    private final ByteArrayOutputStream partial = new ByteArrayOutputStream();
    private final ByteBuffer buffer = ByteBuffer.allocate(64 * 1024);
    private volatile boolean closed;

    /** @throws IllegalArgumentException if {@code pollInterval} is not positive */
    public LogFollower(SessionLogs logs, Listener listener, Duration pollInterval) {
        if (pollInterval.isNegative() || pollInterval.isZero()) {
            throw new IllegalArgumentException("pollInterval " + pollInterval + " <= 0");
        }
        this.logs = logs;
        this.listener = listener;
        this.pollInterval = pollInterval;
    }

    /**
     * Emits the last {@code initialLines} lines of the current session log, then everything written
     * afterwards, until closed. With no session log yet it waits for the first and emits it whole.
     * Exceptions thrown by the listener end the follow and propagate. Call it once per follower, from
     * one thread.
     *
     * @throws IllegalArgumentException if {@code initialLines} is negative
     * @throws UncheckedIOException     if a log exists but cannot be read
     */
    public void follow(int initialLines) {
        if (initialLines < 0) {
            throw new IllegalArgumentException("initialLines " + initialLines + " < 0");
        }
        Optional<Path> first = logs.current();
        Path file = null;
        long position = 0;
        if (first.isPresent()) {
            file = first.get();
            listener.following(file);
            position = emitTail(file, initialLines);
        }
        while (!closed) {
            if (file != null) {
                position = drain(file, position);
            }
            Optional<Path> newest = logs.current();
            if (newest.isPresent() && (file == null || SessionLogs.OLDEST_FIRST.compare(newest.get(), file) > 0)) {
                if (file != null) {
                    drain(file, position);
                    if (partial.size() > 0) {
                        emitLine();
                    }
                }
                file = newest.get();
                position = 0;
                listener.following(file);
                continue;
            }
            try {
                Thread.sleep(pollInterval.toMillis(), pollInterval.toNanosPart() % 1_000_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    /** Makes {@link #follow(int)} return within one poll interval. Idempotent. */
    @Override
    public void close() {
        closed = true;
    }

    private long emitTail(Path file, int lines) {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            // A last line still being written is left for drain() to emit once complete.
            long end = SessionLogs.endOfLastCompleteLine(channel, channel.size());
            SessionLogs.tail(channel, end, lines).forEach(listener::line);
            return end;
        } catch (NoSuchFileException e) {
            return 0;
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read session log " + file + ": " + e.getMessage(), e);
        }
    }

    /** Emits the complete lines after {@code position}; returns the new position. */
    private long drain(Path file, long position) {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            if (channel.size() < position) {
                partial.reset();
                position = 0;
            }
            int read;
            while ((read = channel.read(buffer.clear(), position)) > 0) {
                position += read;
                for (int i = 0; i < read; i++) {
                    byte b = buffer.get(i);
                    if (b == '\n') {
                        emitLine();
                    } else {
                        partial.write(b);
                        if (partial.size() >= MAX_LINE) {
                            emitLine();
                        }
                    }
                }
            }
            return position;
        } catch (NoSuchFileException e) {
            // Pruned or removed while followed: nothing more will come from it.
            return position;
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read session log " + file + ": " + e.getMessage(), e);
        }
    }

    private void emitLine() {
        String line = partial.toString(StandardCharsets.UTF_8);
        partial.reset();
        listener.line(line.endsWith("\r") ? line.substring(0, line.length() - 1) : line);
    }
}
