package dev.comfyctl.install;

import dev.comfyctl.config.Config;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What an update needs to know of the configuration.
 *
 * @param python COMFYUI_PYTHON when set; otherwise the install's own virtual environment is looked for
 * @param environment what git and pip run with (the user's pip configuration comes with it)
 */
public record UpdateSettings(Path dir, Path home, Optional<Path> python, List<String> pipArgs, Duration drainMax,
                             Map<String, String> environment) {
    public UpdateSettings {
        pipArgs = List.copyOf(pipArgs);
        environment = Map.copyOf(environment);
    }

    public static UpdateSettings from(Config config, Map<String, String> environment) {
        return new UpdateSettings(config.comfyDir(), config.home(), config.python(), config.pipExtraArgs(),
                config.restartDrainMax(), environment);
    }
}
