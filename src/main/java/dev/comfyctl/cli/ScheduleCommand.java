package dev.comfyctl.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.comfyctl.config.Config;
import dev.comfyctl.daemon.DaemonClient;
import dev.comfyctl.daemon.DaemonInfo;
import dev.comfyctl.events.Event;
import dev.comfyctl.events.EventType;
import dev.comfyctl.telemetry.EventFile;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

@Command(name = "schedule", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        description = {"Scheduled restarts (every COMFYUI_RESTART_INTERVAL seconds, after the queue drains).",
                "The on/off choice and the next restart time survive a daemon restart."})
final class ScheduleCommand {
    private static final Set<EventType> RESTART_EVENTS = EnumSet.of(EventType.SCHEDULED_RESTART, EventType.DRAIN_WAIT,
            EventType.HANG, EventType.CRASH, EventType.FORCED_KILL, EventType.SYSTEM_STATUS, EventType.START_FAILED);
    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss");

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

    @Command(name = "logs", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
            description = "The restart events: scheduled and forced restarts, drain waits, hangs, crashes, system status.")
    int logs(@Option(names = {"-n", "--lines"}, paramLabel = "N", defaultValue = "50", description = "events to print (default ${DEFAULT-VALUE})")
             int lines) {
        if (lines < 0) {
            throw new ExitException(ExitCode.INVALID_INPUT, "--lines must be 0 or more, got " + lines);
        }
        restartEvents(options.load(), lines).forEach(spec.commandLine().getOut()::println);
        return ExitCode.OK;
    }

    /** The last {@code count} restart-related events of the event log, as printed lines; read locally, no daemon needed. */
    private static List<String> restartEvents(Config config, int count) {
        List<Event> events = EventFile.read(config.home(), Instant.EPOCH, Integer.MAX_VALUE).events().stream()
                .filter(event -> RESTART_EVENTS.contains(event.type()))
                .toList();
        return events.subList(Math.max(0, events.size() - count), events.size()).stream()
                .map(event -> String.format("%s  %-17s  %s", TIME.format(event.at().atZone(ZoneId.systemDefault())),
                        event.type().id(), event.message()))
                .toList();
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
        List<String> recent = restartEvents(options.load(), 10);
        if (!recent.isEmpty()) {
            out.println("recent events:");
            recent.forEach(line -> out.println("  " + line));
        }
        return ExitCode.OK;
    }
}
