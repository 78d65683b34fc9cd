package dev.comfyctl.install;

import dev.comfyctl.comfy.ComfyPython;
import dev.comfyctl.config.Config;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** The component installation as the configuration describes it: its source and the installer's options. */
public final class Components {
    /** The discovery API's last answer, in the state directory. */
    public static final String CACHE_FILE = "components.json";
    private static final Duration FIRST_BACKOFF = Duration.ofSeconds(1);

    private Components() {
    }

    /** COMPONENT_MANIFEST when set, else EMPROPS_API_URL with COMPONENTS and COLLECTIONS; empty when neither is. */
    public static Optional<ManifestSource> configuredSource(Config config) {
        if (config.componentManifest().isPresent()) {
            return Optional.of(new ManifestSource.File(config.componentManifest().get()));
        }
        return config.discoveryApiUrl().map(url -> api(config, url, config.componentWorkflows(), config.componentCollections()));
    }

    public static ManifestSource api(Config config, String url, List<String> workflows, List<String> collections) {
        return new ManifestSource.Api(url, workflows, collections, config.home().resolve(CACHE_FILE));
    }

    public static ComponentInstaller installer(Config config, boolean dryRun, InstallListener listener, Map<String, String> environment) {
        return new ComponentInstaller(new ComponentInstaller.Options(config.comfyDir(), config.modelsDir(),
                new ComfyPython(config.comfyDir(), config.python()), config.pipExtraArgs(), config.stopOnCustomNodeFailure(),
                config.modelDownloadConcurrency(), config.modelDownloadRetries(), FIRST_BACKOFF, dryRun), listener, environment);
    }
}
