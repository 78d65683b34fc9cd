package dev.comfyctl.cli;

import dev.comfyctl.config.Config;
import dev.comfyctl.config.ConfigLoader;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.util.LinkedHashMap;
import java.util.Map;

/** The options every command that needs the configuration shares; flags are the last layer of {@link Config}. */
final class ConfigOptions {
    @Spec(Spec.Target.MIXEE)
    private CommandSpec mixee;

    @Option(names = "--dir", paramLabel = "DIR", description = "ComfyUI install directory (COMFYUI_DIR)")
    private String dir;

    @Option(names = "--home", paramLabel = "DIR", description = "state directory (COMFYCTL_HOME)")
    private String home;

    @Option(names = "--config", paramLabel = "FILE", description = "config file (COMFYCTL_CONFIG)")
    private String configFile;

    @Option(names = "--port", paramLabel = "PORT", description = "port of the daemon and proxy (MANAGER_PORT)")
    private String managerPort;

    @Option(names = "--comfyui-port", paramLabel = "PORT", description = "port of ComfyUI behind comfyctl (COMFYUI_PORT)")
    private String comfyPort;

    @Option(names = "--set", paramLabel = "KEY=VALUE", description = "any setting, e.g. --set GPU_MODE=mock")
    private Map<String, String> settings = new LinkedHashMap<>();

    @Option(names = {"-v", "--verbose"}, description = "stack traces on errors")
    private boolean verbose;

    /** The settings given as flags, keyed by setting key. */
    Map<String, String> flags() {
        Map<String, String> flags = new LinkedHashMap<>(settings);
        putIfGiven(flags, "COMFYUI_DIR", dir);
        putIfGiven(flags, "COMFYCTL_HOME", home);
        putIfGiven(flags, "COMFYCTL_CONFIG", configFile);
        putIfGiven(flags, "MANAGER_PORT", managerPort);
        putIfGiven(flags, "COMFYUI_PORT", comfyPort);
        return flags;
    }

    private static void putIfGiven(Map<String, String> flags, String key, String value) {
        if (value != null) {
            flags.put(key, value);
        }
    }

    /** Resolves the configuration, printing its warnings on stderr. */
    Config load() {
        ConfigLoader.Loaded loaded = ConfigLoader.load(environment(), flags());
        loaded.warnings().forEach(warning -> mixee.commandLine().getErr().println("comfyctl: warning: " + warning));
        return loaded.config();
    }

    Map<String, String> environment() {
        return ((ComfyctlCommand) mixee.root().userObject()).environment();
    }
}
