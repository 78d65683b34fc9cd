package dev.comfyctl.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.HelpCommand;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.util.Map;

@Command(name = "comfyctl",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        description = "Runs ComfyUI in production: starts, watches, restarts and stops it.",
        subcommands = {
                SetupCommand.class,
                UpdateCommand.class,
                InstallCommand.class,
                ServeCommand.class,
                StartCommand.class,
                StopCommand.class,
                RestartCommand.class,
                StatusCommand.class,
                LogsCommand.class,
                EventsCommand.class,
                ScheduleCommand.class,
                SubmitCommand.class,
                JobsCommand.class,
                FleetCommand.class,
                ConfigCommand.class,
                ServiceCommand.class,
                CompletionCommand.class,
                HelpCommand.class
        })
final class ComfyctlCommand implements Runnable {
    private final Map<String, String> environment;

    ComfyctlCommand(Map<String, String> environment) {
        this.environment = Map.copyOf(environment);
    }

    Map<String, String> environment() {
        return environment;
    }

    @Spec
    private CommandSpec spec;

    @Override
    public void run() {
        throw new ParameterException(spec.commandLine(), "a command is required");
    }
}
