package dev.comfyctl.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.comfyctl.daemon.JobClient;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;

@Command(name = "submit", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        description = {"Queues a workflow (API format, as ComfyUI's 'Export (API)' saves it) in the daemon's durable job queue.",
                "Prints the job id; with --wait, shows its progress and saves its outputs when it succeeds."})
final class SubmitCommand implements Callable<Integer> {
    @Mixin
    private ConfigOptions options;

    @Spec
    private CommandSpec spec;

    @Parameters(index = "0", paramLabel = "WORKFLOW", description = "the workflow JSON file ({\"prompt\": {...}} or the bare prompt)")
    private Path workflow;

    @Option(names = "--priority", paramLabel = "N", defaultValue = "0", description = "higher runs first (default ${DEFAULT-VALUE})")
    private int priority;

    @Option(names = "--input", paramLabel = "FILE", arity = "1..*",
            description = "files the workflow loads (LoadImage ...), uploaded to ComfyUI's input directory under their own names")
    private List<Path> inputs = new ArrayList<>();

    @Option(names = "--webhook", paramLabel = "URL", description = "called with the job as JSON when it finishes")
    private String webhook;

    @Option(names = "--wait", description = "wait for the job, showing its progress; exit 1 when it fails or is cancelled")
    private boolean await;

    @Option(names = "--out", paramLabel = "DIR", description = "with --wait: where the outputs are saved (default: the current directory)")
    private Path out;

    @Override
    public Integer call() {
        if (!Files.isRegularFile(workflow)) {
            throw new ExitException(ExitCode.INVALID_INPUT, "no workflow file " + workflow.toAbsolutePath()
                    + "; export one from ComfyUI with 'Export (API)'");
        }
        for (Path input : inputs) {
            if (!Files.isRegularFile(input)) {
                throw new ExitException(ExitCode.INVALID_INPUT, "no input file " + input.toAbsolutePath());
            }
        }
        if (out != null && !await) {
            throw new ExitException(ExitCode.INVALID_INPUT, "--out needs --wait: outputs are saved once the job has succeeded");
        }
        JobClient client = JobCommands.client(options);
        PrintWriter printed = spec.commandLine().getOut();
        try {
            JobClient.Answer answer = JobCommands.expectOk(client.submit(workflow, priority, Optional.ofNullable(webhook), inputs));
            String id = answer.body().path("id").asText();
            printed.println("job " + id + " queued");
            printed.flush();
            if (!await) {
                return ExitCode.OK;
            }
            JsonNode last = waitFor(client, id);
            String state = last.path("state").asText();
            if (!state.equals("succeeded")) {
                throw new ExitException(ExitCode.FAILED, "job " + id + " " + state
                        + (last.has("error") ? ": " + last.path("error").asText() : ""));
            }
            Path dir = out == null ? Path.of("") : out;
            for (JsonNode output : last.path("outputs")) {
                Path target = dir.resolve(output.path("filename").asText());
                client.download(id, output.path("filename").asText(), target);
                printed.println("saved " + target + " (" + output.path("size").asLong() + " bytes, sha256 "
                        + output.path("sha256").asText() + ")");
            }
            printed.println("job " + id + " succeeded");
            return ExitCode.OK;
        } catch (IOException e) {
            throw JobCommands.unreachable(client, e);
        }
    }

    /** Follows the job's events until it finishes; the last state. A stream that breaks is opened again. */
    private JsonNode waitFor(JobClient client, String id) throws IOException {
        JsonNode[] last = new JsonNode[1];
        try (ProgressBar bar = new ProgressBarBuilder().setTaskName("job " + id.substring(0, Math.min(8, id.length())))
                // On stderr, so that stdout holds only the results a script reads.
                .setInitialMax(100).setStyle(ProgressBarStyle.ASCII).continuousUpdate().setConsumer(new ConsoleProgressBarConsumer(System.err)).build()) {
            while (last[0] == null || !finished(last[0])) {
                client.follow(id, (event, data) -> {
                    if (event.equals("job")) {
                        last[0] = data;
                        bar.stepTo(Math.round(data.path("progress").asDouble() * 100));
                        bar.setExtraMessage(data.path("state").asText());
                    }
                });
                if (last[0] == null || !finished(last[0])) {
                    last[0] = JobCommands.expectOk(client.call("GET", "/jobs/" + id)).body();
                }
            }
        }
        return last[0];
    }

    private static boolean finished(JsonNode job) {
        String state = job.path("state").asText();
        return state.equals("succeeded") || state.equals("failed") || state.equals("cancelled");
    }
}
