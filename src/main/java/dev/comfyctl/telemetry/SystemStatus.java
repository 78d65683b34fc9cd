package dev.comfyctl.telemetry;

import dev.comfyctl.events.Event;
import dev.comfyctl.events.EventType;
import dev.comfyctl.events.Events;
import dev.comfyctl.gpu.GpuDetector;
import dev.comfyctl.schedule.SystemFigures;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Posts {@code system_status} events with the {@link SystemFigures} (memory, the disk holding ComfyUI, VRAM through
 * the GPU detector, which may run nvidia-smi for seconds, hence a thread of its own), so that the event log shows
 * whether memory or VRAM is left behind between ComfyUI runs.
 */
public final class SystemStatus implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(SystemStatus.class);

    private final Path disk;
    private final GpuDetector gpus;
    private final Events events;
    private final ExecutorService thread;
    private final AtomicBoolean closed = new AtomicBoolean();

    public SystemStatus(Path disk, GpuDetector gpus, Events events) {
        this.disk = disk;
        this.gpus = gpus;
        this.events = events;
        this.thread = Executors.newSingleThreadExecutor(runnable -> {
            Thread t = new Thread(runnable, "system-status");
            t.setDaemon(true);
            return t;
        });
    }

    /** Samples the figures on the status thread and posts them; returns at once. */
    public void report(String why) {
        try {
            thread.execute(() -> {
                try {
                    post(why);
                } catch (RuntimeException e) {
                    log.warn("Cannot report the system status: {}", e.toString());
                }
            });
        } catch (RejectedExecutionException e) {
            log.debug("System status after close not reported ({})", why);
        }
    }

    private void post(String why) {
        SystemFigures figures = SystemFigures.read(disk, gpus.detect());
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put("memoryUsedBytes", figures.memoryUsed());
        fields.put("memoryTotalBytes", figures.memoryTotal());
        fields.put("diskPath", disk.toString());
        fields.put("diskUsedBytes", figures.diskUsed());
        fields.put("diskTotalBytes", figures.diskTotal());
        fields.put("gpus", figures.vram().stream().map(v -> Map.<String, Object>of("index", v.gpu(), "name", v.name(),
                "vramUsedMib", v.usedMib(), "vramTotalMib", v.totalMib())).toList());
        fields.put("why", why);
        events.post(EventType.SYSTEM_STATUS, Event.DAEMON, figures.describe() + " (" + why + ")", fields);
    }

    /** Finishes a report under way, bounded by the GPU detector's timeout; idempotent. */
    @Override
    public void close() {
        if (closed.getAndSet(true)) {
            return;
        }
        thread.shutdown();
        try {
            if (!thread.awaitTermination(GpuDetector.DEFAULT_TIMEOUT.toMillis() + 1_000, TimeUnit.MILLISECONDS)) {
                log.warn("Timed-out waiting for the system status report");
                thread.shutdownNow();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
