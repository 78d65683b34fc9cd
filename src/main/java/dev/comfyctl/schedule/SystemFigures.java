package dev.comfyctl.schedule;

import dev.comfyctl.gpu.GpuReport;
import oshi.SystemInfo;
import oshi.hardware.GlobalMemory;

import java.io.IOException;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The machine's memory, the disk that holds ComfyUI, and GPU memory: what a restart is meant to relieve,
 * shown beside the schedule and recorded with each restart.
 */
public record SystemFigures(long memoryTotal, long memoryUsed, long diskTotal, long diskUsed, List<Vram> vram) {

    public record Vram(int gpu, String name, long totalMib, long usedMib) {
    }

    public static SystemFigures read(Path comfyDir, GpuReport gpus) {
        GlobalMemory memory = new SystemInfo().getHardware().getMemory();
        long diskTotal = 0;
        long diskUsed = 0;
        try {
            FileStore store = Files.getFileStore(Files.exists(comfyDir) ? comfyDir : comfyDir.getRoot());
            diskTotal = store.getTotalSpace();
            diskUsed = diskTotal - store.getUsableSpace();
        } catch (IOException e) {
            diskTotal = -1;
        }
        return new SystemFigures(memory.getTotal(), memory.getTotal() - memory.getAvailable(), diskTotal, diskUsed,
                gpus.gpus().stream().map(g -> new Vram(g.index(), g.name(), g.vramTotalMib(), g.vramTotalMib() - g.vramFreeMib())).toList());
    }

    /** One line: "memory 8.2/16.0 GB, disk 45/100 GB (45%), GPU 0 6.0/24.0 GB". */
    public String describe() {
        StringBuilder text = new StringBuilder(String.format("memory %.1f/%.1f GB", gb(memoryUsed), gb(memoryTotal)));
        if (diskTotal > 0) {
            text.append(String.format(", disk %.0f/%.0f GB (%d%%)", gb(diskUsed), gb(diskTotal), Math.round(100.0 * diskUsed / diskTotal)));
        }
        vram.forEach(v -> text.append(String.format(", GPU %d %.1f/%.1f GB", v.gpu(), v.usedMib() / 1024.0, v.totalMib() / 1024.0)));
        return text.toString();
    }

    private static double gb(long bytes) {
        return bytes / 1e9;
    }
}
