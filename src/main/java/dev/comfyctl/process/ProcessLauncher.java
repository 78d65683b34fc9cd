package dev.comfyctl.process;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Starts a process in its own session with its output appended to a log file by the OS.
 *
 * <p>The command is run through util-linux {@code setsid} when it is installed. The child then leads
 * a new session and process group, so {@link ProcessTree} can find everything it starts, and a
 * terminal's Ctrl-C (SIGINT to the terminal's foreground group) does not reach it. The pid stays
 * ComfyUI's own: {@code setsid} forks only when it is already a process group leader (or with
 * {@code -f}); a child the JVM spawns is in the JVM's group and leads none, so {@code setsid} calls
 * {@code setsid()} and execs the command in place. {@code --wait} is therefore neither used nor needed.
 * Without {@code setsid} the command is started directly and stays in this JVM's session; stopping
 * then reaches only its live descendants.
 */
public final class ProcessLauncher {

    private static final Logger log = LoggerFactory.getLogger(ProcessLauncher.class);
    private static final List<Path> SETSID_LOCATIONS = List.of(Path.of("/usr/bin/setsid"), Path.of("/bin/setsid"));

    private final Optional<Path> setsid;

    /** A launcher that uses {@code setsid} if installed at {@code /usr/bin} or {@code /bin}. */
    public ProcessLauncher() {
        this(SETSID_LOCATIONS.stream().filter(Files::isExecutable).findFirst());
        if (setsid.isEmpty()) {
            log.warn("setsid not found at {}: children share comfyctl's session and process group", SETSID_LOCATIONS);
        }
    }

    /** A launcher that uses the given {@code setsid} binary, or none. */
    ProcessLauncher(Optional<Path> setsid) {
        this.setsid = setsid;
    }

    /** @return whether launched processes lead their own session */
    public boolean startsNewSession() {
        return setsid.isPresent();
    }

    /**
     * Starts the process. Stdin is {@code /dev/null}; stdout and stderr are appended to the spec's log file.
     *
     * @throws ProcessLaunchException if the working directory is missing, the program is not found or
     *                                not executable, the log file cannot be opened, or the OS refuses to start it
     */
    public RunningProcess launch(LaunchSpec spec) {
        if (!Files.isDirectory(spec.workingDirectory())) {
            throw new ProcessLaunchException("Cannot start " + spec.command() + ": working directory "
                    + spec.workingDirectory() + " does not exist or is not a directory");
        }
        ProcessBuilder builder = new ProcessBuilder(command(spec))
                .directory(spec.workingDirectory().toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(ProcessBuilder.Redirect.appendTo(spec.logFile().toFile()))
                .redirectErrorStream(true);
        builder.environment().putAll(spec.environment());
        // With setsid a missing program would only show as exit code 127 in the log: fail here instead.
        checkProgram(spec, builder.environment());
        try {
            Path parent = spec.logFile().toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            Process process = builder.start();
            log.info("Started pid {}{}: {} in {} (output: {})", process.pid(), setsid.isPresent() ? " in a new session" : "",
                    spec.command(), spec.workingDirectory(), spec.logFile());
            return new RunningProcess(process, spec);
        } catch (IOException e) {
            throw new ProcessLaunchException("Cannot start " + spec.command() + " in " + spec.workingDirectory()
                    + " with output to " + spec.logFile() + ": " + e.getMessage(), e);
        }
    }

    private List<String> command(LaunchSpec spec) {
        List<String> command = new ArrayList<>();
        setsid.ifPresent(path -> {
            command.add(path.toString());
            command.add("--");
        });
        command.addAll(spec.command());
        return command;
    }

    private static void checkProgram(LaunchSpec spec, Map<String, String> environment) {
        String program = spec.command().get(0);
        if (program.contains("/")) {
            Path path = spec.workingDirectory().resolve(program);
            if (!Files.isRegularFile(path) || !Files.isExecutable(path)) {
                throw new ProcessLaunchException("Cannot start " + spec.command() + ": " + path
                        + (Files.exists(path) ? " is not an executable file" : " does not exist"));
            }
            return;
        }
        String searchPath = environment.getOrDefault("PATH", "");
        boolean found = Stream.of(searchPath.split(":"))
                .filter(dir -> !dir.isEmpty())
                .map(dir -> spec.workingDirectory().resolve(dir).resolve(program))
                .anyMatch(p -> Files.isRegularFile(p) && Files.isExecutable(p));
        if (!found) {
            throw new ProcessLaunchException("Cannot start " + spec.command() + ": " + program
                    + " not found on PATH=" + searchPath);
        }
    }
}
