package dev.comfyctl.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.comfyctl.config.Config;
import dev.comfyctl.daemon.DaemonClient;
import dev.comfyctl.daemon.DaemonInfo;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.time.Duration;

@Command(name = "schedule", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        description = {"Scheduled restarts (every COMFYUI_RESTART_INTERVAL seconds, after the queue drains).",
                "The on/off choice and the next restart time survive a daemon restart."})
final class ScheduleCommand {
    @Spec
    private CommandSpec spec;

    @Mixin
    private ConfigOptions options;

    @Command(name = "status", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
            description = "On or off, the next restart and the time left, the last outcome, memory, disk and GPU memory.")
    int status() {
        return print(client().call("GET", "/manager/schedule", Duration.ofSeconds(15)));
    }

    @Command(name = "enable", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
            description = "Turns scheduled restarts on; the next one is an interval from now.")
    int enable() {
        return print(client().call("POST", "/manager/schedule/enable", Duration.ofSeconds(15)));
    }

    @Command(name = "disable", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
            description = "Turns scheduled restarts off.")
    int disable() {
        return print(client().call("POST", "/manager/schedule/disable", Duration.ofSeconds(15)));
    }

    @Command(name = "force-restart", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
            description = "Restarts ComfyUI now (it unloads its models first); a running prompt is cut unless --wait-for-queue.")
    int forceRestart(@Option(names = "--wait-for-queue", description = "wait for running and pending prompts first (up to RESTART_DRAIN_MAX_SECONDS)")
                     boolean waitForQueue) {
        JsonNode result = client().call("POST", "/manager/schedule/force-restart?waitForQueue=" + waitForQueue, Duration.ZERO);
        if (!result.path("ok").asBoolean()) {
            throw new ExitException(ExitCode.FAILED, result.path("error").asText("the restart failed"));
        }
        spec.commandLine().getOut().println(result.path("outcome").asText());
        return ExitCode.OK;
    }

    private DaemonClient client() {
        Config config = options.load();
        DaemonInfo daemon = DaemonInfo.read(config.home()).orElseThrow(() -> new ExitException(ExitCode.NOT_RUNNING,
                "the comfyctl daemon is not running for " + config.home() + "; start it with 'comfyctl start' or 'comfyctl serve'"));
        return new DaemonClient(daemon, config.managerToken());
    }

    private int print(JsonNode schedule) {
        if (schedule.has("error")) {
            throw new ExitException(ExitCode.FAILED, schedule.path("error").asText());
        }
        PrintWriter out = spec.commandLine().getOut();
        out.printf("%-13s%s%n", "scheduling:", schedule.path("enabled").asBoolean()
                ? "on, every " + StatusText.uptime(schedule.path("intervalSeconds").asLong()) : "off");
        if (schedule.has("nextRestart")) {
            out.printf("%-13s%s (in %s)%n", "next:", schedule.path("nextRestart").asText(),
                    StatusText.uptime(schedule.path("remainingSeconds").asLong()));
        }
        if (schedule.path("restarting").asBoolean()) {
            out.printf("%-13s%s%n", "now:", "restarting (waiting for the queue, or starting)");
        }
        if (schedule.has("lastRestart")) {
            out.printf("%-13s%s: %s%n", "last:", schedule.path("lastRestart").asText(), schedule.path("lastOutcome").asText());
        }
        out.printf("%-13s%s%n", "system:", schedule.path("system").path("summary").asText());
        return ExitCode.OK;
    }
}
