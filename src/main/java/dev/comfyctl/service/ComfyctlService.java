package dev.comfyctl.service;

import dev.comfyctl.config.Config;
import dev.comfyctl.daemon.DaemonLauncher;

import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** The systemd unit that runs this comfyctl build's daemon for one configuration. */
public final class ComfyctlService {
    private ComfyctlService() {
    }

    /**
     * @param user the non-root account the daemon runs as
     * @throws ServiceException when comfyctl does not run from its jar (a unit needs a stable command)
     */
    public static SystemdUnit unit(Config config, String user, Optional<String> group, boolean allowRoot) {
        Path jar = runningJar();
        String java = ProcessHandle.current().info().command()
                .orElseThrow(() -> new ServiceException("cannot tell which java runs comfyctl; run it by its absolute path"));
        SystemdUnit.Builder builder = SystemdUnit.builder()
                .user(user)
                .allowRoot(allowRoot)
                .workingDirectory(config.comfyDir())
                .environment("COMFYCTL_HOME", config.home().toString())
                .environment("COMFYUI_DIR", config.comfyDir().toString())
                .execStart(command(java, jar))
                .stopGrace(config.stopGrace())
                .stateDirectory(config.home())
                .comfyDirectory(config.comfyDir());
        group.ifPresent(builder::group);
        return builder.build();
    }

    private static List<String> command(String java, Path jar) {
        List<String> command = new ArrayList<>();
        command.add(java);
        command.addAll(DaemonLauncher.JVM_OPTIONS);
        command.addAll(List.of("-jar", jar.toString(), "serve"));
        return command;
    }

    private static Path runningJar() {
        try {
            Path location = Path.of(ComfyctlService.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            if (Files.isRegularFile(location) && location.toString().endsWith(".jar")) {
                return location;
            }
            throw new ServiceException("comfyctl runs from " + location + ", not from its jar; build it with"
                    + " 'mvn package' and install the service with ./comfyctl service install");
        } catch (URISyntaxException e) {
            throw new ServiceException("cannot locate comfyctl's jar: " + e.getMessage());
        }
    }
}
