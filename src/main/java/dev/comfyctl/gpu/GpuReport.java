package dev.comfyctl.gpu;

import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * What GPU detection found, where it came from, and what went wrong if anything.
 *
 * <p>A report with GPUs may still carry a warning (e.g. some nvidia-smi lines could not be read);
 * a report from source {@link Source#NONE} never has GPUs.
 *
 * @param gpus    detected GPUs in nvidia-smi index order; immutable
 * @param source  where the list came from
 * @param warning a sentence for the operator: what happened and what it means
 */
public record GpuReport(List<Gpu> gpus, Source source, Optional<String> warning) {

    /** Where a report's GPUs came from. */
    public enum Source {
        /** A successful run of nvidia-smi. */
        NVIDIA_SMI,
        /** Configured fake GPUs, for machines without one (tests, demos). */
        MOCK,
        /** No detection result: CPU mode configured, or nvidia-smi missing or failing. */
        NONE
    }

    /** @throws IllegalArgumentException when a {@link Source#NONE} report lists GPUs */
    public GpuReport {
        gpus = List.copyOf(gpus);
        Objects.requireNonNull(source, "source");
        Objects.requireNonNull(warning, "warning");
        if (source == Source.NONE && !gpus.isEmpty()) {
            throw new IllegalArgumentException("source NONE with " + gpus.size() + " GPUs");
        }
    }

    /** A report without GPUs; {@code warning} may be null when CPU mode was asked for. */
    static GpuReport none(String warning) {
        return new GpuReport(List.of(), Source.NONE, Optional.ofNullable(warning));
    }

    public int count() {
        return gpus.size();
    }

    public boolean isEmpty() {
        return gpus.isEmpty();
    }

    /** The GPU with this nvidia-smi index, if detected. */
    public Optional<Gpu> gpu(int index) {
        return gpus.stream().filter(g -> g.index() == index).findFirst();
    }
}
