package dev.comfyctl.cli;

import dev.comfyctl.config.Config;
import dev.comfyctl.config.Setting;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.concurrent.Callable;

@Command(name = "config", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        description = {"Prints every setting with its value and where it came from.",
                "Precedence: default < config file < environment < flags."})
final class ConfigCommand implements Callable<Integer> {
    @Mixin
    private ConfigOptions options;

    @Spec
    private CommandSpec spec;

    @Option(names = "--describe", description = "also say what each setting does")
    private boolean describe;

    @Override
    public Integer call() {
        Config config = options.load();
        PrintWriter out = spec.commandLine().getOut();
        out.println("# config file: " + config.configFile());
        for (Setting setting : Setting.values()) {
            Config.Value value = config.value(setting);
            String shown = value.raw().isEmpty() ? "\"\"" : setting.secret() ? "(set, hidden)" : value.raw();
            out.printf("%-34s %-28s %s%n", setting.key(), shown, value.origin());
            if (describe) {
                out.printf("    %s%n", setting.description());
            }
        }
        return ExitCode.OK;
    }
}
