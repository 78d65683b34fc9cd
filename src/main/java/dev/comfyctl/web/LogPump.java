package dev.comfyctl.web;

import dev.comfyctl.process.LogFollower;
import dev.comfyctl.process.SessionLogs;
import io.vertx.core.Context;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * Follows the current session log on a thread of its own (a {@link LogFollower} blocks) and hands what it
 * reads to a Vert.x context in batches, in order, so a burst of output becomes a few events, not thousands.
 */
final class LogPump implements AutoCloseable {
    static final String THREAD_NAME = "comfyctl-manager-log";
    private static final Logger log = LoggerFactory.getLogger(LogPump.class);
    private static final Duration POLL = Duration.ofMillis(200);

    /** A line of the log, or (with {@code newFile}) the name of the session log that the following lines come from. */
    record Entry(boolean newFile, String text) {
    }

    private final Context context;
    private final Consumer<List<Entry>> sink;
    private final LogFollower follower;
    private final Thread thread;
    private List<Entry> pending = new ArrayList<>();
    private volatile boolean closed;

    private LogPump(SessionLogs logs, int initialLines, Context context, Consumer<List<Entry>> sink) {
        this.context = context;
        this.sink = sink;
        this.follower = new LogFollower(logs, new LogFollower.Listener() {
            @Override
            public void line(String line) {
                add(new Entry(false, line));
            }

            @Override
            public void following(Path file) {
                add(new Entry(true, file.getFileName().toString()));
            }
        }, POLL);
        this.thread = new Thread(() -> follow(initialLines), THREAD_NAME);
        thread.setDaemon(true);
    }

    /** Starts following: the last {@code initialLines} lines first, then what is written, across restarts. */
    static LogPump start(SessionLogs logs, int initialLines, Context context, Consumer<List<Entry>> sink) {
        LogPump pump = new LogPump(logs, initialLines, context, sink);
        pump.thread.start();
        return pump;
    }

    private void follow(int initialLines) {
        try {
            follower.follow(initialLines);
        } catch (RuntimeException e) {
            log.warn("Stopped following the session log for the manager page: {}", e.getMessage(), e);
        }
    }

    private void add(Entry entry) {
        boolean schedule;
        synchronized (this) {
            schedule = pending.isEmpty();
            pending.add(entry);
        }
        if (schedule) {
            context.runOnContext(v -> deliver());
        }
    }

    private void deliver() {
        List<Entry> taken;
        synchronized (this) {
            taken = pending;
            pending = new ArrayList<>();
        }
        // Closed on this context before: whoever closed it no longer wants lines from it.
        if (!closed) {
            sink.accept(taken);
        }
    }

    /** Ends the follower thread within one poll interval and delivers nothing more; idempotent. */
    @Override
    public void close() {
        closed = true;
        follower.close();
        thread.interrupt();
    }
}
