package dev.comfyctl.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.comfyctl.config.Config;
import dev.comfyctl.daemon.DaemonClient;
import dev.comfyctl.daemon.DaemonInfo;
import dev.comfyctl.daemon.DaemonLauncher;
import dev.comfyctl.daemon.DaemonStopper;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintWriter;
import java.util.Optional;

/** Shared by start and restart: find or launch the daemon, stream the steps, report the result. */
final class LifecycleRequest {
    private LifecycleRequest() {
    }

    static int run(String action, ConfigOptions options, Optional<String> instance, CommandSpec spec) {
        Config config = options.load();
        PrintWriter out = spec.commandLine().getOut();
        StepPrinter printer = new StepPrinter(out);
        printer.banner(action + " ComfyUI · port " + config.managerPort() + " · " + config.comfyDir());
        Optional<DaemonInfo> running = DaemonInfo.read(config.home());
        DaemonInfo daemon = running.orElseGet(() -> {
            out.println("  starting the comfyctl daemon in the background (log: " + DaemonLauncher.logFile(config.home()) + ")");
            out.flush();
            return DaemonLauncher.launch(config, options.flags(), line -> {
                out.println("    " + line);
                out.flush();
            });
        });
        JsonNode result = new DaemonClient(daemon, config.managerToken()).lifecycle(action, instance, printer::step);
        if (!result.path("ok").asBoolean()) {
            if (running.isEmpty()) {
                DaemonStopper.stop(daemon, config.stopGrace());
            }
            throw new ExitException(result.has("validInstances") ? ExitCode.INVALID_INPUT : ExitCode.FAILED,
                    StepPrinter.failure(result));
        }
        if (result.has("instances")) {
            for (JsonNode one : result.path("instances")) {
                out.println(one.path("instance").asText() + ": " + (one.path("alreadyRunning").asBoolean()
                        ? "already running (pid " + one.path("pid").asLong() + ")"
                        : "ready (pid " + one.path("pid").asLong() + ", " + one.path("timeToReadyMs").asLong() + " ms to ready)"
                        + " · log: " + one.path("sessionLog").asText()));
            }
            out.println("ComfyUI is ready at " + daemon.baseUrl() + "/ (" + result.path("instances").size() + " instances)");
        } else if (result.path("alreadyRunning").asBoolean()) {
            out.println("ComfyUI is already running (pid " + result.path("pid").asLong() + ") behind " + daemon.baseUrl());
        } else {
            out.println("ComfyUI is ready (pid " + result.path("pid").asLong() + ", " + result.path("timeToReadyMs").asLong()
                    + " ms to ready) at " + daemon.baseUrl() + "/  · log: " + result.path("sessionLog").asText());
        }
        return ExitCode.OK;
    }
}
