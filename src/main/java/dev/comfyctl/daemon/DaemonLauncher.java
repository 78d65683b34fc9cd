package dev.comfyctl.daemon;

import dev.comfyctl.config.Config;
import dev.comfyctl.config.Setting;
import dev.comfyctl.process.SessionLogs;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Starts {@code comfyctl serve} as a background process that outlives the CLI (its own session, output to
 * {@code <home>/daemon.log}) and waits until it listens.
 */
public final class DaemonLauncher {
    private static final Duration READY_TIMEOUT = Duration.ofSeconds(30);
    private static final Path SETSID = Path.of("/usr/bin/setsid");
    /**
     * The daemon idles most of its life: a small serial heap that gives memory back, and a C heap trimmed
     * every few seconds, keep its resident memory low, which matters on a GPU box where every megabyte
     * belongs to the models. Without tiered compilation only the hot code (the proxy's) is compiled, by C2:
     * 8 MB less code and profiles than tiered. Netty's JFR probe would load the flight recorder's classes.
     * The launcher script {@code comfyctl serve} passes the same options.
     */
    public static final List<String> JVM_OPTIONS = List.of("-XX:+UseSerialGC", "-Xms8m", "-Xmx512m",
            "-XX:MinHeapFreeRatio=5", "-XX:MaxHeapFreeRatio=20", "-XX:TrimNativeHeapInterval=5000",
            "-XX:-TieredCompilation", "-Dio.netty.jfr.enabled=false");

    private DaemonLauncher() {
    }

    public static Path logFile(Path home) {
        return home.resolve("daemon.log");
    }

    /**
     * @param flags the settings given as flags to the CLI, passed on so the daemon resolves the same config
     * @throws DaemonException when the daemon exits or does not listen within 30 s; the message has its log tail
     */
    public static DaemonInfo launch(Config config, Map<String, String> flags) {
        List<String> command = new ArrayList<>();
        if (Files.isExecutable(SETSID)) {
            command.add(SETSID.toString());
        }
        command.add(ProcessHandle.current().info().command().orElse("java"));
        command.addAll(JVM_OPTIONS);
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), "dev.comfyctl.cli.Main", "serve", "--background"));
        Map<String, String> secrets = new LinkedHashMap<>();
        flags.forEach((key, value) -> {
            if (Setting.byKey(key).map(Setting::secret).orElse(false)) {
                secrets.put(key, value);
            } else {
                command.addAll(List.of("--set", key + "=" + value));
            }
        });
        command.addAll(List.of("--set", "COMFYUI_AUTOSTART=false"));
        Path log = logFile(config.home());
        Process process;
        try {
            Files.createDirectories(config.home());
            ProcessBuilder builder = new ProcessBuilder(command);
            // In the environment, not on the command line, where every user of the machine could read them.
            builder.environment().putAll(secrets);
            process = builder
                    .redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .start();
        } catch (IOException e) {
            throw new DaemonException("cannot launch the comfyctl daemon: " + e.getMessage(), e);
        }
        Instant deadline = Instant.now().plus(READY_TIMEOUT);
        while (Instant.now().isBefore(deadline)) {
            Optional<DaemonInfo> info = DaemonInfo.read(config.home());
            if (info.isPresent()) {
                return info.get();
            }
            if (!process.isAlive()) {
                throw new DaemonException("the comfyctl daemon exited with code " + process.exitValue()
                        + " before it listened:\n" + tail(log));
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        process.destroy();
        throw new DaemonException("the comfyctl daemon did not listen within " + READY_TIMEOUT.toSeconds() + " s:\n" + tail(log));
    }

    private static String tail(Path log) {
        return String.join("\n", SessionLogs.tail(log, 15));
    }
}
