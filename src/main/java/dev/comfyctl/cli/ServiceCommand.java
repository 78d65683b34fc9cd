package dev.comfyctl.cli;

import dev.comfyctl.config.Config;
import dev.comfyctl.service.ComfyctlService;
import dev.comfyctl.service.ServiceException;
import dev.comfyctl.service.ServiceInstaller;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Optional;
import java.util.function.Supplier;

@Command(name = "service", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        description = "Installs, removes or shows the systemd unit that runs 'comfyctl serve' at boot.")
final class ServiceCommand {
    @Spec
    private CommandSpec spec;

    @Mixin
    private ConfigOptions options;

    // Inherited, so that they work after the subcommand too: 'comfyctl service install --unit-dir DIR'.
    @Option(names = "--unit-dir", paramLabel = "DIR", defaultValue = "/etc/systemd/system", scope = ScopeType.INHERIT,
            description = "where the unit file goes (default ${DEFAULT-VALUE})")
    private Path unitDir;

    @Option(names = "--name", defaultValue = "comfyctl", scope = ScopeType.INHERIT, description = "unit name (default ${DEFAULT-VALUE})")
    private String name;

    @Command(name = "install", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
            description = "Writes the unit; with --enable also reloads systemd and enables it at boot.")
    int install(@Option(names = "--user", paramLabel = "USER", description = "account to run as (default: $SUDO_USER, else you)") String user,
                @Option(names = "--group", paramLabel = "GROUP") String group,
                @Option(names = "--allow-root", description = "allow running ComfyUI as root (not recommended)") boolean allowRoot,
                @Option(names = "--enable", description = "systemctl daemon-reload and enable") boolean enable) {
        Config config = options.load();
        String account = Optional.ofNullable(user)
                .or(() -> Optional.ofNullable(options.environment().get("SUDO_USER")))
                .orElse(System.getProperty("user.name"));
        ServiceInstaller.Result result = reported(() -> ServiceInstaller.forThisProcess().install(unitDir, name,
                ComfyctlService.unit(config, account, Optional.ofNullable(group), allowRoot), enable));
        PrintWriter out = spec.commandLine().getOut();
        out.println("unit " + result.unitFile() + " (runs as " + account + ")");
        result.actions().forEach(action -> out.println("  " + action));
        if (!enable) {
            out.println("enable it with: systemctl daemon-reload && systemctl enable --now " + name);
        }
        return ExitCode.OK;
    }

    @Command(name = "uninstall", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
            description = "Stops and disables the unit when systemd is there, and removes it; idempotent.")
    int uninstall() {
        ServiceInstaller.Result result = reported(() -> ServiceInstaller.forThisProcess().uninstall(unitDir, name, true));
        PrintWriter out = spec.commandLine().getOut();
        out.println("unit " + result.unitFile());
        result.actions().forEach(action -> out.println("  " + action));
        return ExitCode.OK;
    }

    @Command(name = "status", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
            description = "Whether the unit is installed, and whether systemd runs it.")
    int status() {
        ServiceInstaller.Status status = reported(() -> ServiceInstaller.forThisProcess().status(unitDir, name));
        PrintWriter out = spec.commandLine().getOut();
        out.println("unit:   " + status.unitFile() + (status.installed() ? " (installed)" : " (not installed)"));
        status.activeState().ifPresent(state -> out.println("active: " + state));
        status.note().ifPresent(note -> out.println("note:   " + note));
        return status.installed() ? ExitCode.OK : ExitCode.NOT_RUNNING;
    }

    /** The installer's failures are the user's to fix (a bad name, no root): a one-line error, not a stack trace. */
    private static <T> T reported(Supplier<T> action) {
        try {
            return action.get();
        } catch (IllegalArgumentException e) {
            throw new ExitException(ExitCode.INVALID_INPUT, e.getMessage());
        } catch (ServiceException e) {
            throw new ExitException(ExitCode.FAILED, e.getMessage());
        }
    }
}
