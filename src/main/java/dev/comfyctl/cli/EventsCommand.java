package dev.comfyctl.cli;

import dev.comfyctl.config.Config;
import dev.comfyctl.events.Event;
import dev.comfyctl.telemetry.EventFile;
import dev.comfyctl.telemetry.EventFollower;
import dev.comfyctl.telemetry.EventJson;
import dev.comfyctl.telemetry.EventLog;
import dev.comfyctl.telemetry.Since;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeFormatter;
import java.util.concurrent.Callable;

@Command(name = "events", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        description = {"Prints the event log (events.jsonl in the state directory): starts, stops, idle stops, wakes,"
                + " crashes, restarts, ... in local time. Needs no running daemon.",
                "-f keeps printing new events, across log rotations."})
final class EventsCommand implements Callable<Integer> {
    private static final Duration FOLLOW_POLL = Duration.ofMillis(200);
    private static final int DEFAULT_LINES = 50;
    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss");

    @Mixin
    private ConfigOptions options;

    @Spec
    private CommandSpec spec;

    @Option(names = {"-f", "--follow"}, description = "keep printing new events (Ctrl-C ends)")
    private boolean follow;

    @Option(names = "--since", paramLabel = "AGE_OR_TIME",
            description = "only events since then: an age (30m, 1h, 1h30m, 2d) or a time (2026-11-25T10:00, 2026-11-25)")
    private String since;

    @Option(names = {"-n", "--lines"}, paramLabel = "N",
            description = "the last N events (default " + DEFAULT_LINES + ", or all of them with --since)")
    private Integer lines;

    @Option(names = "--json", description = "the events as JSON lines, as stored")
    private boolean json;

    @Override
    public Integer call() {
        Clock clock = Clock.systemDefaultZone();
        Instant from = Instant.EPOCH;
        if (since != null) {
            try {
                from = Since.parse(since, clock);
            } catch (IllegalArgumentException e) {
                throw new ExitException(ExitCode.INVALID_INPUT, "--since: " + e.getMessage());
            }
        }
        if (lines != null && lines < 0) {
            throw new ExitException(ExitCode.INVALID_INPUT, "--lines must be 0 or more, got " + lines);
        }
        int limit = lines != null ? lines : since != null ? Integer.MAX_VALUE : DEFAULT_LINES;
        Config config = options.load();
        PrintWriter out = spec.commandLine().getOut();
        try (EventFollower follower = follow ? new EventFollower(config.home(), event -> {
            out.println(format(event, clock));
            out.flush();
        }, FOLLOW_POLL) : null) {
            EventFile.Read read = EventFile.read(config.home(), from, limit);
            if (read.skipped() > 0) {
                spec.commandLine().getErr().println("comfyctl: warning: skipped " + read.skipped() + " unreadable line(s) in "
                        + config.home().resolve(EventLog.FILE_NAME) + " (cut short by a crash, or damaged)");
            }
            read.events().forEach(event -> out.println(format(event, clock)));
            out.flush();
            if (follower != null) {
                follower.follow();
            }
        }
        return ExitCode.OK;
    }

    private String format(Event event, Clock clock) {
        if (json) {
            return EventJson.line(event);
        }
        return String.format("%s  %-8s  %-17s  %s", TIME.format(event.at().atZone(clock.getZone())), event.instance(),
                event.type().id(), event.message());
    }
}
