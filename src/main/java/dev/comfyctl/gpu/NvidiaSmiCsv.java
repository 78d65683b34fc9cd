package dev.comfyctl.gpu;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Function;

/**
 * Reads nvidia-smi's {@code --format=csv,noheader,nounits} output.
 *
 * <p>nvidia-smi never quotes fields, so a product name containing a comma spans several fields; the
 * GPU query therefore reads the index from the left and the three numeric/driver fields from the right,
 * and whatever lies between is the name. Fields are trimmed; {@code [N/A]}, {@code N/A} and
 * {@code [Not Supported]} become {@link Gpu#UNKNOWN} or {@code "unknown"}.
 */
final class NvidiaSmiCsv {

    /** Lines parsed into values, and the lines that could not be. */
    record Parsed<T>(List<T> values, List<String> unreadable) {
        Parsed {
            values = List.copyOf(values);
            unreadable = List.copyOf(unreadable);
        }
    }

    private NvidiaSmiCsv() {
    }

    /** Parses {@code index, name, memory.total, memory.free, driver_version} lines. */
    static Parsed<Gpu> gpus(String output) {
        return parse(output, NvidiaSmiCsv::gpu);
    }

    /** Parses {@code pid, used_memory} lines; the "No running processes found" some versions print means none. */
    static Parsed<GpuProcess> computeApps(String output) {
        return parse(output.replaceAll("(?im)^\\s*No running processes found\\s*$", ""), NvidiaSmiCsv::computeApp);
    }

    private static <T> Parsed<T> parse(String output, Function<String[], Optional<T>> reader) {
        List<T> values = new ArrayList<>();
        List<String> unreadable = new ArrayList<>();
        for (String line : output.split("\\R")) {
            if (line.isBlank()) {
                continue;
            }
            String[] fields = line.split(",", -1);
            reader.apply(fields).ifPresentOrElse(values::add, () -> unreadable.add(line.strip()));
        }
        return new Parsed<>(values, unreadable);
    }

    private static Optional<Gpu> gpu(String[] fields) {
        if (fields.length < 5) {
            return Optional.empty();
        }
        int last = fields.length - 1;
        // Untrimmed fields, so "Tesla T4, PCIe" keeps the space after its comma.
        String name = String.join(",", List.of(fields).subList(1, last - 2)).trim();
        Optional<Long> index = number(fields[0]);
        Optional<Long> total = memory(fields[last - 2]);
        Optional<Long> free = memory(fields[last - 1]);
        String driverField = fields[last].trim();
        if (index.isEmpty() || index.get() > Integer.MAX_VALUE
                || total.isEmpty() || free.isEmpty() || name.isEmpty()) {
            return Optional.empty();
        }
        String driver = isNotAvailable(driverField) || driverField.isEmpty() ? "unknown" : driverField;
        return Optional.of(new Gpu(index.get().intValue(), name, total.get(), free.get(), driver));
    }

    private static Optional<GpuProcess> computeApp(String[] fields) {
        if (fields.length != 2) {
            return Optional.empty();
        }
        Optional<Long> pid = number(fields[0]);
        Optional<Long> used = memory(fields[1]);
        if (pid.isEmpty() || pid.get() <= 0 || used.isEmpty()) {
            return Optional.empty();
        }
        return Optional.of(new GpuProcess(pid.get(), used.get()));
    }

    /** A memory figure: a non-negative number, or {@link Gpu#UNKNOWN} for nvidia-smi's "not available". */
    private static Optional<Long> memory(String rawField) {
        return isNotAvailable(rawField.trim()) ? Optional.of(Gpu.UNKNOWN) : number(rawField);
    }

    private static Optional<Long> number(String rawField) {
        String field = rawField.trim();
        if (field.isEmpty() || !field.chars().allMatch(c -> c >= '0' && c <= '9')) {
            return Optional.empty();
        }
        try {
            return Optional.of(Long.parseLong(field));
        } catch (NumberFormatException tooLarge) {
            return Optional.empty();
        }
    }

    private static boolean isNotAvailable(String field) {
        return field.equals("[N/A]") || field.equals("N/A") || field.equals("[Not Supported]");
    }
}
