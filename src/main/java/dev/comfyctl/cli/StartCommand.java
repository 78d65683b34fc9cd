package dev.comfyctl.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.util.concurrent.Callable;

@Command(name = "start", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        description = {"Starts ComfyUI, printing each step; launches the daemon in the background first when none runs.",
                "Exit code 0 once ComfyUI answers, non-zero with the reason otherwise."})
final class StartCommand implements Callable<Integer> {
    @Mixin
    private ConfigOptions options;

    @Mixin
    private InstanceOption instance;

    @Spec
    private CommandSpec spec;

    @Override
    public Integer call() {
        return LifecycleRequest.run("start", options, instance.name(), spec);
    }
}
