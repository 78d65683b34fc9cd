package dev.comfyctl.cli;

import dev.comfyctl.config.Config;
import dev.comfyctl.daemon.GpuDetectors;
import dev.comfyctl.install.ComfyUiSetup;
import dev.comfyctl.install.SetupException;
import dev.comfyctl.process.CommandRunner;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.Callable;

@Command(name = "setup",
        description = {"Installs ComfyUI into COMFYUI_DIR (or --dir): clone, version, virtual environment, PyTorch for",
                "this machine, requirements. Safe to run again: finished steps are skipped, half-done ones resumed.",
                "Here --version names the ComfyUI version; comfyctl's own is 'comfyctl --version'."})
final class SetupCommand implements Callable<Integer> {
    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    private boolean help;

    @Mixin
    private ConfigOptions options;

    @Spec
    private CommandSpec spec;

    @Option(names = "--version", paramLabel = "TAG|COMMIT", description = "ComfyUI version to check out (default: the clone's default branch)")
    private String version;

    @Option(names = "--python", paramLabel = "PYTHON", description = "python that creates the virtual environment (default: python3 on PATH)")
    private Path python;

    @Override
    public Integer call() {
        Config config = options.load();
        PrintWriter out = spec.commandLine().getOut();
        Path creator = Optional.ofNullable(python)
                .or(() -> CommandRunner.findOnPath("python3", options.environment().get("PATH")))
                .orElseThrow(() -> new ExitException(ExitCode.INVALID_INPUT,
                        "no python3 on PATH: install it (apt-get install python3 python3-venv) or pass --python"));
        new StepPrinter(out).banner("setup ComfyUI · " + config.comfyDir());
        ComfyUiSetup setup = new ComfyUiSetup(new ComfyUiSetup.Options(config.comfyDir(), config.repoUrl(),
                Optional.ofNullable(version), creator, config.torchIndexUrl(), config.pipExtraArgs()),
                GpuDetectors.fromConfig(config).detect(), progress -> {
                    out.printf("%s [%d/5] %-20s %s%n", progress.done() ? (progress.skipped() ? "=" : " ") : ">",
                            progress.number(), progress.title(), progress.message());
                    out.flush();
                });
        try {
            setup.run();
        } catch (SetupException e) {
            throw new ExitException(ExitCode.FAILED, e.getMessage() + (e.outputTail().isEmpty() ? ""
                    : "\n--- last lines of its output ---\n" + String.join("\n", e.outputTail())));
        }
        out.println("ComfyUI is set up in " + config.comfyDir() + "; start it with: comfyctl start");
        return ExitCode.OK;
    }
}
