package dev.comfyctl.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.comfyctl.daemon.JobClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.util.concurrent.Callable;

@Command(name = "fleet", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        description = {"The machines working this daemon's job queue (QUEUE_URL), from their heartbeats:"
                + " GPUs, instances, queue depth, last seen. Just this machine when the queue is embedded."})
final class FleetCommand implements Callable<Integer> {
    @Mixin
    private ConfigOptions options;

    @Spec
    private CommandSpec spec;

    @Option(names = "--json", description = "the daemon's JSON answer")
    private boolean json;

    @Override
    public Integer call() {
        JobClient client = JobCommands.client(options);
        JsonNode answer;
        try {
            answer = JobCommands.expectOk(client.call("GET", "/fleet")).body();
        } catch (IOException e) {
            throw JobCommands.unreachable(client, e);
        }
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            out.println(answer.toPrettyString());
            return ExitCode.OK;
        }
        out.printf("%-32s  %-9s  %-5s  %-24s  %s%n", "MACHINE", "INSTANCES", "QUEUE", "LAST SEEN", "GPUS");
        for (JsonNode machine : answer.path("machines")) {
            out.printf("%-32s  %9d  %5d  %-24s  %s%n", machine.path("machine").asText(), machine.path("instances").asInt(),
                    machine.path("queueDepth").asLong(), machine.path("lastSeen").asText(),
                    gpus(machine.path("gpus")));
        }
        out.println(answer.path("machines").size() + " machine(s), " + answer.path("depth").asLong() + " job(s) waiting");
        return ExitCode.OK;
    }

    private static String gpus(JsonNode names) {
        if (names.isEmpty()) {
            return "CPU";
        }
        StringBuilder joined = new StringBuilder();
        names.forEach(name -> joined.append(joined.isEmpty() ? "" : ", ").append(name.asText()));
        return joined.toString();
    }
}
