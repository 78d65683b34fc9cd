package dev.comfyctl.gpu;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The GPU-related flags a user put among ComfyUI's extra arguments, checked for contradictions that
 * ComfyUI's argument parser would reject at startup, so the user hears about them before a start attempt.
 */
record ExtraArgs(Optional<String> memoryFlag, Optional<String> mallocFlag, OptionalInt cudaDevice) {

    private static final Set<String> MEMORY_FLAGS =
            Arrays.stream(MemoryMode.values()).map(MemoryMode::flag).collect(Collectors.toUnmodifiableSet());
    private static final Set<String> MALLOC_FLAGS = Set.of(LaunchFlags.CUDA_MALLOC, LaunchFlags.DISABLE_CUDA_MALLOC);

    /**
     * @throws IllegalArgumentException naming the flags when two exclusive memory or CUDA malloc flags are
     *                                  given, or {@code --cuda-device} is repeated, lacks a value or has a non-numeric one
     */
    static ExtraArgs scan(List<String> args) {
        Set<String> memory = new LinkedHashSet<>();
        Set<String> malloc = new LinkedHashSet<>();
        List<Integer> devices = new ArrayList<>();
        for (int i = 0; i < args.size(); i++) {
            String arg = args.get(i);
            if (MEMORY_FLAGS.contains(arg)) {
                memory.add(arg);
            } else if (MALLOC_FLAGS.contains(arg)) {
                malloc.add(arg);
            } else if (arg.equals(LaunchFlags.CUDA_DEVICE)) {
                if (i + 1 >= args.size()) {
                    throw new IllegalArgumentException(LaunchFlags.CUDA_DEVICE + " in the extra arguments has no value");
                }
                devices.add(device(args.get(++i)));
            } else if (arg.startsWith(LaunchFlags.CUDA_DEVICE + "=")) {
                devices.add(device(arg.substring(LaunchFlags.CUDA_DEVICE.length() + 1)));
            }
        }
        if (memory.size() > 1) {
            throw new IllegalArgumentException("the extra arguments contain " + String.join(" and ", memory)
                    + ", but ComfyUI accepts only one memory mode flag; keep one");
        }
        if (malloc.size() > 1) {
            throw new IllegalArgumentException("the extra arguments contain " + String.join(" and ", malloc)
                    + ", which contradict each other; keep one");
        }
        if (devices.size() > 1) {
            throw new IllegalArgumentException("the extra arguments contain " + LaunchFlags.CUDA_DEVICE + " " + devices.size()
                    + " times (" + devices.stream().map(String::valueOf).collect(Collectors.joining(", ")) + "); keep one");
        }
        return new ExtraArgs(memory.stream().findFirst(), malloc.stream().findFirst(),
                devices.isEmpty() ? OptionalInt.empty() : OptionalInt.of(devices.get(0)));
    }

    private static int device(String value) {
        String digits = value.trim();
        if (digits.isEmpty() || digits.length() > 9 || !digits.chars().allMatch(c -> c >= '0' && c <= '9')) {
            throw new IllegalArgumentException(LaunchFlags.CUDA_DEVICE + " in the extra arguments needs a GPU index (0, 1, ...), got '"
                    + value + "'");
        }
        return Integer.parseInt(digits);
    }
}
