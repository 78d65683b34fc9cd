package dev.comfyctl.schedule;

import dev.comfyctl.gpu.GpuReport;
import oshi.SystemInfo;
import oshi.hardware.GlobalMemory;

import java.io.IOException;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * The machine's memory, the disk that holds ComfyUI, and GPU memory: what a restart is meant to relieve,
 * shown beside the schedule and recorded with each restart.
 */
public record SystemFigures(long memoryTotal, long memoryUsed, long diskTotal, long diskUsed, List<Vram> vram) {

    public record Vram(int gpu, String name, long totalMib, long usedMib) {
    }

    private static final Path MEMINFO = Path.of("/proc/meminfo");

    public static SystemFigures read(Path comfyDir, GpuReport gpus) {
        Memory memory = Memory.fromProc(MEMINFO).orElseGet(Memory::fromOshi);
        long diskTotal = 0;
        long diskUsed = 0;
        try {
            FileStore store = Files.getFileStore(Files.exists(comfyDir) ? comfyDir : comfyDir.getRoot());
            diskTotal = store.getTotalSpace();
            diskUsed = diskTotal - store.getUsableSpace();
        } catch (IOException e) {
            diskTotal = -1;
        }
        return new SystemFigures(memory.total(), memory.total() - memory.available(), diskTotal, diskUsed,
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

    /** The machine's memory in bytes. */
    record Memory(long total, long available) {
        /**
         * MemTotal and MemAvailable, as OSHI reads them on Linux, without OSHI: it loads JNA and its native library
         * (140 classes, a megabyte that the daemon would keep for two numbers).
         */
        static Optional<Memory> fromProc(Path meminfo) {
            List<String> lines;
            try {
                lines = Files.readAllLines(meminfo);
            } catch (IOException e) {
                return Optional.empty();
            }
            OptionalLong total = kib(lines, "MemTotal:");
            OptionalLong available = kib(lines, "MemAvailable:");
            return total.isPresent() && available.isPresent()
                    ? Optional.of(new Memory(total.getAsLong() * 1024, available.getAsLong() * 1024))
                    : Optional.empty();
        }

        /** Elsewhere than on Linux. */
        static Memory fromOshi() {
            GlobalMemory memory = new SystemInfo().getHardware().getMemory();
            return new Memory(memory.getTotal(), memory.getAvailable());
        }

        /** {@code MemTotal:       16303512 kB} */
        private static OptionalLong kib(List<String> lines, String key) {
            return lines.stream().filter(line -> line.startsWith(key))
                    .map(line -> line.substring(key.length()).strip().split("\\s+")[0])
                    .filter(number -> number.chars().allMatch(Character::isDigit) && !number.isEmpty())
                    .mapToLong(Long::parseLong).findFirst();
        }
    }

    private static double gb(long bytes) {
        return bytes / 1e9;
    }
}
