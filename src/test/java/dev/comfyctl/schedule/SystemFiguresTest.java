package dev.comfyctl.schedule;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assumptions.assumeThat;

/** The machine's memory, read from /proc/meminfo as OSHI would, without loading OSHI. */
class SystemFiguresTest {
    @TempDir
    Path dir;

    @Test
    void memoryIsMemTotalAndMemAvailableInBytes() throws IOException {
        Path meminfo = Files.writeString(dir.resolve("meminfo"), """
                MemTotal:       16303512 kB
                MemFree:          812344 kB
                MemAvailable:    9876543 kB
                Buffers:          123456 kB
                """);

        assertThat(SystemFigures.Memory.fromProc(meminfo))
                .contains(new SystemFigures.Memory(16303512L * 1024, 9876543L * 1024));
    }

    @Test
    void aMeminfoWithoutMemAvailableIsNotUsed() throws IOException {
        Path meminfo = Files.writeString(dir.resolve("meminfo"), "MemTotal:       16303512 kB\nMemFree:          812344 kB\n");

        assertThat(SystemFigures.Memory.fromProc(meminfo)).isEmpty();
    }

    @Test
    void noMeminfoIsNotUsed() {
        assertThat(SystemFigures.Memory.fromProc(dir.resolve("absent"))).isEmpty();
    }

    @Test
    void onLinuxProcAndOshiAgreeOnTheTotal() {
        Path meminfo = Path.of("/proc/meminfo");
        assumeThat(Files.isReadable(meminfo)).isTrue();

        SystemFigures.Memory proc = SystemFigures.Memory.fromProc(meminfo).orElseThrow();
        SystemFigures.Memory oshi = SystemFigures.Memory.fromOshi();

        assertThat(proc.total()).isEqualTo(oshi.total());
        assertThat(proc.available()).isPositive().isLessThanOrEqualTo(proc.total());
    }
}
