package dev.comfyctl.daemon;

import dev.comfyctl.install.CustomNode;
import dev.comfyctl.install.InstallListener;
import dev.comfyctl.install.ModelFile;
import dev.comfyctl.telemetry.StartupSteps;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * What the daemon does before it listens, for the {@code comfyctl start} that launched it and waits: a line per
 * startup step that begins or ends and per component installed, in {@code <home>/startup-progress.log}, and the
 * file touched while a download moves, so that the launcher keeps waiting for as long as the daemon advances
 * (installing custom nodes and models can take far longer than any fixed wait). Removed once the daemon listens.
 */
final class StartupProgress implements InstallListener, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(StartupProgress.class);
    private static final String FILE = "startup-progress.log";
    /** How often a moving download touches the file: well within the launcher's wait for progress. */
    private static final long TOUCH_EVERY_NANOS = Duration.ofSeconds(1).toNanos();
    /** A download's progress gets a line at every this many percent. */
    private static final int PERCENT_STEP = 10;

    private final Path file;
    private final Map<String, Integer> reportedPercent = new ConcurrentHashMap<>();
    private volatile long lastTouch = System.nanoTime();
    /** Steps go on after the daemon listens (the ComfyUI starts): nobody waits for them here. */
    private volatile boolean closed;

    private StartupProgress(Path file) {
        this.file = file;
    }

    static Path file(Path home) {
        return home.resolve(FILE);
    }

    /** Starts an empty progress file; the daemon goes on without one when it cannot be written. */
    static StartupProgress open(Path home) {
        StartupProgress progress = new StartupProgress(file(home));
        try {
            Files.writeString(progress.file, "");
        } catch (IOException e) {
            log.warn("cannot write {}: 'comfyctl start' shows no startup progress: {}", progress.file, e.getMessage());
        }
        return progress;
    }

    void step(StartupSteps.Step step) {
        String head = step.number() + ". " + step.name();
        line(switch (step.state()) {
            case RUNNING -> head + " ...";
            case FAILED -> head + ": FAILED after " + millis(step) + " ms: " + step.error().orElse("");
            case SKIPPED -> head + ": skipped" + step.detail().map(detail -> ", " + detail).orElse("");
            case DONE -> head + ": done in " + millis(step) + " ms" + step.detail().map(detail -> ", " + detail).orElse("");
        });
    }

    @Override
    public void nodeStarted(CustomNode node, String action) {
        line("   custom node " + node.name() + ": " + action);
    }

    @Override
    public void nodeInstalled(CustomNode node, String message) {
        line("   custom node " + node.name() + ": installed " + message);
    }

    @Override
    public void nodeFailed(CustomNode node, String error, List<String> outputTail) {
        line("   custom node " + node.name() + " failed: " + error);
    }

    @Override
    public void modelStarted(ModelFile model, Path destination) {
        line("   model " + model.fileName() + ": downloading " + model.url().getHost() + " to " + destination);
    }

    @Override
    public void modelProgress(ModelFile model, long bytes, long total) {
        if (total > 0) {
            int percent = (int) (bytes * 100 / total) / PERCENT_STEP * PERCENT_STEP;
            Integer before = reportedPercent.put(model.destination(), percent);
            if (before != null && before < percent) {
                line(String.format(Locale.ROOT, "   model %s: %d%% (%.1f of %.1f MiB)", model.fileName(), percent,
                        bytes / 1048576.0, total / 1048576.0));
                return;
            }
        }
        touch();
    }

    @Override
    public void modelDone(ModelFile model, String message) {
        line("   model " + model.fileName() + ": " + message);
    }

    @Override
    public void modelFailed(ModelFile model, String error) {
        line("   model " + model.fileName() + " failed: " + error);
    }

    private synchronized void line(String text) {
        if (closed) {
            return;
        }
        try {
            Files.writeString(file, text + "\n", StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
            lastTouch = System.nanoTime();
        } catch (IOException e) {
            log.debug("cannot write {}: {}", file, e.getMessage());
        }
    }

    /** Progress without a line of its own: a newer modification time tells the launcher the daemon advances. */
    private void touch() {
        long now = System.nanoTime();
        if (closed || now - lastTouch < TOUCH_EVERY_NANOS) {
            return;
        }
        lastTouch = now;
        try {
            Files.setLastModifiedTime(file, FileTime.fromMillis(System.currentTimeMillis()));
        } catch (IOException e) {
            log.debug("cannot touch {}: {}", file, e.getMessage());
        }
    }

    private static long millis(StartupSteps.Step step) {
        return step.duration().map(Duration::toMillis).orElse(0L);
    }

    /** The daemon listens (or gave up): the launcher reads daemon.json (or the exit) from now on. */
    @Override
    public synchronized void close() {
        closed = true;
        try {
            Files.deleteIfExists(file);
        } catch (IOException e) {
            log.debug("cannot remove {}: {}", file, e.getMessage());
        }
    }
}
