package dev.comfyctl.process;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Finds ComfyUI processes of a ComfyUI directory, whoever started them: the daemon's own, ones left by
 * a crashed daemon, ones a user started by hand.
 */
public final class StrayProcesses {

    private StrayProcesses() {
    }

    /**
     * Every live process, other than this JVM, run by a Python interpreter (program name starting with
     * {@code python}: {@code python}, {@code python3.11}, a venv's {@code bin/python}) with an argument
     * that is {@code <comfyDir>/main.py}. Paths are compared after resolving symlinks; a relative argument
     * such as {@code main.py} is resolved against that process's working directory. A process whose
     * working directory this user may not read is matched only by an absolute argument.
     *
     * @return matches ordered by pid; empty if {@code comfyDir} has no {@code main.py}
     * @throws UncheckedIOException if {@code /proc} cannot be listed
     */
    public static List<ProcessInfo> find(Path comfyDir) {
        Optional<Path> mainPy = realPath(comfyDir.resolve("main.py"));
        if (mainPy.isEmpty()) {
            return List.of();
        }
        long self = ProcessHandle.current().pid();
        List<ProcessInfo> found = new ArrayList<>();
        try (DirectoryStream<Path> proc = Files.newDirectoryStream(Path.of("/proc"), ProcessTree::isPidDirectory)) {
            for (Path dir : proc) {
                long pid = Long.parseLong(dir.getFileName().toString());
                if (pid != self && runsScript(pid, mainPy.get())) {
                    ProcessInfo.of(pid).ifPresent(found::add);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot list /proc to look for ComfyUI processes of " + comfyDir, e);
        }
        found.sort((a, b) -> Long.compare(a.pid(), b.pid()));
        return found;
    }

    private static boolean runsScript(long pid, Path script) {
        List<String> arguments = ProcessInfo.arguments(pid).orElse(List.of());
        if (arguments.size() < 2 || !isPython(arguments.get(0))) {
            return false;
        }
        Path cwd = null;
        for (String argument : arguments.subList(1, arguments.size())) {
            if (!argument.endsWith("main.py")) {
                continue;
            }
            Path candidate;
            try {
                candidate = Path.of(argument);
            } catch (InvalidPathException e) {
                continue;
            }
            if (!candidate.isAbsolute()) {
                if (cwd == null) {
                    Optional<Path> readable = realPath(Path.of("/proc", Long.toString(pid), "cwd"));
                    if (readable.isEmpty()) {
                        continue;
                    }
                    cwd = readable.get();
                }
                candidate = cwd.resolve(candidate);
            }
            if (realPath(candidate).filter(script::equals).isPresent()) {
                return true;
            }
        }
        return false;
    }

    private static boolean isPython(String program) {
        int slash = program.lastIndexOf('/');
        return program.substring(slash + 1).startsWith("python");
    }

    private static Optional<Path> realPath(Path path) {
        try {
            return Optional.of(path.toRealPath());
        } catch (IOException | SecurityException e) {
            return Optional.empty();
        }
    }
}
