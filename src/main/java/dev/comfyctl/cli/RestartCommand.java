package dev.comfyctl.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

import java.util.concurrent.Callable;

@Command(name = "restart", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        description = "Stops ComfyUI when it runs, then starts it, printing each step.")
final class RestartCommand implements Callable<Integer> {
    @Mixin
    private ConfigOptions options;

    @Mixin
    private InstanceOption instance;

    @Spec
    private CommandSpec spec;

    @Override
    public Integer call() {
        return LifecycleRequest.run("restart", options, instance.name(), spec);
    }
}
