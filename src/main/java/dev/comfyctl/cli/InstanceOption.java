package dev.comfyctl.cli;

import picocli.CommandLine.Option;

import java.util.Optional;

/** {@code --instance NAME}: act on one ComfyUI instance (such as comfyui-gpu1) instead of all of them. */
final class InstanceOption {
    @Option(names = "--instance", paramLabel = "NAME",
            description = "only this instance, as 'comfyctl status' names it (e.g. comfyui-gpu1); default: all")
    private String instance;

    Optional<String> name() {
        return Optional.ofNullable(instance);
    }
}
