package dev.comfyctl.cli;

import dev.comfyctl.config.Config;
import dev.comfyctl.daemon.DaemonLauncher;
import dev.comfyctl.process.LogFollower;
import dev.comfyctl.process.SessionLogs;
import dev.comfyctl.supervisor.InstanceGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.Callable;

@Command(name = "logs", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        description = {"Prints ComfyUI's current session log (logs/YYYYMMDD_HHMMSS.log in the state directory).",
                "-f follows it across restarts, like tail -F."})
final class LogsCommand implements Callable<Integer> {
    private static final Duration FOLLOW_POLL = Duration.ofMillis(200);

    @Mixin
    private ConfigOptions options;

    @Spec
    private CommandSpec spec;

    @Option(names = {"-n", "--lines"}, paramLabel = "N", defaultValue = "50", description = "lines to print (default ${DEFAULT-VALUE})")
    private int lines;

    @Option(names = {"-f", "--follow"}, description = "keep printing new lines, across restarts (Ctrl-C ends)")
    private boolean follow;

    @Mixin
    private InstanceOption instance;

    @Option(names = "--daemon", description = "the background daemon's own log instead")
    private boolean daemon;

    @Override
    public Integer call() {
        if (lines < 0) {
            throw new ExitException(ExitCode.INVALID_INPUT, "--lines must be 0 or more, got " + lines);
        }
        Config config = options.load();
        PrintWriter out = spec.commandLine().getOut();
        if (daemon) {
            Path log = DaemonLauncher.logFile(config.home());
            if (!Files.exists(log)) {
                throw new ExitException(ExitCode.NOT_RUNNING, "no daemon log at " + log + " (only 'comfyctl start' writes one;"
                        + " under systemd see journalctl -u comfyctl)");
            }
            SessionLogs.tail(log, lines).forEach(out::println);
            return ExitCode.OK;
        }
        Path logsDir;
        try {
            logsDir = InstanceGroup.logsDir(config, instance.name());
        } catch (IllegalArgumentException e) {
            throw new ExitException(ExitCode.INVALID_INPUT, e.getMessage());
        }
        SessionLogs logs = new SessionLogs(logsDir);
        if (follow) {
            try (LogFollower follower = new LogFollower(logs, new LogFollower.Listener() {
                @Override
                public void line(String line) {
                    out.println(line);
                    out.flush();
                }

                @Override
                public void following(Path log) {
                    out.println("==> " + log + " <==");
                    out.flush();
                }
            }, FOLLOW_POLL)) {
                follower.follow(lines);
            }
            return ExitCode.OK;
        }
        Optional<Path> current = logs.current();
        if (current.isEmpty()) {
            throw new ExitException(ExitCode.NOT_RUNNING, "no session log in " + logsDir
                    + " yet: ComfyUI has not been started with this state directory ('comfyctl start')");
        }
        out.println("==> " + current.get() + " <==");
        SessionLogs.tail(current.get(), lines).forEach(out::println);
        return ExitCode.OK;
    }
}
