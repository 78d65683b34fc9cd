package dev.comfyctl.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.comfyctl.daemon.JobClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;

@Command(name = "jobs", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        description = {"The daemon's durable job queue: list (the default), show ID, cancel ID.",
                "Jobs are queued with 'comfyctl submit' or POST /jobs."})
final class JobsCommand implements Callable<Integer> {
    private static final Set<String> STATES = Set.of("queued", "running", "succeeded", "failed", "cancelled");

    @Mixin
    private ConfigOptions options;

    @Spec
    private CommandSpec spec;

    @Override
    public Integer call() {
        return list(null, false);
    }

    @Command(name = "list", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
            description = "The jobs, newest first: id, state, progress, attempts, created, error.")
    int list(@Option(names = "--state", paramLabel = "STATE", description = "only jobs in this state: queued, running, succeeded, failed, cancelled")
             String state,
             @Option(names = "--json", description = "the daemon's JSON answer") boolean json) {
        if (state != null && !STATES.contains(state)) {
            throw new ExitException(ExitCode.INVALID_INPUT, "--state must be one of queued, running, succeeded, failed, cancelled; got '"
                    + state + "'");
        }
        JobClient client = JobCommands.client(options);
        JsonNode answer = call(client, () -> client.list(Optional.ofNullable(state)));
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            out.println(answer.toPrettyString());
            return ExitCode.OK;
        }
        if (answer.path("jobs").isEmpty()) {
            out.println(state == null ? "no jobs" : "no " + state + " jobs");
            return ExitCode.OK;
        }
        out.printf("%-36s  %-9s  %4s  %3s  %-24s  %s%n", "ID", "STATE", "DONE", "TRY", "CREATED", "ERROR");
        for (JsonNode job : answer.path("jobs")) {
            out.printf("%-36s  %-9s  %3d%%  %3d  %-24s  %s%n", job.path("id").asText(), job.path("state").asText(),
                    Math.round(job.path("progress").asDouble() * 100), job.path("attempts").asInt(), job.path("createdAt").asText(),
                    oneLine(job.path("error").asText("")));
        }
        out.println(answer.path("depth").asLong() + " waiting");
        return ExitCode.OK;
    }

    @Command(name = "show", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
            description = "One job as JSON: state, progress, attempts, errors, outputs (path, size, sha256).")
    int show(@Parameters(paramLabel = "ID") String id) {
        JobClient client = JobCommands.client(options);
        spec.commandLine().getOut().println(call(client, () -> client.call("GET", "/jobs/" + id)).toPrettyString());
        return ExitCode.OK;
    }

    @Command(name = "cancel", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
            description = "Cancels a job: a queued one is removed, a running one is interrupted in ComfyUI.")
    int cancel(@Parameters(paramLabel = "ID") String id) {
        JobClient client = JobCommands.client(options);
        JsonNode job = call(client, () -> client.call("DELETE", "/jobs/" + id));
        String state = job.path("state").asText();
        spec.commandLine().getOut().println("job " + id + " " + (state.equals("running") ? "is being interrupted" : state));
        return ExitCode.OK;
    }

    private interface Call {
        JobClient.Answer run() throws IOException;
    }

    private static JsonNode call(JobClient client, Call call) {
        try {
            return JobCommands.expectOk(call.run()).body();
        } catch (IOException e) {
            throw JobCommands.unreachable(client, e);
        }
    }

    private static String oneLine(String text) {
        String line = text.strip().replaceAll("\\s+", " ");
        return line.length() > 100 ? line.substring(0, 100) + "..." : line;
    }
}
