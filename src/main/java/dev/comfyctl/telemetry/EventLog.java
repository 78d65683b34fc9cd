package dev.comfyctl.telemetry;

import dev.comfyctl.events.Event;
import dev.comfyctl.events.EventType;
import dev.comfyctl.events.Events;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * The durable event log: {@code events.jsonl} in the state directory, one {@link EventJson} line per event.
 *
 * <p>One writer thread appends the events in the order they were given, then forces them to disk
 * ({@link FileChannel#force}) before {@link #record} returns: flushing only to the OS would survive comfyctl
 * being killed but not the machine losing power, and a Paperspace-style VM that is shut down under a running
 * ComfyUI is exactly when the last events matter. Events are a few per hour, and a batch shares one force, so
 * the cost (milliseconds) does not matter. After the write, subscribers (the webhooks) are told, on the
 * writer thread; they must only queue.
 *
 * <p>Kept by size: a write that would take the file past the limit first renames it to {@code events.jsonl.1}
 * (replacing the older generation in one atomic rename), so readers see either the old or the new file.
 * A last line left half-written by a crash is ended with a newline on open, so it stays one bad line that
 * readers skip ({@link EventFile}) instead of swallowing the next event.
 */
public final class EventLog implements Events, AutoCloseable {
    public static final String FILE_NAME = "events.jsonl";
    /** A disk slower than this does not hold up the supervisor: it is logged and the action goes ahead. */
    private static final Duration RECORD_WAIT = Duration.ofSeconds(2);
    private static final Duration CLOSE_WAIT = Duration.ofSeconds(5);
    /** Only a bug floods events; past this many unwritten ones, new ones are dropped with a warning. */
    private static final int QUEUE_LIMIT = 10_000;
    private static final Logger log = LoggerFactory.getLogger(EventLog.class);

    private record Pending(Event event, CompletableFuture<Void> written) {
    }

    private static final Pending END = new Pending(null, null);

    private final Path file;
    private final long maxBytes;
    private final Clock clock;
    private final BlockingQueue<Pending> queue = new LinkedBlockingQueue<>(QUEUE_LIMIT);
    private final List<Consumer<Event>> subscribers = new CopyOnWriteArrayList<>();
    private final AtomicBoolean closed = new AtomicBoolean();
    private final Thread writer;
    private FileChannel channel;

    private EventLog(Path file, long maxBytes, Clock clock) {
        this.file = file;
        this.maxBytes = maxBytes;
        this.clock = clock;
        this.writer = new Thread(this::writeUntilClosed, "event-log");
        writer.setDaemon(true);
    }

    /**
     * Opens (creating it if needed) {@code events.jsonl} in {@code home} and starts the writer thread.
     *
     * @throws UncheckedIOException when the file cannot be opened for appending
     * @throws IllegalArgumentException if {@code maxBytes} is not positive
     */
    public static EventLog open(Path home, long maxBytes, Clock clock) {
        if (maxBytes <= 0) {
            throw new IllegalArgumentException("maxBytes " + maxBytes + " <= 0");
        }
        EventLog eventLog = new EventLog(home.resolve(FILE_NAME), maxBytes, clock);
        try {
            Files.createDirectories(home);
            eventLog.openChannel();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open the event log " + eventLog.file + ": " + e.getMessage(), e);
        }
        eventLog.writer.start();
        return eventLog;
    }

    public Path file() {
        return file;
    }

    /** Told about every event after it is on disk, on the writer thread; must return at once. */
    public void subscribe(Consumer<Event> subscriber) {
        subscribers.add(subscriber);
    }

    @Override
    public void record(EventType type, String instance, String message, Map<String, Object> fields) {
        CompletableFuture<Void> written = enqueue(type, instance, message, fields);
        try {
            written.get(RECORD_WAIT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            log.warn("The {} event is not on disk after {} ms; going ahead without waiting longer", type.id(), RECORD_WAIT.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException e) {
            log.warn("The {} event could not be written: {}", type.id(), e.getCause().toString());
        }
    }

    @Override
    public void post(EventType type, String instance, String message, Map<String, Object> fields) {
        enqueue(type, instance, message, fields);
    }

    private CompletableFuture<Void> enqueue(EventType type, String instance, String message, Map<String, Object> fields) {
        CompletableFuture<Void> written = new CompletableFuture<>();
        Event event;
        try {
            event = new Event(clock.instant(), type, instance, message, fields);
        } catch (RuntimeException e) {
            log.error("Invalid {} event not written: {}", type, e.getMessage());
            written.complete(null);
            return written;
        }
        if (closed.get()) {
            log.warn("Event after the event log was closed, not written: {} {}", type.id(), message);
            written.complete(null);
        } else if (!queue.offer(new Pending(event, written))) {
            log.warn("{} events wait to be written; dropping {} {}", QUEUE_LIMIT, type.id(), message);
            written.complete(null);
        }
        return written;
    }

    private void writeUntilClosed() {
        List<Pending> batch = new ArrayList<>();
        boolean end = false;
        while (!end) {
            try {
                batch.add(queue.take());
            } catch (InterruptedException e) {
                break;
            }
            queue.drainTo(batch);
            end = batch.remove(END);
            try {
                write(batch);
            } catch (RuntimeException e) {
                log.error("Unexpected failure writing events", e);
            }
            batch.forEach(pending -> pending.written().complete(null));
            batch.clear();
        }
        closeChannel();
    }

    private void write(List<Pending> batch) {
        if (batch.isEmpty()) {
            return;
        }
        try {
            if (channel == null) {
                openChannel();
            }
            for (Pending pending : batch) {
                byte[] line = (EventJson.line(pending.event()) + "\n").getBytes(StandardCharsets.UTF_8);
                if (channel.size() > 0 && channel.size() + line.length > maxBytes) {
                    rotate();
                }
                ByteBuffer buffer = ByteBuffer.wrap(line);
                while (buffer.hasRemaining()) {
                    channel.write(buffer);
                }
            }
            channel.force(false);
        } catch (IOException e) {
            log.error("Cannot write {} event(s) to {}: {}; they are lost", batch.size(), file, e.toString());
            closeChannel();
        }
        for (Pending pending : batch) {
            for (Consumer<Event> subscriber : subscribers) {
                try {
                    subscriber.accept(pending.event());
                } catch (RuntimeException e) {
                    log.warn("An event subscriber failed on {}", pending.event().type().id(), e);
                }
            }
        }
    }

    private void rotate() throws IOException {
        channel.force(false);
        closeChannel();
        Files.move(file, EventFile.previous(file), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        openChannel();
    }

    private void openChannel() throws IOException {
        boolean cutShort = endsMidLine();
        channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.APPEND);
        if (cutShort) {
            channel.write(ByteBuffer.wrap(new byte[] {'\n'}));
        }
    }

    private boolean endsMidLine() throws IOException {
        if (!Files.exists(file)) {
            return false;
        }
        try (FileChannel read = FileChannel.open(file, StandardOpenOption.READ)) {
            if (read.size() == 0) {
                return false;
            }
            ByteBuffer last = ByteBuffer.allocate(1);
            read.read(last, read.size() - 1);
            return last.get(0) != '\n';
        }
    }

    private void closeChannel() {
        if (channel == null) {
            return;
        }
        try {
            channel.close();
        } catch (IOException e) {
            log.warn("Cannot close {}: {}", file, e.toString());
        }
        channel = null;
    }

    /** Writes what is queued, then stops the writer; bounded, idempotent. Later events are logged, not written. */
    @Override
    public void close() {
        if (closed.getAndSet(true)) {
            return;
        }
        while (!queue.offer(END)) {
            queue.poll();
        }
        try {
            writer.join(CLOSE_WAIT.toMillis());
            if (writer.isAlive()) {
                log.error("Timed-out waiting {} ms for the event log writer; events still queued are lost", CLOSE_WAIT.toMillis());
                writer.interrupt();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
