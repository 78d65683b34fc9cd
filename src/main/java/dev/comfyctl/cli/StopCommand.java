package dev.comfyctl.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.comfyctl.config.Config;
import dev.comfyctl.daemon.DaemonClient;
import dev.comfyctl.daemon.DaemonException;
import dev.comfyctl.daemon.DaemonInfo;
import dev.comfyctl.daemon.DaemonStopper;
import dev.comfyctl.supervisor.Strays;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;

@Command(name = "stop", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        description = {"Stops ComfyUI and every process it spawned (SIGTERM, then SIGKILL after the grace period).",
                "Ends the daemon too when 'comfyctl start' launched it. Nothing running is not an error."})
final class StopCommand implements Callable<Integer> {
    @Mixin
    private ConfigOptions options;

    @Mixin
    private InstanceOption instance;

    @Spec
    private CommandSpec spec;

    @Override
    public Integer call() {
        Config config = options.load();
        PrintWriter out = spec.commandLine().getOut();
        new StepPrinter(out).banner("stop ComfyUI · " + config.comfyDir());
        Optional<DaemonInfo> daemon = DaemonInfo.read(config.home());
        if (instance.name().isPresent()) {
            // The other instances run on, supervised: none of their processes is a stray to stop.
            stopOne(daemon.orElseThrow(() -> new ExitException(ExitCode.NOT_RUNNING, "no comfyctl daemon runs for "
                    + config.home() + ", so no instance " + instance.name().get() + " either")), config, out);
            return ExitCode.OK;
        }
        if (daemon.isPresent()) {
            stopThroughDaemon(daemon.get(), config, out);
        }
        List<Strays.Stopped> strays = Strays.stopAll(config.comfyDir(), config.stopGrace());
        strays.forEach(stray -> out.println("stray ComfyUI " + stray.describe()));
        if (daemon.isEmpty() && strays.isEmpty()) {
            out.println("nothing running: no comfyctl daemon for " + config.home() + " and no ComfyUI process of " + config.comfyDir());
        }
        List<Long> survivors = strays.stream().flatMap(s -> s.result().survivors().stream()).toList();
        if (!survivors.isEmpty()) {
            throw new ExitException(ExitCode.FAILED, "processes " + survivors + " survived SIGKILL");
        }
        return ExitCode.OK;
    }

    private void stopOne(DaemonInfo daemon, Config config, PrintWriter out) {
        JsonNode result = new DaemonClient(daemon, config.managerToken()).lifecycle("stop", instance.name(), step -> { });
        if (!result.path("ok").asBoolean()) {
            throw new ExitException(result.has("validInstances") ? ExitCode.INVALID_INPUT : ExitCode.FAILED,
                    StepPrinter.failure(result));
        }
        out.println(instance.name().get() + ": " + stopped(result));
    }

    private static String stopped(JsonNode result) {
        return result.path("wasRunning").asBoolean()
                ? "ComfyUI " + (result.path("forced").asBoolean() ? "killed after the grace period" : "stopped")
                + " in " + result.path("tookMs").asLong() + " ms (signalled " + result.path("signalled") + ")"
                : "ComfyUI was not running";
    }

    private void stopThroughDaemon(DaemonInfo daemon, Config config, PrintWriter out) {
        JsonNode result;
        try {
            result = new DaemonClient(daemon, config.managerToken()).lifecycle("stop", step -> { });
        } catch (DaemonException e) {
            if (!e.unreachable()) {
                throw e;
            }
            // Alive but not answering (hung, or its jar replaced under it): end it the way systemd would.
            spec.commandLine().getErr().println("comfyctl: warning: " + e.getMessage() + "; ending it with SIGTERM");
            endDaemon(daemon, config, out);
            return;
        }
        if (!result.path("ok").asBoolean()) {
            throw new ExitException(ExitCode.FAILED, StepPrinter.failure(result));
        }
        if (result.has("instances")) {
            result.path("instances").forEach(one -> out.println(one.path("instance").asText() + ": " + stopped(one)));
        } else {
            out.println(stopped(result));
        }
        if (daemon.background()) {
            endDaemon(daemon, config, out);
        }
    }

    private static void endDaemon(DaemonInfo daemon, Config config, PrintWriter out) {
        if (!DaemonStopper.stop(daemon, config.stopGrace())) {
            throw new ExitException(ExitCode.FAILED, "the comfyctl daemon (pid " + daemon.pid()
                    + ") did not exit; kill it with: kill -9 " + daemon.pid());
        }
        out.println("comfyctl daemon (pid " + daemon.pid() + ") stopped");
    }
}
