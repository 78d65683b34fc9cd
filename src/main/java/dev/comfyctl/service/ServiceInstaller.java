package dev.comfyctl.service;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * Installs, removes and inspects the comfyctl systemd service.
 *
 * <p>systemctl is looked up on the {@code PATH} of the environment given here and runs with exactly
 * that environment; where it is missing (containers, tests) the file work is still done and the result
 * says which systemctl commands to run by hand. Immutable and thread-safe, but two installs of the same
 * unit at once are not coordinated (the last rename wins).
 */
public final class ServiceInstaller {

    /** How long one systemctl command may take by default; daemon-reload on a busy host takes seconds. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(30);

    private static final Pattern UNIT_NAME = Pattern.compile("[A-Za-z0-9_:][A-Za-z0-9_:.-]*");
    private static final String SUFFIX = ".service";

    /**
     * What an install or uninstall did.
     *
     * @param unitFile the unit file's path
     * @param actions  what was done or skipped, in order, as sentences for the operator
     */
    public record Result(Path unitFile, List<String> actions) {
        public Result {
            Objects.requireNonNull(unitFile, "unitFile");
            actions = List.copyOf(actions);
        }
    }

    /**
     * Where the service stands.
     *
     * @param installed   whether the unit file exists
     * @param unitFile    its path
     * @param activeState systemd's answer to {@code is-active} ({@code active}, {@code inactive}, {@code failed}, ...)
     * @param note        why there is no active state, when there is none
     */
    public record Status(boolean installed, Path unitFile, Optional<String> activeState, Optional<String> note) {
    }

    private final Map<String, String> environment;
    private final Duration timeout;

    /**
     * @param environment the environment systemctl is looked up in (its PATH) and runs with
     * @param timeout     how long one systemctl command may take before it is killed
     */
    public ServiceInstaller(Map<String, String> environment, Duration timeout) {
        this.environment = Map.copyOf(environment);
        if (timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("timeout <= 0: " + timeout);
        }
        this.timeout = timeout;
    }

    /** With this JVM's environment and {@link #DEFAULT_TIMEOUT}. */
    public static ServiceInstaller forThisProcess() {
        return new ServiceInstaller(System.getenv(), DEFAULT_TIMEOUT);
    }

    /** Where systemctl would be run from; empty when it is not on PATH. */
    public Optional<Path> systemctl() {
        return Systemctl.find(environment, timeout).map(Systemctl::executable);
    }

    /**
     * Writes the unit to {@code <unitDir>/<name>.service} atomically (a temporary file in the same
     * directory, renamed over the old one), so systemd never reads half a file. With {@code enable} and
     * systemctl on PATH, then runs {@code systemctl daemon-reload} and {@code systemctl enable <name>.service}.
     * Enabling does not start the service.
     *
     * @param unitDir e.g. {@code /etc/systemd/system}; created when missing
     * @param name    the unit name, with or without {@code .service}
     * @throws IllegalArgumentException when the name is not a valid unit name
     * @throws ServiceException         when the file cannot be written or a systemctl command fails; the message
     *                                  says what was done before
     */
    public Result install(Path unitDir, String name, SystemdUnit unit, boolean enable) {
        String fileName = fileName(name);
        Path unitFile = unitDir.resolve(fileName);
        List<String> actions = new ArrayList<>();
        byte[] text = unit.render().getBytes(StandardCharsets.UTF_8);
        try {
            if (Files.isRegularFile(unitFile) && Arrays.equals(Files.readAllBytes(unitFile), text)) {
                actions.add(unitFile + " is already up to date");
            } else {
                writeAtomically(unitDir, unitFile, text);
                actions.add("wrote " + unitFile);
            }
        } catch (IOException e) {
            throw new ServiceException("cannot write " + unitFile + ": " + e + ". Installing a system service usually needs root (sudo).", e);
        }
        if (!enable) {
            actions.add("did not run systemctl (not asked to); to use the unit run: systemctl daemon-reload && systemctl enable " + fileName);
            return new Result(unitFile, actions);
        }
        Optional<Systemctl> systemctl = Systemctl.find(environment, timeout);
        if (systemctl.isEmpty()) {
            actions.add("systemctl not found on PATH; on the host run: systemctl daemon-reload && systemctl enable " + fileName);
            return new Result(unitFile, actions);
        }
        runOrFail(systemctl.get(), actions, "daemon-reload");
        runOrFail(systemctl.get(), actions, "enable", fileName);
        return new Result(unitFile, actions);
    }

    /**
     * Removes the unit; idempotent. With {@code useSystemctl} and systemctl on PATH, first stops and
     * disables it ({@code systemctl disable --now}) and reloads systemd afterwards; failures of those are
     * reported in the actions, not thrown, so a half-removed service can always be cleaned up.
     *
     * @throws IllegalArgumentException when the name is not a valid unit name
     * @throws ServiceException         when the file exists but cannot be deleted
     */
    public Result uninstall(Path unitDir, String name, boolean useSystemctl) {
        String fileName = fileName(name);
        Path unitFile = unitDir.resolve(fileName);
        List<String> actions = new ArrayList<>();
        // NOFOLLOW_LINKS: a unit file that is a dangling symbolic link is still there to be removed.
        if (!Files.exists(unitFile, LinkOption.NOFOLLOW_LINKS)) {
            actions.add("nothing to remove: " + unitFile + " does not exist");
            return new Result(unitFile, actions);
        }
        Optional<Systemctl> systemctl = useSystemctl ? Systemctl.find(environment, timeout) : Optional.empty();
        if (systemctl.isPresent()) {
            runAndReport(systemctl.get(), actions, "disable", "--now", fileName);
        } else {
            actions.add(useSystemctl ? "systemctl not found on PATH; could not stop or disable " + fileName
                    : "did not run systemctl (not asked to); " + fileName + " may still be running until stopped");
        }
        try {
            Files.delete(unitFile);
        } catch (IOException e) {
            throw new ServiceException("cannot delete " + unitFile + ": " + e + " (after: " + String.join("; ", actions) + ")", e);
        }
        actions.add("removed " + unitFile);
        systemctl.ifPresent(s -> runAndReport(s, actions, "daemon-reload"));
        return new Result(unitFile, actions);
    }

    /**
     * Whether the unit file exists, and systemd's {@code is-active} answer when systemctl is on PATH and
     * answers with a state. Never throws for systemctl failures (the note says what happened).
     *
     * @throws IllegalArgumentException when the name is not a valid unit name
     */
    public Status status(Path unitDir, String name) {
        String fileName = fileName(name);
        Path unitFile = unitDir.resolve(fileName);
        boolean installed = Files.isRegularFile(unitFile);
        Optional<Systemctl> systemctl = Systemctl.find(environment, timeout);
        if (systemctl.isEmpty()) {
            return new Status(installed, unitFile, Optional.empty(), Optional.of("systemctl not found on PATH"));
        }
        // is-active exits non-zero for every state but "active"; the printed state is the answer.
        Systemctl.Result result = systemctl.get().run("is-active", fileName);
        String state = result.output().strip();
        if (state.matches("[a-z-]+")) {
            return new Status(installed, unitFile, Optional.of(state), Optional.empty());
        }
        return new Status(installed, unitFile, Optional.empty(),
                Optional.of("systemctl is-active " + fileName + " gave no state (exit " + result.exitCode() + "): " + result.summary()));
    }

    private static String fileName(String name) {
        String base = name != null && name.endsWith(SUFFIX) ? name.substring(0, name.length() - SUFFIX.length()) : name;
        if (base == null || !UNIT_NAME.matcher(base).matches() || base.length() > 200) {
            throw new IllegalArgumentException("'" + name + "' is not a usable unit name: use letters, digits, '_', ':', '.', '-'"
                    + " (not first), e.g. comfyctl");
        }
        return base + SUFFIX;
    }

    private static void writeAtomically(Path dir, Path target, byte[] text) throws IOException {
        Files.createDirectories(dir);
        // Hidden and not ending in .service, so systemd never picks the temporary file up as a unit.
        Path temp = Files.createTempFile(dir, "." + target.getFileName() + ".", ".tmp");
        try {
            try (FileChannel channel = FileChannel.open(temp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                channel.write(ByteBuffer.wrap(text));
                channel.force(true);
            }
            Files.setPosixFilePermissions(temp, PosixFilePermissions.fromString("rw-r--r--"));
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(temp);
        }
    }

    private static void runOrFail(Systemctl systemctl, List<String> actions, String... args) {
        Systemctl.Result result = systemctl.run(args);
        String command = "systemctl " + String.join(" ", args);
        if (!result.succeeded()) {
            throw new ServiceException(command + " failed (exit " + result.exitCode() + "): " + result.summary()
                    + ". Done before: " + String.join("; ", actions) + ". Fix the cause and run " + command + " again.");
        }
        actions.add("ran " + command);
    }

    private static void runAndReport(Systemctl systemctl, List<String> actions, String... args) {
        Systemctl.Result result = systemctl.run(args);
        String command = "systemctl " + String.join(" ", args);
        actions.add(result.succeeded() ? "ran " + command
                : command + " failed (exit " + result.exitCode() + "): " + result.summary() + "; continuing");
    }
}
