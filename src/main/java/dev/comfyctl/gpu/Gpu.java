package dev.comfyctl.gpu;

import java.util.Objects;

/**
 * One GPU as nvidia-smi (or the mock) describes it.
 *
 * <p>Memory figures are in MiB, as nvidia-smi reports them. A figure nvidia-smi could not give
 * ({@code [N/A]}, seen on unified-memory systems such as Grace Hopper) is {@link #UNKNOWN}.
 *
 * @param index         nvidia-smi's index, the number {@code --cuda-device} takes (PCI bus order)
 * @param name          product name, e.g. {@code NVIDIA GeForce RTX 4090}
 * @param vramTotalMib  total memory in MiB, or {@link #UNKNOWN}
 * @param vramFreeMib   free memory in MiB at detection time, or {@link #UNKNOWN}
 * @param driverVersion driver version, or {@code "unknown"}
 */
public record Gpu(int index, String name, long vramTotalMib, long vramFreeMib, String driverVersion) {

    /** Stands for a memory figure nvidia-smi reported as {@code [N/A]}. */
    public static final long UNKNOWN = -1;

    /** @throws IllegalArgumentException when the index is negative or a memory figure is below {@link #UNKNOWN} */
    public Gpu {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(driverVersion, "driverVersion");
        if (index < 0) {
            throw new IllegalArgumentException("index < 0: " + index);
        }
        if (vramTotalMib < UNKNOWN) {
            throw new IllegalArgumentException("vramTotalMib < 0: " + vramTotalMib);
        }
        if (vramFreeMib < UNKNOWN) {
            throw new IllegalArgumentException("vramFreeMib < 0: " + vramFreeMib);
        }
    }

    /** Whether nvidia-smi reported the total memory, which {@link MemoryMode#forVram} needs. */
    public boolean hasKnownVram() {
        return vramTotalMib != UNKNOWN;
    }
}
