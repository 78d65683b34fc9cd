package dev.comfyctl.cli;

import dev.comfyctl.daemon.Version;
import picocli.CommandLine.IVersionProvider;

final class VersionProvider implements IVersionProvider {
    @Override
    public String[] getVersion() {
        return new String[] {"comfyctl " + Version.current()};
    }
}
