package dev.comfyctl.gpu;

import java.util.Arrays;
import java.util.Locale;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * ComfyUI's memory modes. Their flags are mutually exclusive: ComfyUI's argument parser exits with
 * status 2 when given two of them.
 */
public enum MemoryMode {
    /** Keep everything, text encoders included, on the GPU. */
    GPU_ONLY("--gpu-only"),
    /** Keep models in VRAM after use instead of unloading them to RAM. */
    HIGHVRAM("--highvram"),
    /** ComfyUI's default behaviour, forced even when it would pick low-VRAM mode by itself. */
    NORMALVRAM("--normalvram"),
    /** Split the model to fit small cards. */
    LOWVRAM("--lowvram"),
    /** Even more offloading than lowvram. */
    NOVRAM("--novram"),
    /** Run on the CPU; no CUDA at all. */
    CPU("--cpu");

    private final String flag;

    MemoryMode(String flag) {
        this.flag = flag;
    }

    /** The ComfyUI command-line flag, e.g. {@code --gpu-only}. */
    public String flag() {
        return flag;
    }

    /** The name users write, e.g. {@code gpu-only}: the flag without its dashes. */
    public String userName() {
        return flag.substring(2);
    }

    /**
     * Parses a user-written name: {@code gpu-only}, {@code highvram}, {@code normalvram}, {@code lowvram},
     * {@code novram} or {@code cpu}, case-insensitive, with or without the leading {@code --}.
     *
     * @throws IllegalArgumentException naming the valid names when {@code name} is none of them
     */
    public static MemoryMode fromName(String name) {
        String wanted = name == null ? "" : name.trim().toLowerCase(Locale.ROOT);
        String bare = wanted.startsWith("--") ? wanted.substring(2) : wanted;
        return Arrays.stream(values())
                .filter(mode -> mode.userName().equals(bare))
                .findFirst()
                .orElseThrow(() -> new IllegalArgumentException("unknown memory mode '" + name + "'; valid names: "
                        + Arrays.stream(values()).map(MemoryMode::userName).collect(Collectors.joining(", "))));
    }

    /** The mode whose flag is exactly {@code flag} (e.g. {@code --lowvram}), if any. */
    static Optional<MemoryMode> fromFlag(String flag) {
        return Arrays.stream(values()).filter(mode -> mode.flag.equals(flag)).findFirst();
    }

    /**
     * The size a card is sold as: {@code round(totalMib / 1024)} GB. Cards report a little less than
     * their marketed size (a 16 GB RTX 4080 reports 16376 MiB), so truncating would put it a band lower.
     */
    public static long marketedGigabytes(long totalMib) {
        return Math.round(totalMib / 1024.0);
    }

    /**
     * The mode for a GPU with this much memory, banded on {@link #marketedGigabytes}: 20 GB and more
     * {@link #GPU_ONLY}, 16-19 GB {@link #HIGHVRAM}, 8-15 GB {@link #NORMALVRAM}, below 8 GB {@link #LOWVRAM}.
     *
     * @throws IllegalArgumentException when {@code totalMib} is negative (unknown VRAM has no band)
     */
    public static MemoryMode forVram(long totalMib) {
        if (totalMib < 0) {
            throw new IllegalArgumentException("totalMib < 0: " + totalMib);
        }
        long gigabytes = marketedGigabytes(totalMib);
        if (gigabytes >= 20) {
            return GPU_ONLY;
        }
        if (gigabytes >= 16) {
            return HIGHVRAM;
        }
        if (gigabytes >= 8) {
            return NORMALVRAM;
        }
        return LOWVRAM;
    }

    /** The VRAM band {@link #forVram} picks this mode for, for explanations; empty for modes it never picks. */
    String vramBand() {
        return switch (this) {
            case GPU_ONLY -> ">= 20 GB";
            case HIGHVRAM -> "16-19 GB";
            case NORMALVRAM -> "8-15 GB";
            case LOWVRAM -> "< 8 GB";
            case NOVRAM, CPU -> "";
        };
    }
}
