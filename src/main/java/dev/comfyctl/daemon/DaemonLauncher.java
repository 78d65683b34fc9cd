package dev.comfyctl.daemon;

import dev.comfyctl.config.Config;
import dev.comfyctl.config.Setting;
import dev.comfyctl.process.SessionLogs;

import java.io.File;
import java.io.IOException;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * Starts {@code comfyctl serve} as a background process that outlives the CLI (its own session, output to
 * {@code <home>/daemon.log}) and waits until it listens, passing on the startup progress it publishes
 * ({@link StartupProgress}). It waits as long as that progress advances: installing custom nodes and models
 * before the daemon listens may take any time, but a daemon that shows no progress for
 * {@link #PROGRESS_TIMEOUT} is taken to be stuck.
 */
public final class DaemonLauncher {
    /** Longer than a model download may stall (60 s) before it is retried, which is progress again. */
    private static final Duration PROGRESS_TIMEOUT = Duration.ofSeconds(90);
    private static final Duration POLL = Duration.ofMillis(20);
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
     * @param flags    the settings given as flags to the CLI, passed on so the daemon resolves the same config
     * @param progress told each line of the daemon's startup progress as it comes
     * @throws DaemonException when the daemon exits, or makes no progress for 90 s, before it listens; the message
     *     has its log tail
     */
    public static DaemonInfo launch(Config config, Map<String, String> flags, Consumer<String> progress) {
        return launch(config, flags, progress, PROGRESS_TIMEOUT);
    }

    static DaemonInfo launch(Config config, Map<String, String> flags, Consumer<String> progress, Duration progressTimeout) {
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
        Path progressFile = StartupProgress.file(config.home());
        Process process;
        try {
            Files.createDirectories(config.home());
            // What a daemon that ended before it listened left behind is not this one's progress.
            Files.deleteIfExists(progressFile);
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
        try (ProgressReader reader = new ProgressReader(progressFile, progress)) {
            Instant deadline = Instant.now().plus(progressTimeout);
            while (Instant.now().isBefore(deadline)) {
                boolean advanced = reader.readNew();
                Optional<DaemonInfo> info = DaemonInfo.read(config.home());
                if (info.isPresent()) {
                    // Its last steps were written before it listened, perhaps after the read above.
                    reader.readNew();
                    return info.get();
                }
                if (!process.isAlive()) {
                    reader.readNew();
                    throw new DaemonException("the comfyctl daemon exited with code " + process.exitValue()
                            + " before it listened:\n" + tail(log));
                }
                if (advanced) {
                    deadline = Instant.now().plus(progressTimeout);
                }
                try {
                    Thread.sleep(POLL.toMillis());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
        }
        process.destroy();
        throw new DaemonException("the comfyctl daemon made no progress for " + progressTimeout.toSeconds()
                + " s and did not listen; it was stopped:\n" + tail(log));
    }

    /**
     * Follows the progress file: passes on each new whole line, and tells whether it grew or was touched. It
     * keeps the file open once it exists, so that lines written just before the daemon removes it (as it starts
     * listening) are still read.
     */
    private static final class ProgressReader implements AutoCloseable {
        private final Path file;
        private final Consumer<String> progress;
        private FileChannel channel;
        private FileTime modified;
        private String partial = "";

        ProgressReader(Path file, Consumer<String> progress) {
            this.file = file;
            this.progress = progress;
        }

        boolean readNew() {
            try {
                if (channel == null) {
                    if (!Files.exists(file)) {
                        return false;
                    }
                    channel = FileChannel.open(file, StandardOpenOption.READ);
                }
                boolean touched = touched();
                // A few lines a step: small enough to read whole.
                long size = channel.size();
                if (size <= channel.position()) {
                    return touched;
                }
                byte[] added = Channels.newInputStream(channel).readNBytes((int) (size - channel.position()));
                String text = partial + new String(added, StandardCharsets.UTF_8);
                int end = text.lastIndexOf('\n');
                partial = text.substring(end + 1);
                if (end >= 0) {
                    text.substring(0, end).lines().forEach(progress);
                }
                return true;
            } catch (IOException e) {
                return false;
            }
        }

        /** Whether the daemon touched the file since the last look (it does while a step runs without a new line). */
        private boolean touched() {
            try {
                FileTime now = Files.getLastModifiedTime(file);
                boolean touched = modified != null && now.compareTo(modified) > 0;
                modified = now;
                return touched;
            } catch (IOException e) {
                return false;  // removed: the daemon listens, and daemon.json tells that next
            }
        }

        @Override
        public void close() {
            if (channel != null) {
                try {
                    channel.close();
                } catch (IOException e) {
                    // nothing was written through it
                }
            }
        }
    }

    private static String tail(Path log) {
        return String.join("\n", SessionLogs.tail(log, 15));
    }
}
