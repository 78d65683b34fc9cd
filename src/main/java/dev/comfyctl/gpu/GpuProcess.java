package dev.comfyctl.gpu;

/**
 * A process holding GPU memory, from {@code nvidia-smi --query-compute-apps}.
 *
 * @param pid           the process id as the host sees it (inside a container nvidia-smi may show host pids)
 * @param usedMemoryMib memory it holds in MiB, or {@link Gpu#UNKNOWN} when nvidia-smi reported {@code [N/A]}
 */
public record GpuProcess(long pid, long usedMemoryMib) {

    /** @throws IllegalArgumentException when the pid is not positive or the memory is below {@link Gpu#UNKNOWN} */
    public GpuProcess {
        if (pid <= 0) {
            throw new IllegalArgumentException("pid <= 0: " + pid);
        }
        if (usedMemoryMib < Gpu.UNKNOWN) {
            throw new IllegalArgumentException("usedMemoryMib < 0: " + usedMemoryMib);
        }
    }
}
