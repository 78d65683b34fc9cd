package dev.comfyctl.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.comfyctl.config.Config;
import dev.comfyctl.daemon.DaemonClient;
import dev.comfyctl.daemon.DaemonInfo;
import dev.comfyctl.events.Events;
import dev.comfyctl.install.ComfyUiUpdate;
import dev.comfyctl.install.UpdateException;
import dev.comfyctl.install.UpdateSettings;
import dev.comfyctl.telemetry.EventLog;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.stream.StreamSupport;

@Command(name = "update",
        description = {"Moves ComfyUI to another version (default: the newest of its repository's default branch),",
                "installs requirements.txt when it changed, and restarts ComfyUI after its queue is empty. A version that",
                "does not become ready is rolled back. Without a running daemon only the checkout and requirements change.",
                "Here --version names the ComfyUI version; comfyctl's own is 'comfyctl --version'."})
final class UpdateCommand implements Callable<Integer> {
    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    private boolean help;

    @Mixin
    private ConfigOptions options;

    @Spec
    private CommandSpec spec;

    @Option(names = "--version", paramLabel = "TAG|COMMIT", description = "ComfyUI version to go to")
    private String version;

    @Option(names = "--rollback", description = "go back to the version before the last update")
    private boolean rollback;

    @Override
    public Integer call() {
        if (version != null && rollback) {
            throw new ExitException(ExitCode.INVALID_INPUT, "--version and --rollback exclude each other: give one of them");
        }
        Config config = options.load();
        PrintWriter out = spec.commandLine().getOut();
        new StepPrinter(out).banner((rollback ? "roll back" : "update") + " ComfyUI · " + config.comfyDir());
        Optional<DaemonInfo> daemon = DaemonInfo.read(config.home());
        return daemon.isPresent() ? throughDaemon(daemon.get(), config, out) : alone(config, out);
    }

    private int throughDaemon(DaemonInfo daemon, Config config, PrintWriter out) {
        out.println("  through the comfyctl daemon (pid " + daemon.pid() + "), which drains and restarts ComfyUI");
        StringBuilder path = new StringBuilder("/manager/update");
        if (version != null) {
            path.append("?version=").append(URLEncoder.encode(version, StandardCharsets.UTF_8));
        } else if (rollback) {
            path.append("?rollback=true");
        }
        JsonNode result = new DaemonClient(daemon, config.managerToken()).steps(path.toString(),
                step -> print(out, step.path("step").asInt(), step.path("title").asText(), step.path("outcome").asText(),
                        step.path("message").asText()));
        if (!result.path("ok").asBoolean()) {
            List<String> tail = result.path("logTail").isArray()
                    ? StreamSupport.stream(result.path("logTail").spliterator(), false).map(JsonNode::asText).toList()
                    : List.of();
            throw failure(result.path("error").asText("unknown error"), tail);
        }
        out.println(result.path("summary").asText());
        return ExitCode.OK;
    }

    private int alone(Config config, PrintWriter out) {
        out.println("  no comfyctl daemon runs: only the checkout and its requirements change, nothing is restarted");
        try (EventLog events = EventLog.open(config.home(), config.eventLogMaxBytes(), Clock.systemUTC())) {
            ComfyUiUpdate.Result result = update(config, events, out);
            out.println(result.summary());
            return ExitCode.OK;
        } catch (UpdateException e) {
            throw failure(e.getMessage(), e.outputTail());
        }
    }

    private ComfyUiUpdate.Result update(Config config, Events events, PrintWriter out) {
        return ComfyUiUpdate.create(UpdateSettings.from(config, options.environment()), List.of(), events,
                        progress -> print(out, progress.number(), progress.title(), progress.outcome().name(), progress.message()))
                .run(new ComfyUiUpdate.Request(Optional.ofNullable(version), rollback));
    }

    private static void print(PrintWriter out, int number, String title, String outcome, String message) {
        String mark = switch (outcome) {
            case "RUNNING" -> ">";
            case "SKIPPED" -> "=";
            case "FAILED" -> "x";
            default -> " ";
        };
        out.printf("%s [%d/7] %-13s %s%n", mark, number, title, message);
        out.flush();
    }

    private static ExitException failure(String message, List<String> tail) {
        return new ExitException(ExitCode.FAILED, message + (tail.isEmpty() ? ""
                : "\n--- last lines of its output ---\n" + String.join("\n", tail)));
    }
}
