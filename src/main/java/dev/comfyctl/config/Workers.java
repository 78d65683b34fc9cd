package dev.comfyctl.config;

import java.util.Locale;
import java.util.OptionalInt;

/**
 * The {@code WORKERS} plan, as the seed writes it: {@code comfyui:N} instances of ComfyUI, or {@code comfyui:auto}
 * for one per detected GPU (one on a machine without a GPU).
 *
 * @param count empty for {@code auto}
 */
public record Workers(OptionalInt count) {
    public static final int MAX = 64;
    private static final String SERVICE = "comfyui";

    public Workers {
        if (count.isPresent() && (count.getAsInt() < 1 || count.getAsInt() > MAX)) {
            throw new IllegalArgumentException("count " + count.getAsInt() + " is not from 1 to " + MAX);
        }
    }

    /**
     * @throws IllegalArgumentException whose message says what the value must be
     */
    static Workers parse(String raw) {
        String[] parts = raw.strip().toLowerCase(Locale.ROOT).split(":", -1);
        String expected = "must be comfyui:N (N from 1 to " + MAX + ") or comfyui:auto (one per GPU), such as comfyui:2";
        if (parts.length != 2 || !parts[0].strip().equals(SERVICE)) {
            throw new IllegalArgumentException(expected);
        }
        String count = parts[1].strip();
        if (count.equals("auto")) {
            return new Workers(OptionalInt.empty());
        }
        try {
            int n = Integer.parseInt(count);
            if (n >= 1 && n <= MAX) {
                return new Workers(OptionalInt.of(n));
            }
        } catch (NumberFormatException e) {
            // reported below, with the shape the value must have
        }
        throw new IllegalArgumentException(expected);
    }

    public boolean auto() {
        return count.isEmpty();
    }

    /** How many instances to run when {@code gpuCount} GPUs were detected. */
    public int instances(int gpuCount) {
        return count.orElse(Math.max(1, gpuCount));
    }

    @Override
    public String toString() {
        return SERVICE + ":" + (auto() ? "auto" : Integer.toString(count.getAsInt()));
    }
}
