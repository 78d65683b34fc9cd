package dev.comfyctl.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.HelpCommand;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.util.List;
import java.util.Map;
import java.util.Optional;

// The subcommands are added by commandLine(), from SUBCOMMANDS.
@Command(name = "comfyctl",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        description = "Runs ComfyUI in production: starts, watches, restarts and stops it.")
final class ComfyctlCommand implements Runnable {
    /** In the order of the help text. */
    static final List<Class<?>> SUBCOMMANDS = List.of(
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
            HelpCommand.class);
    /** These describe the other subcommands, so they need them all. */
    private static final List<Class<?>> DESCRIBING_OTHERS = List.of(CompletionCommand.class, HelpCommand.class);

    private final Map<String, String> environment;

    ComfyctlCommand(Map<String, String> environment) {
        this.environment = Map.copyOf(environment);
    }

    Map<String, String> environment() {
        return environment;
    }

    @Spec
    private CommandSpec spec;

    /**
     * The command line for {@code args}: when they start with a subcommand's name, with that subcommand only.
     * Picocli reads the annotations of every subcommand it is given, which costs each command tens of
     * milliseconds of start-up, at the rate of one more subcommand a week; the help, completion and error
     * messages that list the subcommands get them all.
     */
    static CommandLine commandLine(Map<String, String> environment, String[] args) {
        CommandLine commandLine = new CommandLine(new ComfyctlCommand(environment));
        Optional<Class<?>> named = args.length == 0 ? Optional.empty() : SUBCOMMANDS.stream()
                .filter(subcommand -> !DESCRIBING_OTHERS.contains(subcommand))
                .filter(subcommand -> subcommand.getAnnotation(Command.class).name().equals(args[0]))
                .findFirst();
        named.map(List::<Class<?>>of).orElse(SUBCOMMANDS).forEach(commandLine::addSubcommand);
        return commandLine;
    }

    @Override
    public void run() {
        throw new ParameterException(spec.commandLine(), "a command is required");
    }
}
