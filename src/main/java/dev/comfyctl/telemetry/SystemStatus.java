package dev.comfyctl.telemetry;

import dev.comfyctl.events.Event;
import dev.comfyctl.events.EventType;
import dev.comfyctl.events.Events;
import dev.comfyctl.gpu.Gpu;
import dev.comfyctl.gpu.GpuDetector;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Posts {@code system_status} events: memory (from {@code /proc/meminfo}), the disk holding ComfyUI, and VRAM
 * (through the GPU detector, which may run nvidia-smi for seconds, hence a thread of its own), so that the
 * event log shows whether memory or VRAM is left behind between ComfyUI runs.
 */
public final class SystemStatus implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(SystemStatus.class);
    private static final long MIB = 1024 * 1024;

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
        Map<String, Object> fields = new LinkedHashMap<>();
        List<String> parts = new ArrayList<>();
        Map<String, Long> memory = memInfoMib();
        if (memory.containsKey("MemTotal") && memory.containsKey("MemAvailable")) {
            long total = memory.get("MemTotal");
            long used = total - memory.get("MemAvailable");
            fields.put("memoryUsedMib", used);
            fields.put("memoryTotalMib", total);
            parts.add(String.format("memory %.1f/%.1f GB", used / 1024.0, total / 1024.0));
        }
        try {
            FileStore store = Files.getFileStore(Files.exists(disk) ? disk : disk.getRoot());
            long total = store.getTotalSpace() / MIB;
            long used = total - store.getUsableSpace() / MIB;
            fields.put("diskPath", disk.toString());
            fields.put("diskUsedMib", used);
            fields.put("diskTotalMib", total);
            parts.add(String.format("disk %.0f/%.0f GB (%d%%)", used / 1024.0, total / 1024.0, total == 0 ? 0 : used * 100 / total));
        } catch (IOException e) {
            log.debug("No disk figures for {}: {}", disk, e.toString());
        }
        List<Map<String, Object>> vram = new ArrayList<>();
        for (Gpu gpu : gpus.detect().gpus()) {
            if (gpu.hasKnownVram()) {
                long used = gpu.vramTotalMib() - gpu.vramFreeMib();
                vram.add(Map.of("index", gpu.index(), "name", gpu.name(), "vramUsedMib", used, "vramTotalMib", gpu.vramTotalMib()));
                parts.add(String.format("GPU %d VRAM %.1f/%.1f GB", gpu.index(), used / 1024.0, gpu.vramTotalMib() / 1024.0));
            }
        }
        fields.put("gpus", vram);
        fields.put("why", why);
        events.post(EventType.SYSTEM_STATUS, Event.DAEMON, String.join(", ", parts) + " (" + why + ")", fields);
    }

    private static Map<String, Long> memInfoMib() {
        Map<String, Long> values = new LinkedHashMap<>();
        try {
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
                String[] parts = line.split("[:\\s]+");
                if (parts.length >= 2 && parts[1].matches("\\d+")) {
                    values.put(parts[0], Long.parseLong(parts[1]) / 1024);
                }
            }
        } catch (IOException e) {
            log.debug("No memory figures: {}", e.toString());
        }
        return values;
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
