package dev.comfyctl.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.comfyctl.config.Config;
import dev.comfyctl.daemon.DaemonClient;
import dev.comfyctl.daemon.DaemonInfo;
import dev.comfyctl.process.ProcessInfo;
import dev.comfyctl.supervisor.Strays;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;

@Command(name = "status", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        description = {"Shows the daemon and ComfyUI: state, pid, uptime, port, API health, GPU, queue, log file.",
                "Exit code 0 when the daemon runs, 3 when it does not."})
final class StatusCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Mixin
    private ConfigOptions options;

    @Spec
    private CommandSpec spec;

    @Option(names = "--json", description = "machine-readable output")
    private boolean json;

    @Override
    public Integer call() throws Exception {
        Config config = options.load();
        PrintWriter out = spec.commandLine().getOut();
        Optional<DaemonInfo> daemon = DaemonInfo.read(config.home());
        if (daemon.isPresent()) {
            JsonNode status = new DaemonClient(daemon.get(), config.managerToken()).status();
            out.println(json ? JSON.writerWithDefaultPrettyPrinter().writeValueAsString(status) : StatusText.render(status));
            return ExitCode.OK;
        }
        List<ProcessInfo> strays = Strays.find(config.comfyDir());
        if (json) {
            ObjectNode node = JSON.createObjectNode().putNull("daemon");
            ArrayNode strayNodes = node.putArray("strays");
            strays.forEach(stray -> strayNodes.addObject().put("pid", stray.pid()).put("commandLine", stray.commandLine()));
            out.println(JSON.writerWithDefaultPrettyPrinter().writeValueAsString(node));
        } else {
            out.println("daemon:    not running (state directory " + config.home() + ")");
            if (strays.isEmpty()) {
                out.println("ComfyUI:   not running");
            }
            strays.forEach(stray -> out.println("ComfyUI:   STRAY pid " + stray.pid() + " (" + stray.commandLine()
                    + ") runs without comfyctl; 'comfyctl stop' stops it"));
        }
        out.flush();
        spec.commandLine().getErr().println("comfyctl: the daemon is not running");
        return ExitCode.NOT_RUNNING;
    }
}
