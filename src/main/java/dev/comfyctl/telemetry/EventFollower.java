package dev.comfyctl.telemetry;

import dev.comfyctl.events.Event;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * Follows the event log like {@code tail -F}: from its end at construction on, across rotations (the rest of
 * the renamed file is read before the new one). Lines that are not events are skipped; a line still being
 * written waits for its end. A generation rotated away twice within one poll interval would be missed, which at
 * the configured sizes (a MiB or more) does not happen.
 *
 * <p>{@link #follow()} runs in the caller's thread until {@link #close()} or an interrupt.
 */
public final class EventFollower implements AutoCloseable {
    private final Path file;
    private final Consumer<Event> listener;
    private final Duration pollInterval;
    private final ByteArrayOutputStream partial = new ByteArrayOutputStream();
    private final ByteBuffer buffer = ByteBuffer.allocate(64 * 1024);
    private volatile boolean closed;
    private FileChannel channel;
    private Object fileKey;
    private long position;

    /** @throws IllegalArgumentException if {@code pollInterval} is not positive */
    public EventFollower(Path home, Consumer<Event> listener, Duration pollInterval) {
        if (pollInterval.isNegative() || pollInterval.isZero()) {
            throw new IllegalArgumentException("pollInterval " + pollInterval + " <= 0");
        }
        this.file = home.resolve(EventLog.FILE_NAME);
        this.listener = listener;
        this.pollInterval = pollInterval;
        open(true);
    }

    /** Emits every event appended from construction on until closed; listener exceptions end it and propagate. */
    public void follow() {
        try {
            while (!closed) {
                if (channel == null) {
                    open(false);
                } else {
                    readAvailable();
                    Object current = keyOf(file);
                    if (current == null || !current.equals(fileKey)) {
                        if (current != null) {
                            closeChannel();
                            open(false);
                        }
                    } else if (channel.size() < position) {
                        position = 0;
                        partial.reset();
                    }
                }
                Thread.sleep(pollInterval.toMillis());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot follow " + file + ": " + e.getMessage(), e);
        } finally {
            closeChannel();
        }
    }

    private void open(boolean atEnd) {
        try {
            Object before = keyOf(file);
            if (before == null) {
                return;
            }
            FileChannel opened = FileChannel.open(file, StandardOpenOption.READ);
            if (!Objects.equals(before, keyOf(file))) {
                opened.close();
                return;
            }
            channel = opened;
            fileKey = before;
            position = atEnd ? opened.size() : 0;
            partial.reset();
        } catch (NoSuchFileException e) {
            channel = null;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open " + file + ": " + e.getMessage(), e);
        }
    }

    private void readAvailable() throws IOException {
        while (true) {
            buffer.clear();
            int read = channel.read(buffer, position);
            if (read <= 0) {
                return;
            }
            position += read;
            for (int i = 0; i < read; i++) {
                byte b = buffer.get(i);
                if (b == '\n') {
                    String line = partial.toString(StandardCharsets.UTF_8);
                    partial.reset();
                    EventJson.parse(line).ifPresent(listener);
                } else {
                    partial.write(b);
                }
            }
        }
    }

    private static Object keyOf(Path path) throws IOException {
        try {
            return Files.readAttributes(path, BasicFileAttributes.class).fileKey();
        } catch (NoSuchFileException e) {
            return null;
        }
    }

    private void closeChannel() {
        if (channel != null) {
            try {
                channel.close();
            } catch (IOException ignored) {
                // Read-only: closing cannot lose anything.
            }
            channel = null;
        }
    }

    /** Ends {@link #follow()} within one poll interval; idempotent. */
    @Override
    public void close() {
        closed = true;
    }
}
